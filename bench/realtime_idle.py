#!/usr/bin/env python3
"""Idle WebSocket connections on one nodebase process: server RSS per connection and ping
latency while they are open.

Opens ``--connections`` WebSockets (each subscribed to its own custom channel, so each has
a subscription and a presence entry), measures the server's RSS before and after, then the
round trip of ``ping`` frames on a few of them.

Usage::

    python bench/realtime_idle.py [--connections 10000] [--server granian|uvicorn]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from bench.realtime import Nodebase, NodebaseUvicorn, tree  # noqa: E402


def rss(pid: int) -> int:
    return sum(p.memory_info().rss for p in tree(pid))


async def run(server: Nodebase, n: int) -> None:
    url = f"ws://127.0.0.1:{server.port}/api/realtime?token={server.token}"
    base = rss(server.pid())
    conns: list[ClientConnection] = []
    t0 = time.perf_counter()
    for i in range(n):
        c = await connect(url, compression=None, ping_interval=None, open_timeout=60)
        await c.send(f'{{"op":"subscribe","channel":"idle.{i}"}}')
        conns.append(c)
    for c in conns:
        await c.recv()
    opened = time.perf_counter() - t0
    await asyncio.sleep(2)
    after = rss(server.pid())
    lat = []
    for c in conns[:: max(1, n // 200)]:
        t = time.perf_counter()
        await c.send('{"op":"ping"}')
        await c.recv()
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    print(f"{server.name}: {n} idle connections opened in {opened:.1f} s; server RSS {base / 2**20:.0f} MB -> "
          f"{after / 2**20:.0f} MB = {(after - base) / n / 1024:.1f} KB per connection; ping p50 "
          f"{lat[len(lat) // 2]:.2f} ms, p99 {lat[int(len(lat) * 0.99) - 1]:.2f} ms ({len(lat)} pings)")
    for c in conns:
        await c.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=10_000)
    ap.add_argument("--server", default="granian", choices=["granian", "uvicorn"])
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.connections + 1000), hard))
    # opening 10,000 sockets takes longer than the default idle timeout of 60 s
    env = {"NODEBASE_REALTIME_RATE": "1000", "NODEBASE_REALTIME_IDLE_TIMEOUT": "900",
           "NODEBASE_REALTIME_PING_INTERVAL": "600"}
    server = Nodebase(env) if args.server == "granian" else NodebaseUvicorn(env)
    try:
        server.start()
        asyncio.run(run(server, args.connections))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
