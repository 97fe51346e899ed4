#!/usr/bin/env python3
"""Which Redis layout carries realtime publications: measured, not guessed.

A: one Lua script per publication — INCR seq, RPUSH to a capped list, PUBLISH — and pub/sub
   delivery (what nodebase.realtime.broker.redis does).
B: one Lua script — INCR seq, XADD with id ``<seq>-0`` and MAXLEN — and XREAD BLOCK delivery.

One publisher awaits each publication; one reader receives them; latency is publish-to-read.
Starts its own redis-server (tests/support/services.py) on a free port.

Usage::

    python bench/realtime_broker.py [--messages 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis.asyncio as aioredis  # noqa: E402
from tests.support.services import start_redis  # noqa: E402

from nodebase.realtime.broker.redis import PUBLISH_LUA  # noqa: E402

STREAM_LUA = """
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], seq .. '-0', 'p', ARGV[1])
return seq
"""
BODY = b"x" * 100


async def pubsub_run(url: str, n: int) -> tuple[float, list[int]]:
    r: Any = aioredis.from_url(url)
    sub: Any = aioredis.from_url(url)
    script = r.register_script(PUBLISH_LUA)
    ps = sub.pubsub()
    await ps.subscribe("nb:rt:bench")
    await ps.get_message(timeout=1)
    lat: list[int] = []

    async def reader() -> None:
        while len(lat) < n:
            m = await ps.get_message(ignore_subscribe_messages=True, timeout=5)
            if m and m["type"] == "message":
                sent = int(m["data"].split(b'"t":')[1].split(b",")[0])
                lat.append(time.perf_counter_ns() - sent)

    task = asyncio.create_task(reader())
    t0 = time.perf_counter()
    for _ in range(n):
        await script(keys=["nb:rt:seq:bench", "nb:rt:h:bench", "nb:rt:bench"],
                     args=[b'{"t":%d,"d":"%s","s":' % (time.perf_counter_ns(), BODY), b"}", 1000, 600000,
                           86400000])
    elapsed = time.perf_counter() - t0
    await task
    await r.delete("nb:rt:seq:bench", "nb:rt:h:bench")
    return elapsed, lat


async def stream_run(url: str, n: int) -> tuple[float, list[int]]:
    r: Any = aioredis.from_url(url)
    sub: Any = aioredis.from_url(url)
    script = r.register_script(STREAM_LUA)
    lat: list[int] = []

    async def reader() -> None:
        last = "0-0"
        while len(lat) < n:
            res = await sub.xread({"st:bench": last}, block=5000, count=500)
            for _, entries in res or []:
                for eid, fields in entries:
                    last = eid
                    lat.append(time.perf_counter_ns() - int(fields[b"p"].split(b",")[0]))

    task = asyncio.create_task(reader())
    await asyncio.sleep(0.05)
    t0 = time.perf_counter()
    for _ in range(n):
        await script(keys=["st:seq:bench", "st:bench"], args=[b"%d,%s" % (time.perf_counter_ns(), BODY), 1000])
    elapsed = time.perf_counter() - t0
    await task
    await r.delete("st:seq:bench", "st:bench")
    return elapsed, lat


def quantile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * q) - 1)] / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, start_redis(Path(tmp)) as server:
        for _ in range(args.rounds):
            for name, fn in (("A list + PUBLISH", pubsub_run), ("B XADD + XREAD BLOCK", stream_run)):
                elapsed, lat = asyncio.run(fn(server.url, args.messages))
                print(f"{name:22s} publish {args.messages / elapsed:7.0f}/s   "
                      f"delivery p50 {quantile(lat, 0.5):6.2f} ms   p99 {quantile(lat, 0.99):8.2f} ms", flush=True)


if __name__ == "__main__":
    main()
