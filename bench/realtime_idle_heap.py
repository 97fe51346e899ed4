#!/usr/bin/env python3
"""What an idle WebSocket connection holds, by allocation site (tracemalloc).

Starts nodebase under uvicorn + websockets-sansio (as ``bench/realtime_idle.py --server
uvicorn``) in a wrapper that starts tracemalloc on the first SIGUSR1 and dumps a snapshot on
each; opens ``--connections`` WebSockets, each subscribed to its own channel, between two
snapshots and prints the Python heap per connection, grouped by the innermost frame of
nodebase, websockets, uvicorn or starlette. The Python heap is most of the RSS a connection
costs (the rest: the kernel's socket buffers are not in the process's RSS, malloc slack).

Usage::

    python bench/realtime_idle_heap.py [--connections 1000] [--top 25]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import signal
import sys
import tempfile
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from websockets.asyncio.client import connect  # noqa: E402

from bench.realtime import NodebaseUvicorn  # noqa: E402

WRAPPER = """
import signal, sys, tracemalloc
n = [0]
def dump(*a):
    if not tracemalloc.is_tracing():
        tracemalloc.start(12)
    tracemalloc.take_snapshot().dump(f"{sys.argv[1]}.{n[0]}")
    n[0] += 1
signal.signal(signal.SIGUSR1, dump)
import uvicorn
uvicorn.run("nodebase.server:app_factory", factory=True, port=int(sys.argv[2]), loop="uvloop",
            http="httptools", ws="websockets-sansio", ws_per_message_deflate=False, log_level="warning")
"""
GROUPS = ("/nodebase/", "websockets", "uvicorn", "starlette")


class Traced(NodebaseUvicorn):
    def __init__(self, env: dict[str, str], snapshot: str) -> None:
        super().__init__(env)
        self.snapshot = snapshot

    def command(self) -> list[str]:
        """NodebaseUvicorn.start runs this wrapper instead of uvicorn's command line."""
        wrapper = self.node.data_dir / "traced_server.py"
        wrapper.write_text(WRAPPER)
        return [sys.executable, str(wrapper), self.snapshot, str(self.port)]


async def open_and_snapshot(server: Traced, n: int) -> None:
    url = f"ws://127.0.0.1:{server.port}/api/realtime?token={server.token}"

    async def opened(count: int, prefix: str) -> list:  # type: ignore[type-arg]
        conns = []
        for i in range(count):
            c = await connect(url, compression=None, ping_interval=None, open_timeout=60)
            await c.send(f'{{"op":"subscribe","channel":"{prefix}.{i}"}}')
            conns.append(c)
        for c in conns:
            await c.recv()
        return conns

    async def snapshot(k: int) -> None:
        os.kill(server.pid(), signal.SIGUSR1)
        path = Path(f"{server.snapshot}.{k}")
        for _ in range(600):
            if path.exists():
                await asyncio.sleep(0.5)
                return
            await asyncio.sleep(0.1)
        raise RuntimeError("no snapshot from the server")

    warm = await opened(20, "warm")  # first-use caches are not a connection's cost
    await snapshot(0)
    conns = await opened(n, "idle")
    await asyncio.sleep(1)
    await snapshot(1)
    for c in conns + warm:
        await c.close()


def report(snapshot: str, n: int, top: int) -> None:
    before = tracemalloc.Snapshot.load(snapshot + ".0")
    after = tracemalloc.Snapshot.load(snapshot + ".1")
    sites: collections.Counter[str] = collections.Counter()
    for stat in after.compare_to(before, "traceback"):
        key = "other"
        for frame in reversed(list(stat.traceback)):  # innermost first
            group = next((g for g in GROUPS if g in frame.filename), None)
            if group is not None:
                key = f"{group.strip('/')}: {frame.filename.split(group)[-1].lstrip('/')}:{frame.lineno}"
                break
        sites[key] += stat.size_diff
    by_group: collections.Counter[str] = collections.Counter()
    for key, size in sites.items():
        by_group[key.split(":")[0]] += size
    total = sum(sites.values())
    print(f"Python heap per idle connection: {total / n / 1024:.1f} KB ("
          + ", ".join(f"{g} {s / n / 1024:.1f} KB" for g, s in by_group.most_common()) + ")")
    for key, size in sites.most_common(top):
        print(f"{size / n:8.0f} B  {key}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    snapshot = str(Path(tempfile.mkdtemp(prefix="rt-heap-")) / "snap")
    env = {"NODEBASE_REALTIME_RATE": "1000", "NODEBASE_REALTIME_IDLE_TIMEOUT": "900",
           "NODEBASE_REALTIME_PING_INTERVAL": "600"}
    server = Traced(env, snapshot)
    try:
        server.start()
        asyncio.run(open_and_snapshot(server, args.connections))
    finally:
        server.stop()
    report(snapshot, args.connections, args.top)


if __name__ == "__main__":
    main()
