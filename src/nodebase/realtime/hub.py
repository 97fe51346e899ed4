"""This process's subscribers: channel → subscriptions, and the local fan-out.

The broker hands every publication of a subscribed channel to :meth:`Hub.dispatch`, once per
process. The hub offers it to each local subscription, which skips its own publications
(same ``origin``), applies its filter (permissions, ``where``) and puts it into its sink.
Nothing here awaits: one publication reaches every local subscriber in one pass, in order.

The first local subscription of a channel subscribes the broker, the last one unsubscribes
it (reference counted, cleaned up in ``finally`` by the service).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import Any, Protocol

from nodebase.realtime.broker.base import Publication

log = logging.getLogger("nodebase.realtime")

Accept = Callable[[Publication], bool]
_ids = itertools.count(1)


class Sink(Protocol):
    def push(self, sub: HubSubscription, pub: Publication) -> None: ...


class HubSubscription:
    __slots__ = ("id", "channel", "sink", "origin", "accept", "pending", "last_seq", "context")

    def __init__(self, channel: str, sink: Sink, *, origin: str | None = None,
                 accept: Accept | None = None, context: Any = None) -> None:
        self.id = next(_ids)
        self.channel = channel
        self.sink = sink
        self.origin = origin
        self.accept = accept
        #: publications that arrived while the missed ones were read (None once live)
        self.pending: list[Publication] | None = []
        #: the newest seq handed to the sink (durable publications are never sent twice)
        self.last_seq = 0
        self.context = context

    def offer(self, pub: Publication) -> None:
        if self.origin is not None and pub.origin == self.origin:
            return
        if self.pending is not None:
            self.pending.append(pub)
            return
        self.deliver(pub)

    def deliver(self, pub: Publication) -> None:
        if not pub.ephemeral:
            if pub.seq <= self.last_seq:
                return
            self.last_seq = pub.seq
        try:
            if self.accept is not None and not self.accept(pub):
                return
            self.sink.push(self, pub)
        except Exception:
            log.exception("delivering an event of %s failed; the event is not delivered", pub.channel)

    def go_live(self, missed: list[Publication], seq: int) -> None:
        """Deliver ``missed`` and whatever arrived meanwhile, then deliver directly."""
        for pub in missed:
            self.deliver(pub)
        self.last_seq = max(self.last_seq, seq)
        pending, self.pending = self.pending or [], None
        for pub in pending:
            self.deliver(pub)


class Hub:
    def __init__(self) -> None:
        self.channels: dict[str, dict[int, HubSubscription]] = {}

    def add(self, sub: HubSubscription) -> bool:
        """Register; True when it is the channel's first local subscription."""
        subs = self.channels.get(sub.channel)
        first = subs is None
        if subs is None:
            subs = self.channels[sub.channel] = {}
        subs[sub.id] = sub
        return first

    def remove(self, sub: HubSubscription) -> bool:
        """Unregister; True when it was the channel's last local subscription."""
        subs = self.channels.get(sub.channel)
        if subs is None or subs.pop(sub.id, None) is None:
            return False
        if not subs:
            del self.channels[sub.channel]
            return True
        return False

    def dispatch(self, pub: Publication) -> None:
        subs = self.channels.get(pub.channel)
        if not subs:
            return
        for sub in list(subs.values()):
            sub.offer(pub)
        # the queued frames live on in the outboxes; the history keeps only the publication
        pub.frames.clear()

    def count(self, channel: str) -> int:
        return len(self.channels.get(channel, ()))
