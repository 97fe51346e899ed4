"""What carries realtime publications between processes: the broker and presence interfaces.

A :class:`Broker` gives every channel one ordered stream. ``publish`` assigns the channel's
next ``seq`` (one source for every process: the seq is taken and the publication stored and
sent in one atomic step), keeps recent publications for resume (bounded by count and age)
and hands every publication of a subscribed channel, from any process, to the one handler
given to :meth:`Broker.start`, in seq order. Ephemeral publications (typing, join/leave)
take no seq and are not kept.

A :class:`PresenceStore` keeps who is on a channel. Every entry belongs to a node and
expires unless that node refreshes it, so a dead node's entries vanish within the TTL.

Knows nothing of sockets, frames or permissions (the hub and the service do).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson


@dataclass(frozen=True, slots=True)
class Publication:
    channel: str
    #: the channel's sequence number; 0 for ephemeral publications
    seq: int
    #: created | updated | deleted | message | typing | join | leave | any name
    event: str
    data: Any
    #: Unix milliseconds when it was published
    at: int
    #: the publishing connection's id: subscribers with the same origin skip it
    origin: str | None = None
    ephemeral: bool = False
    #: frames encoded once for every subscriber, by transport (filled lazily)
    frames: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def to_json(self) -> bytes:
        return orjson.dumps({"c": self.channel, "s": self.seq, "e": self.event, "d": self.data,
                             "a": self.at, "o": self.origin, "x": self.ephemeral})

    @classmethod
    def from_json(cls, raw: bytes | str) -> Publication:
        d = orjson.loads(raw)
        return cls(d["c"], d["s"], d["e"], d["d"], d["a"], d.get("o"), bool(d.get("x")))


@dataclass(frozen=True, slots=True)
class History:
    """What a channel kept after a position."""

    publications: list[Publication]
    #: the channel's latest seq when the history was read
    last_seq: int
    #: True when every publication after the position was still kept
    recovered: bool


Handler = Callable[[Publication], None]


class Broker(Protocol):
    async def start(self, handler: Handler) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, channel: str, event: str, data: Any, *, origin: str | None = None,
                      ephemeral: bool = False) -> Publication:
        """Assign the next seq (unless ephemeral), keep it, deliver it; return it."""
        ...

    async def publish_many(self, items: list[tuple[str, str, Any]], *, if_known: bool = False) -> list[Publication]:
        """Publish ``(channel, event, data)`` items in order (one round trip for Redis).

        ``if_known``: skip channels that nobody touched (:meth:`touch`) or published to within
        the history TTL — per-row feeds exist only while someone watches them."""
        ...

    async def touch(self, channel: str) -> None:
        """Make ``channel`` known (its stream starts now if it had none)."""
        ...

    async def subscribe(self, channel: str) -> None:
        """Start receiving ``channel``'s publications (the hub counts local subscribers)."""
        ...

    async def unsubscribe(self, channel: str) -> None: ...

    async def last_seq(self, channel: str) -> int: ...

    async def history(self, channel: str, after_seq: int) -> History:
        """Publications with seq > ``after_seq`` still kept, oldest first."""
        ...


@dataclass(frozen=True, slots=True)
class PresenceEntry:
    #: the connection (or any unique handle) that is present
    client_id: str
    user: dict[str, Any]
    #: Unix milliseconds of the join
    since: int


class PresenceStore(Protocol):
    async def join(self, channel: str, entry: PresenceEntry) -> None: ...

    async def leave(self, channel: str, client_id: str) -> None: ...

    async def list(self, channel: str) -> list[PresenceEntry]:
        """Every live entry of every node, oldest first."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class BrokerSettings:
    history_size: int = 1000
    history_ttl: float = 600.0
    #: a node's presence entries vanish this long after it stops refreshing them
    presence_ttl: float = 25.0


def now_ms() -> int:
    import time

    return time.time_ns() // 1_000_000
