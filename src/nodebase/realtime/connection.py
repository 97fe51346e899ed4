"""One client connection (WebSocket or SSE): its caller, subscriptions, presence, bounded
outbound queue and flood limit. Frames are encoded once per publication (``frames.ws_frame``
/ ``frames.sse_frame``) and the same object is queued for every connection.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nodebase.kernel import metrics
from nodebase.kernel.caller import Caller
from nodebase.kernel.errors import BadRequest, Forbidden, InvalidQuery, NodebaseError, NotFound
from nodebase.realtime import frames as f
from nodebase.realtime.broker.base import Publication
from nodebase.realtime.hub import HubSubscription
from nodebase.realtime.outbox import Outbox
from nodebase.realtime.service import Attached, RealtimeService, Unauthorized, parse_channel

log = logging.getLogger("nodebase.realtime")


@dataclass(frozen=True)
class Limits:
    queue_size: int = 1000
    max_subscriptions: int = 100
    max_frame: int = 64 * 1024 + 1024
    #: frames per second a client may send (bursts up to twice that)
    rate: int = 100
    ping_interval: float = 25.0
    idle_timeout: float = 60.0
    #: a resume may queue this many missed events on top of the queue
    history_size: int = 1000


def error_code(exc: Exception) -> str:
    if isinstance(exc, Unauthorized):
        return f.UNAUTHORIZED
    if isinstance(exc, Forbidden):
        return f.FORBIDDEN
    if isinstance(exc, NotFound):
        return f.NOT_FOUND
    if isinstance(exc, InvalidQuery):
        return f.INVALID_QUERY
    if isinstance(exc, BadRequest):
        return f.BAD_REQUEST
    if isinstance(exc, NodebaseError) and exc.status == 429:
        return f.RATE_LIMITED
    return f.BAD_REQUEST


def presence_user(caller: Caller) -> dict[str, Any]:
    user: dict[str, Any] = {"user_id": caller.id}
    if caller.user and caller.user.get("username"):
        user["username"] = caller.user["username"]
    return user


class TokenBucket:
    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: int) -> None:
        self.rate = float(rate)
        self.burst = float(max(1, rate * 2))
        self.tokens = self.burst
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Connection:
    """Transport-independent state of one client; ``encode`` turns a publication into the
    transport's frame (``str`` for WebSocket, ``bytes`` for SSE)."""

    __slots__ = ("service", "caller", "limits", "encode", "id", "outbox", "subs", "present", "bucket",
                 "last_seen", "_limited_notice", "close_code", "pinged", "_counted", "__weakref__")

    def __init__(self, service: RealtimeService, caller: Caller, limits: Limits,
                 encode: Callable[[Publication], Any]) -> None:
        self.service = service
        self.caller = caller
        self.limits = limits
        self.encode = encode
        self.id = uuid.uuid4().hex
        self.outbox: Outbox[Any] = Outbox(limits.queue_size, limits.queue_size + limits.history_size + 100)
        self.subs: dict[str, HubSubscription] = {}
        self.present: set[str] = set()
        self.bucket = TokenBucket(limits.rate)
        self.last_seen = time.monotonic()
        self._limited_notice = 0.0
        #: the WebSocket close code once the server decided to close (idle, shutdown)
        self.close_code: int | None = None
        self.pinged = False
        self._counted = True
        metrics.REALTIME_CONNECTIONS.inc()

    # -- Sink ----------------------------------------------------------------------------
    def push(self, sub: HubSubscription, pub: Publication) -> None:
        self.outbox.put(self.encode(pub), pub.ephemeral)
        metrics.REALTIME_DELIVERIES.inc()

    def send(self, frame: Any) -> None:
        """An answer to this client (never dropped for an ephemeral one)."""
        self.outbox.put(frame, force=True)

    # -- use cases -----------------------------------------------------------------------
    async def subscribe(self, channel: str, *, where: dict[str, Any] | None = None,
                        after_seq: int | None = None,
                        on_ready: Callable[[Attached, list[Publication]], None]) -> Attached:
        previous = self.subs.get(channel)
        if previous is None and len(self.subs) >= self.limits.max_subscriptions:
            raise f.FrameError(f.TOO_MANY_SUBSCRIPTIONS,
                               f"at most {self.limits.max_subscriptions} subscriptions per connection")
        if previous is not None:  # a new subscription replaces the old one (presence stays)
            del self.subs[channel]
            await self.service.detach(previous)
        try:
            if parse_channel(channel) is None and channel not in self.present:
                # present and announced before ``subscribed`` is answered: a client that has
                # its answer is in every process's presence list, and a client subscribing
                # after it never hears its join (it was published before it subscribed)
                self.service.check_subscribe(self.caller, channel, where)
                self.present.add(channel)
                await self.service.join(channel, self.id, presence_user(self.caller))
            attached = await self.service.attach(channel, self, caller=self.caller, where=where,
                                                 after_seq=after_seq, origin=self.id, on_ready=on_ready)
        except BaseException:
            if channel in self.present:
                self.present.discard(channel)
                await self.service.leave(channel, self.id, presence_user(self.caller))
            raise
        self.subs[channel] = attached.sub
        return attached

    async def unsubscribe(self, channel: str) -> bool:
        sub = self.subs.pop(channel, None)
        if sub is None:
            return False
        await self.service.detach(sub)
        if channel in self.present:
            self.present.discard(channel)
            await self.service.leave(channel, self.id, presence_user(self.caller))
        return True

    async def close(self) -> None:
        self.outbox.close()
        if self._counted:
            self._counted = False
            metrics.REALTIME_CONNECTIONS.dec()
        for channel in list(self.subs):
            try:
                await self.unsubscribe(channel)
            except Exception as exc:  # the broker may be down: presence then expires by itself
                log.warning("realtime: cleaning up %s failed (%s)", channel, exc)

    def rate_ok(self) -> bool:
        if self.bucket.take():
            return True
        now = time.monotonic()
        if now - self._limited_notice >= 1.0:  # one notice a second, not one per frame
            self._limited_notice = now
            self.send(f.error(f.RATE_LIMITED, f"more than {self.limits.rate} frames per second; "
                              "frames are being dropped"))
        return False
