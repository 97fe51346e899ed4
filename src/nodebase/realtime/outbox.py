"""One consumer's bounded queue of outgoing items, and what happens when it fills.

``put`` never blocks and never grows past ``size``: when the queue is full an ephemeral item
(typing, join/leave) is dropped first — the new one if it is ephemeral, else the oldest queued
ephemeral one; when only durable items are queued the outbox is marked ``lagged`` and refuses
everything else. Its owner then disconnects the consumer with a "resume" code; the consumer
reconnects with the last seq it saw and loses nothing.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")


class Outbox(Generic[T]):
    __slots__ = ("size", "hard_cap", "_items", "_waiter", "lagged", "closed", "dropped")

    def __init__(self, size: int, hard_cap: int | None = None) -> None:
        self.size = size
        #: forced items (answers, a resume's missed events) may exceed ``size`` up to here
        self.hard_cap = hard_cap if hard_cap is not None else size * 2
        # a list and a bare future, made only while the consumer waits: an idle connection's
        # outbox costs a few hundred bytes (a deque block and an Event cost ~1.6 KB)
        self._items: list[tuple[T, bool]] = []
        self._waiter: asyncio.Future[None] | None = None
        self.lagged = False
        self.closed = False
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T, ephemeral: bool = False, *, force: bool = False) -> bool:
        """Queue ``item``; False when it was dropped (or the outbox is lagged/closed).

        ``force`` ignores the size (for a bounded batch such as a resume's missed events)."""
        if self.lagged or self.closed:
            return False
        items = self._items
        if force and len(items) >= self.hard_cap:  # a client that asks but never reads
            self.lagged = True
            self._wake()
            return False
        if len(items) >= self.size and not force:
            if ephemeral:
                self.dropped += 1
                return False
            for i, (_, eph) in enumerate(items):
                if eph:
                    del items[i]
                    self.dropped += 1
                    break
            else:
                self.lagged = True
                self._wake()
                return False
        items.append((item, ephemeral))
        if len(items) == 1:
            self._wake()
        return True

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        self.closed = True
        self._wake()

    async def take(self) -> list[T]:
        """Wait for items and return all queued (empty when closed or lagged with none)."""
        while not self._items:
            if self.closed or self.lagged:
                return []
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        out = [item for item, _ in self._items]
        self._items.clear()
        return out
