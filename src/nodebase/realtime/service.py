"""RealtimeService: channels, publish, subscribe, presence and history — the public interface
that the WebSocket/SSE transport and applications (the chat) use. Transport-free.

Consistency rules:

* Every channel has one ordered stream; ``publish`` returns the seq the broker assigned
  (increasing by one per channel, one source for every process). Ephemeral publications
  (``ephemeral=True``: typing, join/leave) take no seq, are not kept and are dropped first
  when a consumer falls behind.
* A subscription sees, in seq order and without duplicates: the kept publications after
  ``after_seq`` (if given), then everything published after it subscribed. ``recovered``
  says whether the missed ones were all still kept; ``seq`` is the channel's latest seq at
  the moment of subscribing.
* A publication with ``origin=X`` is not delivered to subscriptions opened with
  ``origin=X`` (no echo to the sending connection), on any process.
* ``data:<entity>`` and ``data:<entity>:<id>`` carry the Data module's committed changes;
  each event is checked for each subscriber against its read permission and row filter (and
  its ``where``) when it is delivered, not only when it subscribes.
* Presence entries belong to a ``client_id`` (one per connection) and carry a ``user``
  object; ``presence`` is the union over every process; a dead process's entries vanish
  within the presence TTL (25 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from nodebase.data.query.compiler import Sql, WhereCompiler
from nodebase.data.query.evaluate import NotEvaluable, row_matches
from nodebase.data.service import CREATE_AFTER, DELETE_AFTER, UPDATE_AFTER, DataService
from nodebase.kernel.caller import SYSTEM, Caller, Guard
from nodebase.kernel.errors import BadRequest, Forbidden, InvalidQuery, NodebaseError, NotFound
from nodebase.kernel.events import Event
from nodebase.realtime.broker.base import (
    Broker,
    History,
    PresenceEntry,
    PresenceStore,
    Publication,
    now_ms,
)
from nodebase.realtime.frames import CHANNEL_RE
from nodebase.realtime.hub import Accept, Hub, HubSubscription, Sink
from nodebase.realtime.outbox import Outbox

log = logging.getLogger("nodebase.realtime")

#: the public interface: applications import from here (the broker is the module's inside)
__all__ = ["Attached", "History", "PresenceEntry", "Publication", "RealtimeService", "Subscription",
           "SubscriptionLagged", "Unauthorized", "parse_channel"]

SUBSCRIBE = "realtime.subscribe"
PUBLISH = "realtime.publish"
DATA_EVENTS = {CREATE_AFTER: "created", UPDATE_AFTER: "updated", DELETE_AFTER: "deleted"}


class Unauthorized(Forbidden):
    """Denied to an anonymous caller: signing in may help (401 over HTTP)."""

    status = 401


class SubscriptionLagged(NodebaseError):
    """The subscriber fell too far behind; resubscribe with ``after_seq=last seen``."""

    status = 409


@dataclass(frozen=True)
class DataChannel:
    entity: str
    id: Any = None


def parse_channel(name: str) -> DataChannel | None:
    """``data:<entity>`` / ``data:<entity>:<id>`` → DataChannel; a custom channel → None."""
    if not isinstance(name, str) or not CHANNEL_RE.match(name):
        raise BadRequest("channel must be 1-128 characters of [A-Za-z0-9_.:-]", context={"channel": name})
    if not name.startswith("data:"):
        return None
    parts = name.split(":", 2)
    if len(parts) < 2 or not parts[1]:
        raise BadRequest('a data channel is "data:<entity>" or "data:<entity>:<id>"', context={"channel": name})
    return DataChannel(parts[1], parts[2] if len(parts) == 3 else None)


class Subscription:
    """A subscription for Python code: an async iterator of :class:`Publication` with a
    bounded queue (``queue_size``). Use as ``async with service.subscribe(...) as sub``.

    ``seq``/``recovered`` are set once it is open; iteration first yields the missed
    publications (when ``after_seq`` was given). When the queue overflows with durable
    publications iteration raises :class:`SubscriptionLagged` (resubscribe with
    ``after_seq=`` the last seq seen).
    """

    def __init__(self, service: RealtimeService, channel: str, queue_size: int,
                 on_event: Callable[[Publication], None] | None) -> None:
        self.service = service
        self.channel = channel
        self.seq = 0
        self.recovered = True
        self.outbox: Outbox[Publication] = Outbox(queue_size)
        self.on_event = on_event
        self._hub_sub: HubSubscription | None = None
        self._buffer: list[Publication] = []

    # -- Sink ----------------------------------------------------------------------------
    def push(self, sub: HubSubscription, pub: Publication) -> None:
        if self.on_event is not None:
            self.on_event(pub)
        else:
            self.outbox.put(pub, pub.ephemeral)

    # -- async iterator --------------------------------------------------------------------
    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Publication:
        if not self._buffer:
            if self.outbox.closed and not len(self.outbox):
                raise StopAsyncIteration
            self._buffer = await self.outbox.take()
            if not self._buffer:
                if self.outbox.lagged:
                    raise SubscriptionLagged(
                        f"subscription to {self.channel} fell behind; resubscribe with after_seq",
                        context={"channel": self.channel})
                raise StopAsyncIteration
        return self._buffer.pop(0)

    async def close(self) -> None:
        self.outbox.close()
        if self._hub_sub is not None:
            sub, self._hub_sub = self._hub_sub, None
            await self.service.detach(sub)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


@dataclass(frozen=True)
class Attached:
    """What :meth:`RealtimeService.attach` answers (the ``subscribed`` frame's fields)."""

    sub: HubSubscription
    seq: int
    recovered: bool


class RealtimeService:
    def __init__(self, broker: Broker, presence: PresenceStore, data: DataService, guard: Guard,
                 dialect: str, *, queue_size: int = 1000) -> None:
        self.broker = broker
        self.presence_store = presence
        self.data = data
        self.guard = guard
        self.dialect = dialect
        self.queue_size = queue_size
        self.hub = Hub()
        self.node_id = str(uuid.uuid4())
        #: one lock per channel while anyone uses it (subscribe/unsubscribe of the broker)
        self._channel_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        #: system entities whose changes are not published on data channels (see :meth:`silence`)
        self.silenced: set[str] = set()
        self.started = False

    def silence(self, entity: str) -> None:
        """Do not publish the Data module's changes of the system entity ``entity`` on
        ``data:<entity>`` channels: for an owner that publishes them on its own channels
        (the chat's messages). Subscribing to its data channels is then refused (403)."""
        if entity not in self.data.system_entities:
            raise ValueError(f"only a system entity can be silenced, not {entity!r}")
        self.silenced.add(entity)

    async def start(self) -> None:
        await self.broker.start(self.hub.dispatch)
        await self.presence_store.start()
        self.started = True

    async def stop(self) -> None:
        self.started = False
        await self.presence_store.stop()
        await self.broker.stop()

    # -- permissions ---------------------------------------------------------------------
    def _deny(self, caller: Caller, message: str, context: dict[str, Any], reason: str) -> Forbidden:
        cls = Unauthorized if caller.user is None and not caller.is_system else Forbidden
        return cls(message, context=context, extra={"description": reason})

    def check_subscribe(self, caller: Caller, channel: str, where: dict[str, Any] | None = None) -> None:
        """Raise 401/403/404/422 when ``caller`` may not subscribe ``channel`` with ``where``."""
        dc = parse_channel(channel)
        if dc is None:
            if where:
                raise InvalidQuery("where applies to data channels only", context={"channel": channel})
            decision = self.guard.check(caller, SUBSCRIBE, {"channel": channel})
            if not decision.allowed:
                raise self._deny(caller, f'Permission "{SUBSCRIBE}" not granted', {"channel": channel},
                                 decision.reason)
            return
        entity = self.data.schema.entities.get(dc.entity)
        if entity is None:
            raise NotFound(f'Entity "{dc.entity}" not found', context={"entity": dc.entity})
        if dc.entity in self.silenced:
            raise Forbidden(f'The changes of "{dc.entity}" are not published on data channels',
                            context={"entity": dc.entity, "channel": channel})
        ctx: dict[str, Any] = {"entity": dc.entity}
        if dc.id is not None:
            ctx["id"] = dc.id
        decision = self.guard.check(caller, "data.entity.read", ctx)
        if not decision.allowed:
            raise self._deny(caller, 'Permission "data.entity.read" not granted', {**ctx, "channel": channel},
                             decision.reason)
        for doc in (decision.filter, where):
            if doc:
                WhereCompiler(self.data.schema, Sql(self.data.db.dialect)).compile(entity, "t0", doc)
                if _mentions_relation(doc):
                    raise InvalidQuery("conditions on related entities are not supported in realtime feeds",
                                       context={"entity": dc.entity, "channel": channel})

    def check_publish(self, caller: Caller, channel: str) -> None:
        if parse_channel(channel) is not None:
            raise Forbidden("data channels carry the Data module's changes; they cannot be published to",
                            context={"channel": channel})
        decision = self.guard.check(caller, PUBLISH, {"channel": channel})
        if not decision.allowed:
            raise self._deny(caller, f'Permission "{PUBLISH}" not granted', {"channel": channel}, decision.reason)

    def _accept(self, caller: Caller, channel: str, where: dict[str, Any] | None) -> Accept | None:
        """The per-event check of a data subscription (None for custom channels)."""
        dc = parse_channel(channel)
        if dc is None:
            return None
        if caller.is_system and not where:
            return None
        guard, schema, dialect = self.guard, self.data.schema, self.dialect
        ctx: dict[str, Any] = {"entity": dc.entity}
        if dc.id is not None:
            ctx["id"] = dc.id

        def accept(pub: Publication) -> bool:
            if pub.ephemeral:
                return True
            entity = schema.entities.get(dc.entity)
            if entity is None or not isinstance(pub.data, dict):
                return False
            decision = guard.check(caller, "data.entity.read", {**ctx, "id": pub.data.get("id")})
            if not decision.allowed:
                return False
            try:
                return row_matches(entity, decision.filter, pub.data, dialect) and \
                    row_matches(entity, where, pub.data, dialect)
            except NotEvaluable:
                return False  # fail closed: the row alone cannot prove the caller may see it

        return accept

    # -- subscribe -------------------------------------------------------------------------
    def _lock(self, channel: str) -> asyncio.Lock:
        lock = self._channel_locks.get(channel)
        if lock is None:
            lock = self._channel_locks[channel] = asyncio.Lock()
        return lock

    async def attach(self, channel: str, sink: Sink, *, caller: Caller = SYSTEM,
                     where: dict[str, Any] | None = None, after_seq: int | None = None,
                     origin: str | None = None, context: Any = None,
                     on_ready: Callable[[Attached, list[Publication]], None] | None = None) -> Attached:
        """Low level (the transport's): subscribe ``sink`` to ``channel``.

        ``on_ready(attached, missed)`` runs before any live publication reaches the sink, so a
        transport can write the missed events and its ``subscribed`` answer first; without it
        the missed publications go to the sink.
        """
        self.check_subscribe(caller, channel, where)
        sub = HubSubscription(channel, sink, origin=origin, accept=self._accept(caller, channel, where),
                              context=context)
        dc = parse_channel(channel)
        try:
            if dc is not None and dc.id is not None:
                await self.broker.touch(channel)  # a per-row feed starts when first watched
            async with self._lock(channel):
                if self.hub.add(sub):
                    await self.broker.subscribe(channel)
            if after_seq is None:
                history = History([], await self.broker.last_seq(channel), True)
            else:
                history = await self.broker.history(channel, after_seq)
        except BaseException:
            await self.detach(sub)
            raise
        attached = Attached(sub, history.last_seq, history.recovered)
        missed = history.publications
        if on_ready is not None:
            # the transport writes the missed events itself (already filtered below)
            visible = [p for p in missed if sub.accept is None or sub.accept(p)]
            sub.last_seq = max([after_seq or 0, *[p.seq for p in missed]])
            on_ready(attached, visible)
            sub.go_live([], history.last_seq)
        else:
            sub.go_live(missed, history.last_seq)
        return attached

    async def detach(self, sub: HubSubscription) -> None:
        async with self._lock(sub.channel):
            if self.hub.remove(sub):
                try:
                    await self.broker.unsubscribe(sub.channel)
                except Exception as exc:
                    log.warning("realtime: unsubscribing %s from the broker failed (%s)", sub.channel, exc)

    async def subscribe(self, channel: str, *, caller: Caller = SYSTEM, where: dict[str, Any] | None = None,
                        after_seq: int | None = None, origin: str | None = None,
                        queue_size: int | None = None,
                        on_event: Callable[[Publication], None] | None = None) -> Subscription:
        """Subscribe Python code to ``channel``; see :class:`Subscription`.

        ``on_event`` (optional) is called synchronously with each publication instead of
        queueing it (it must not block). ``origin`` skips publications made with the same
        origin (the sending connection's own messages).
        """
        sub = Subscription(self, channel, queue_size or self.queue_size, on_event)
        attached = await self.attach(channel, sub, caller=caller, where=where, after_seq=after_seq,
                                     origin=origin)
        sub._hub_sub = attached.sub
        sub.seq, sub.recovered = attached.seq, attached.recovered
        return sub

    # -- publish / history -------------------------------------------------------------------
    async def publish(self, channel: str, data: Any, *, event: str = "message", caller: Caller = SYSTEM,
                      origin: str | None = None, ephemeral: bool = False) -> int:
        """Publish ``data`` on a custom channel; returns its seq (0 when ephemeral)."""
        self.check_publish(caller, channel)
        pub = await self.broker.publish(channel, event, data, origin=origin, ephemeral=ephemeral)
        return pub.seq

    async def history(self, channel: str, after_seq: int = 0, *, caller: Caller = SYSTEM) -> History:
        """Kept publications with seq > ``after_seq`` (filtered for ``caller`` on data channels)."""
        self.check_subscribe(caller, channel)
        history = await self.broker.history(channel, after_seq)
        accept = self._accept(caller, channel, None)
        if accept is None:
            return history
        return History([p for p in history.publications if accept(p)], history.last_seq, history.recovered)

    async def last_seq(self, channel: str) -> int:
        return await self.broker.last_seq(channel)

    # -- presence ------------------------------------------------------------------------
    async def join(self, channel: str, client_id: str, user: dict[str, Any]) -> PresenceEntry:
        """Mark ``client_id`` present with ``user``; subscribers get a ``join`` (not its own)."""
        entry = PresenceEntry(client_id, dict(user), now_ms())
        await self.presence_store.join(channel, entry)
        await self.broker.publish(channel, "join", {"user": entry.user}, origin=client_id, ephemeral=True)
        return entry

    async def leave(self, channel: str, client_id: str, user: dict[str, Any]) -> None:
        await self.presence_store.leave(channel, client_id)
        await self.broker.publish(channel, "leave", {"user": dict(user)}, origin=client_id, ephemeral=True)

    async def presence(self, channel: str) -> list[PresenceEntry]:
        """Who is on ``channel`` on every process (one entry per client, oldest first)."""
        return await self.presence_store.list(channel)

    # -- the Data module's changes ---------------------------------------------------------
    async def on_data_event(self, event: Event) -> None:
        kind = DATA_EVENTS.get(event.name)
        if kind is None or event.entity is None or event.entity in self.silenced \
                or not isinstance(event.payload, dict):
            return
        rows = event.payload.get("data")
        rows = [r for r in (rows if isinstance(rows, list) else [rows]) if isinstance(r, dict)]
        if not rows:
            return
        try:
            await self.broker.publish_many([(f"data:{event.entity}", kind, row) for row in rows])
            # per-row feeds: only the rows someone watches (or watched within the history TTL)
            await self.broker.publish_many([(f"data:{event.entity}:{row['id']}", kind, row) for row in rows
                                            if row.get("id") is not None], if_known=True)
        except Exception as exc:
            log.error("realtime: publishing %s of %s failed (%s)", kind, event.entity, exc)

    @contextlib.asynccontextmanager
    async def watching(self, channel: str, **kw: Any) -> AsyncIterator[Subscription]:
        """``async with service.watching("data:posts") as sub: async for pub in sub: ...``"""
        sub = await self.subscribe(channel, **kw)
        try:
            yield sub
        finally:
            await sub.close()


def _mentions_relation(doc: Any) -> bool:
    if isinstance(doc, list):
        return any(_mentions_relation(v) for v in doc)
    if not isinstance(doc, dict):
        return False
    for key, value in doc.items():
        if key in ("$or", "$and", "$not"):
            if _mentions_relation(value):
                return True
        elif "." in key:
            return True
    return False
