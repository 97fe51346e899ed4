"""The bounded outbox: ephemeral items are dropped first, then it lags; forced items (answers,
a resume's missed events) pass the size but not the hard cap."""

from __future__ import annotations

import asyncio

from nodebase.realtime.outbox import Outbox


def test_drop_order_and_lag() -> None:
    box: Outbox[str] = Outbox(3)
    assert box.put("d1") and box.put("e1", True) and box.put("d2")
    assert box.put("d3")  # full: e1 is dropped for it
    assert not box.put("e2", True)  # full of durable items: the new ephemeral one is dropped
    assert box.dropped == 2 and not box.lagged
    assert not box.put("d4")  # nothing ephemeral left to drop: lagged
    assert box.lagged and not box.put("d5", force=True)
    assert asyncio.run(box.take()) == ["d1", "d2", "d3"]
    assert asyncio.run(box.take()) == []


def test_forced_items_pass_the_size_up_to_the_hard_cap() -> None:
    box: Outbox[int] = Outbox(2, hard_cap=4)
    assert all(box.put(i, force=True) for i in range(4))
    assert not box.lagged
    assert not box.put(4, force=True) and box.lagged


def test_take_waits_for_items_and_ends_when_closed() -> None:
    async def go() -> None:
        box: Outbox[int] = Outbox(10)
        waiter = asyncio.create_task(box.take())
        await asyncio.sleep(0)
        assert not waiter.done()
        box.put(1)
        assert await waiter == [1]
        closing = asyncio.create_task(box.take())
        await asyncio.sleep(0)
        box.close()
        assert await closing == []

    asyncio.run(go())
