"""A consumer that stops reading: its queue stays bounded, it is disconnected with the
"resume" close code (4000), the server's memory stays flat and the other subscribers get
every event. It then resumes from the last seq it saw and misses nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psutil
import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import admin_headers
from tests.nodeserver import NodeServer
from tests.realtime.helpers import ws

MESSAGES = 600
PAYLOAD = "x" * 40_000  # 600 x 40 KB = 24 MB offered to each subscriber; 4 MB kept


def tree_rss(pid: int) -> int:
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])


def test_slow_consumer_is_cut_off_and_memory_stays_bounded(tmp_path: Path) -> None:
    # the publisher sends as fast as its acks come back: on a quiet machine that is more than
    # the default flood limit (tested in test_protocol.py), which is not what this test is about
    node = NodeServer(tmp_path, env={"NODEBASE_REALTIME_QUEUE_SIZE": "50",
                                     "NODEBASE_REALTIME_HISTORY_SIZE": "100",
                                     "NODEBASE_REALTIME_RATE": "100000"}).start()
    token = admin_headers(node)["Authorization"].split()[1]
    assert node.proc is not None
    pid = node.proc.pid

    async def go() -> None:
        # the slow client's library reads at most one frame ahead, then TCP fills up
        async with ws(node, token, max_queue=1, max_size=None) as slow, ws(node, token, max_size=None) as fast, \
                ws(node, token) as pub:
            await slow.subscribe("room.flood")
            await fast.subscribe("room.flood")
            await pub.subscribe("room.other")
            base = tree_rss(pid)
            peak = base
            received: list[int] = []

            async def read_fast() -> None:
                while len(received) < MESSAGES:
                    doc = await fast.recv()
                    if doc["op"] == "event":
                        received.append(doc["seq"])

            reader = asyncio.create_task(read_fast())
            for _ in range(MESSAGES):
                await pub.send(op="publish", channel="room.flood", data=PAYLOAD)
                await pub.expect("published")
                peak = max(peak, tree_rss(pid))
            await reader
            assert received == list(range(1, MESSAGES + 1))
            # the slow one: what it had buffered, then the close code telling it to resume
            last = 0
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    doc = await slow.recv()
                    if doc["op"] == "event":
                        assert doc["seq"] == last + 1
                        last = doc["seq"]
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000
            assert 0 < last < MESSAGES
            growth = peak - base
            assert growth < 20 * 2**20, f"server RSS grew by {growth / 2**20:.1f} MB"
            # resuming gets what is still kept (the last 100), and says whether that is all
            async with ws(node, token, max_size=None) as again:
                await again.send(op="subscribe", channel="room.flood", after_seq=last)
                first = max(last + 1, MESSAGES - 99)
                seqs = [(await again.expect("event"))["seq"] for _ in range(MESSAGES + 1 - first)]
                assert seqs == list(range(first, MESSAGES + 1))
                assert (await again.expect("subscribed"))["recovered"] is (first == last + 1)
            print(f"slow consumer cut at seq {last}; server RSS growth {growth / 2**20:.1f} MB")

    try:
        asyncio.run(go())
    finally:
        node.stop()
    assert not node.server_errors()
