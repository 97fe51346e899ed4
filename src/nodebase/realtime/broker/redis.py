"""The Redis broker: every process and host sees one ordered stream per channel.

One Lua script per publication, atomic in Redis: ``INCR`` the channel's seq, append the
publication to a capped list (its history), refresh the list's expiry and ``PUBLISH`` it.
Because Redis runs the script alone, seq order, history order and delivery order agree on
every node (chosen over Redis Streams by measurement: see docs/realtime.md, "Scaling out").

Keys (``{ch}`` is the channel name): ``nb:rt:seq:{ch}`` the counter (kept a day after the
last publication or subscription; per-row feeds are published only while it exists), ``nb:rt:h:{ch}`` the history list, pub/sub channel ``nb:rt:{ch}``,
``nb:rt:p:{ch}`` the presence hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson

from nodebase.realtime.broker.base import (
    BrokerSettings,
    Handler,
    History,
    PresenceEntry,
    Publication,
    now_ms,
)
from nodebase.realtime.broker.memory import _history

log = logging.getLogger("nodebase.realtime")

SEQ, HIST, CHAN, PRES = "nb:rt:seq:", "nb:rt:h:", "nb:rt:", "nb:rt:p:"
SEQ_TTL_MS = 24 * 3600 * 1000

PUBLISH_LUA = """
if ARGV[6] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local seq = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
local payload = ARGV[1] .. seq .. ARGV[2]
redis.call('RPUSH', KEYS[2], payload)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PUBLISH', KEYS[3], payload)
return seq
"""


def _split_payload(pub: Publication) -> tuple[bytes, bytes]:
    """The publication's JSON with the seq left out: prefix + seq + suffix is the whole."""
    body = orjson.dumps({"c": pub.channel, "e": pub.event, "d": pub.data, "a": pub.at,
                         "o": pub.origin, "x": False})
    return body[:-1] + b',"s":', b"}"


