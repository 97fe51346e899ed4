"""The in-process broker: one node, no Redis.

Each channel keeps its seq counter and a deque of recent publications (count-bounded; older
than the TTL are dropped on access). Channels without history or subscribers are forgotten
after the TTL, so a feed per row (``data:posts:17``) does not grow memory forever; their seq
then starts again at 1 and a client resuming from an older seq gets ``recovered: false``.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from typing import Any

from nodebase.realtime.broker.base import (
    BrokerSettings,
    Handler,
    History,
    PresenceEntry,
    Publication,
    now_ms,
)

MAX_IDLE_CHANNELS = 10_000


class _Channel:
    __slots__ = ("seq", "kept", "touched")

    def __init__(self, size: int) -> None:
        self.seq = 0
        self.kept: deque[Publication] = deque(maxlen=size)
        self.touched = time.monotonic()


class MemoryBroker:
    def __init__(self, settings: BrokerSettings) -> None:
        self.settings = settings
        self._channels: OrderedDict[str, _Channel] = OrderedDict()
        self._subscribed: set[str] = set()
        self._handler: Handler | None = None

    async def start(self, handler: Handler) -> None:
        self._handler = handler

    async def stop(self) -> None:
        self._handler = None

    def _channel(self, name: str) -> _Channel:
        ch = self._channels.get(name)
        if ch is None:
            ch = self._channels[name] = _Channel(self.settings.history_size)
            self._forget_idle()
        else:
            self._channels.move_to_end(name)
        ch.touched = time.monotonic()
        return ch

    def _forget_idle(self) -> None:
        """Drop least recently used channels idle for longer than the TTL (or too many)."""
        limit = time.monotonic() - self.settings.history_ttl
        while self._channels:
            name, ch = next(iter(self._channels.items()))
            if name in self._subscribed or (ch.touched > limit and len(self._channels) <= MAX_IDLE_CHANNELS):
                break
            del self._channels[name]

    def _prune(self, ch: _Channel) -> None:
        cutoff = now_ms() - int(self.settings.history_ttl * 1000)
        while ch.kept and ch.kept[0].at < cutoff:
            ch.kept.popleft()

    async def publish(self, channel: str, event: str, data: Any, *, origin: str | None = None,
                      ephemeral: bool = False) -> Publication:
        if ephemeral:
            pub = Publication(channel, 0, event, data, now_ms(), origin, True)
        else:
            ch = self._channel(channel)
            ch.seq += 1
            pub = Publication(channel, ch.seq, event, data, now_ms(), origin, False)
            ch.kept.append(pub)
        if self._handler is not None and channel in self._subscribed:
            self._handler(pub)
        return pub

    async def publish_many(self, items: list[tuple[str, str, Any]], *, if_known: bool = False) -> list[Publication]:
        out = []
        for channel, event, data in items:
            if if_known and channel not in self._channels:
                continue
            out.append(await self.publish(channel, event, data))
        return out

    async def touch(self, channel: str) -> None:
        self._channel(channel)

    async def subscribe(self, channel: str) -> None:
        self._subscribed.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._subscribed.discard(channel)

    async def last_seq(self, channel: str) -> int:
        ch = self._channels.get(channel)
        return ch.seq if ch else 0

    async def history(self, channel: str, after_seq: int) -> History:
        ch = self._channels.get(channel)
        if ch is None:
            return History([], 0, after_seq == 0)
        self._prune(ch)
        return _history(list(ch.kept), ch.seq, after_seq)


def _history(kept: list[Publication], last_seq: int, after_seq: int) -> History:
    """Shared by the backends: what is missed after ``after_seq`` and whether it is complete."""
    if after_seq > last_seq:
        return History([], last_seq, False)  # the stream was lost (restart, expiry)
    missed = [p for p in kept if p.seq > after_seq]
    complete = after_seq == last_seq or (bool(missed) and missed[0].seq == after_seq + 1)
    return History(missed, last_seq, complete)


class MemoryPresence:
    def __init__(self) -> None:
        self._channels: dict[str, dict[str, PresenceEntry]] = {}

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self._channels.clear()

    async def join(self, channel: str, entry: PresenceEntry) -> None:
        self._channels.setdefault(channel, {})[entry.client_id] = entry

    async def leave(self, channel: str, client_id: str) -> None:
        entries = self._channels.get(channel)
        if entries is not None:
            entries.pop(client_id, None)
            if not entries:
                del self._channels[channel]

    async def list(self, channel: str) -> list[PresenceEntry]:
        return sorted(self._channels.get(channel, {}).values(), key=lambda e: (e.since, e.client_id))