class RedisBroker:
    def __init__(self, url: str, settings: BrokerSettings) -> None:
        import redis.asyncio as aioredis

        self.url = url
        self.settings = settings
        self.redis: Any = aioredis.from_url(url, socket_connect_timeout=5)
        self._script: Any = self.redis.register_script(PUBLISH_LUA)
        self._pubsub: Any = None
        self._channels: set[str] = set()
        self._handler: Handler | None = None
        self._reader: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        #: SUBSCRIBE sent, confirmation not yet read: history read before it could miss events
        self._confirm: dict[str, asyncio.Future[None]] = {}

    async def start(self, handler: Handler) -> None:
        self._handler = handler
        try:  # an unreachable Redis must not keep the node (or a CLI command) from starting
            await self.redis.ping()
        except Exception as exc:
            log.warning("realtime: Redis at the broker URL is unreachable (%s); "
                        "fan-out across processes resumes when it answers", exc)
        self._pubsub = self.redis.pubsub()
        self._reader = asyncio.create_task(self._read(), name="realtime-redis-reader")

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    async def _read(self) -> None:
        while True:
            try:
                if not self._channels:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                msg = await self._pubsub.get_message(timeout=1.0)
                if msg is None:
                    continue
                if msg.get("type") == "subscribe":
                    name = msg["channel"].decode()[len(CHAN):]
                    fut = self._confirm.pop(name, None)
                    if fut is not None and not fut.done():
                        fut.set_result(None)
                    continue
                if msg.get("type") != "message":
                    continue
                pub = Publication.from_json(msg["data"])
                if self._handler is not None:
                    self._handler(pub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection lost: resubscribe after a pause
                log.warning("realtime: Redis subscription failed (%s); reconnecting", exc)
                await asyncio.sleep(1.0)
                with contextlib.suppress(Exception):
                    await self._pubsub.aclose()
                    self._pubsub = self.redis.pubsub()
                    if self._channels:
                        await self._pubsub.subscribe(*(CHAN + c for c in self._channels))

    async def publish(self, channel: str, event: str, data: Any, *, origin: str | None = None,
                      ephemeral: bool = False) -> Publication:
        pub = Publication(channel, 0, event, data, now_ms(), origin, ephemeral)
        if ephemeral:
            await self.redis.publish(CHAN + channel, pub.to_json())
            return pub
        prefix, suffix = _split_payload(pub)
        seq = int(await self._script(
            keys=[SEQ + channel, HIST + channel, CHAN + channel],
            args=[prefix, suffix, self.settings.history_size,
                  int(self.settings.history_ttl * 1000), SEQ_TTL_MS, "0"],
        ))
        return Publication(channel, seq, event, data, pub.at, origin, False)

    async def publish_many(self, items: list[tuple[str, str, Any]], *, if_known: bool = False) -> list[Publication]:
        if len(items) == 1 and not if_known:
            return [await self.publish(*items[0])]
        pubs = [Publication(channel, 0, event, data, now_ms()) for channel, event, data in items]
        pipe = self.redis.pipeline(transaction=False)
        for pub in pubs:
            prefix, suffix = _split_payload(pub)
            await self._script(keys=[SEQ + pub.channel, HIST + pub.channel, CHAN + pub.channel],
                               args=[prefix, suffix, self.settings.history_size,
                                     int(self.settings.history_ttl * 1000), SEQ_TTL_MS, "1" if if_known else "0"],
                               client=pipe)
        seqs = await pipe.execute()
        return [Publication(p.channel, int(seq), p.event, p.data, p.at)
                for p, seq in zip(pubs, seqs, strict=True) if int(seq)]

    async def touch(self, channel: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(SEQ + channel, 0, nx=True, px=SEQ_TTL_MS)
        pipe.pexpire(SEQ + channel, SEQ_TTL_MS)
        await pipe.execute()

    async def subscribe(self, channel: str) -> None:
        if channel in self._channels:
            pending = self._confirm.get(channel)
            if pending is not None:
                await asyncio.wait_for(asyncio.shield(pending), 10)
            return
        self._channels.add(channel)
        fut = self._confirm[channel] = asyncio.get_running_loop().create_future()
        await self._pubsub.subscribe(CHAN + channel)
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(fut), 10)
        except TimeoutError:
            self._confirm.pop(channel, None)
            raise

    async def unsubscribe(self, channel: str) -> None:
        if channel in self._channels:
            self._channels.discard(channel)
            await self._pubsub.unsubscribe(CHAN + channel)

    async def last_seq(self, channel: str) -> int:
        return int(await self.redis.get(SEQ + channel) or 0)

    async def history(self, channel: str, after_seq: int) -> History:
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(SEQ + channel)
        pipe.lrange(HIST + channel, 0, -1)
        last, raw = await pipe.execute()
        cutoff = now_ms() - int(self.settings.history_ttl * 1000)
        kept = [p for p in (Publication.from_json(r) for r in raw) if p.at >= cutoff]
        return _history(kept, int(last or 0), after_seq)


class RedisPresence:
    """A hash per channel; each value carries its expiry, refreshed by its node."""

    def __init__(self, broker: RedisBroker, settings: BrokerSettings, node_id: str) -> None:
        self.redis = broker.redis
        self.ttl_ms = int(settings.presence_ttl * 1000)
        self.node_id = node_id
        self._local: dict[tuple[str, str], PresenceEntry] = {}
        self._refresher: asyncio.Task[None] | None = None

    def _value(self, entry: PresenceEntry) -> bytes:
        return orjson.dumps({"u": entry.user, "s": entry.since, "n": self.node_id,
                             "x": now_ms() + self.ttl_ms})

    async def start(self) -> None:
        self._refresher = asyncio.create_task(self._refresh(), name="realtime-presence-refresh")

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        if self._local:
            with contextlib.suppress(Exception):
                pipe = self.redis.pipeline(transaction=False)
                for channel, client_id in self._local:
                    pipe.hdel(PRES + channel, client_id)
                await pipe.execute()
        self._local.clear()

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_ms / 3000)
            if not self._local:
                continue
            try:
                pipe = self.redis.pipeline(transaction=False)
                for (channel, client_id), entry in list(self._local.items()):
                    pipe.hset(PRES + channel, client_id, self._value(entry))
                    pipe.pexpire(PRES + channel, self.ttl_ms * 2)
                await pipe.execute()
            except Exception as exc:
                log.warning("realtime: refreshing presence in Redis failed (%s)", exc)

    async def join(self, channel: str, entry: PresenceEntry) -> None:
        self._local[(channel, entry.client_id)] = entry
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(PRES + channel, entry.client_id, self._value(entry))
        pipe.pexpire(PRES + channel, self.ttl_ms * 2)
        await pipe.execute()

    async def leave(self, channel: str, client_id: str) -> None:
        self._local.pop((channel, client_id), None)
        await self.redis.hdel(PRES + channel, client_id)

    async def list(self, channel: str) -> list[PresenceEntry]:
        raw = await self.redis.hgetall(PRES + channel)
        now = now_ms()
        out: list[PresenceEntry] = []
        stale: list[bytes] = []
        for key, value in raw.items():
            v = orjson.loads(value)
            if v["x"] < now:
                stale.append(key)
                continue
            out.append(PresenceEntry(key.decode(), v["u"], v["s"]))
        if stale:
            await self.redis.hdel(PRES + channel, *stale)
        return sorted(out, key=lambda e: (e.since, e.client_id))
