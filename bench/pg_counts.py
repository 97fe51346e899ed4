#!/usr/bin/env python3
"""Ways to keep list totals exact and cheap on PostgreSQL, measured without HTTP.

One process, nodebase's asyncpg pool (16), 32 concurrent tasks, a ``posts`` table of 10,000 rows:

* ``count every list``: the page, then ``COUNT(*)`` (two statements; nodebase before).
* ``page + count, one statement``: both as one statement (still counting every time).
* ``version in the statement, cached``: what nodebase does: the page and the table's change
  version (``__nodebase_changes``, bumped by a trigger) in one statement, the count cached.
* ``Redis generation + page, cached``: a ``GET`` of a generation key in Redis, then the page.
* writes: ``INSERT`` with and without the change trigger.
* LISTEN/NOTIFY: how long after a writer's commit is acknowledged the notification reaches
  another connection: the window in which a cache invalidated that way serves a stale count.

Usage: ``python bench/pg_counts.py postgresql://... redis://...`` (an empty database is best;
the script creates and drops its own tables).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from nodebase.kernel.database.postgres import PostgresDatabase

CONCURRENCY, SECONDS = 32, 4.0
PAGE = 'SELECT id, title, body, views FROM "bposts" ORDER BY id LIMIT 50'
COUNT = 'SELECT count(*) FROM "bposts"'
VERSION = 'SELECT coalesce(sum(n), 0)::bigint FROM "__nodebase_changes" WHERE entity = ANY($1::text[])'
COMBINED = (f'WITH "$v"(n) AS ({VERSION}) SELECT p.*, "$v".n, '
            f'CASE WHEN "$v".n = $2 THEN NULL ELSE ({COUNT}) END '
            f'FROM "$v" LEFT JOIN LATERAL ({PAGE}) p ON TRUE')


async def rate(name: str, op: Callable[[], Awaitable[Any]]) -> None:
    done = 0
    stop = time.monotonic() + SECONDS

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < stop:
            await op()
            done += 1

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    print(f"{name:<44}{done / (time.monotonic() - t0):>10,.0f} /s", flush=True)


async def main(pg_url: str, redis_url: str) -> None:
    db = PostgresDatabase(pg_url)
    await db.connect()
    pool = db._pool
    await pool.execute('DROP TABLE IF EXISTS "bposts"; DROP TABLE IF EXISTS "bplain"')
    for t in ("bposts", "bplain"):
        await pool.execute(f'CREATE TABLE "{t}" (id bigserial PRIMARY KEY, title text, body text, views bigint)')
        await pool.execute(f"INSERT INTO \"{t}\" (title, body, views) SELECT 'post ' || g, "
                           "repeat('Lorem ipsum ', 18), g FROM generate_series(1, 10000) g")
    await db.track_changes(["bposts"])
    r = aioredis.from_url(redis_url)
    await r.set("bench:gen:bposts", 1)
    cache: dict[str, tuple[int, int]] = {}

    async def count_every() -> None:
        await pool.fetch(PAGE)
        await pool.fetchval(COUNT)

    async def one_statement() -> None:
        await pool.fetch(f"SELECT p.*, ({COUNT}) FROM ({PAGE}) p")

    async def version_cached() -> None:
        seen = cache.get("v", (-1, 0))[0]
        rows = await pool.fetch(COMBINED, ["bposts"], seen)
        if rows[0][-1] is not None:
            cache["v"] = (rows[0][-2], rows[0][-1])

    async def redis_cached() -> None:
        gen = int(await r.get("bench:gen:bposts") or 0)
        await pool.fetch(PAGE)
        if cache.get("r", (-1, 0))[0] != gen:
            cache["r"] = (gen, await pool.fetchval(COUNT))

    print(f"asyncpg pool {db._max}, {CONCURRENCY} tasks, {SECONDS:g} s each, 10,000 rows, list of 50")
    await rate("count every list (2 statements)", count_every)
    await rate("page + count, one statement", one_statement)
    await rate("version in the statement, count cached", version_cached)
    await rate("Redis generation + page, count cached", redis_cached)
    await rate("page only (no count at all)", lambda: pool.fetch(PAGE))

    ins = "INSERT INTO \"{}\" (title, body, views) VALUES ('wrk', 'Lorem ipsum', 42) RETURNING *"
    await rate("INSERT, no trigger", lambda: pool.fetchrow(ins.format("bplain")))
    await rate("INSERT with the change trigger", lambda: pool.fetchrow(ins.format("bposts")))

    # LISTEN/NOTIFY: acknowledged commit on one connection -> notification on another
    listener = await asyncpg.connect(db._dsn)
    got: asyncio.Queue[float] = asyncio.Queue()
    await listener.add_listener("bench_changes", lambda *a: got.put_nowait(time.perf_counter()))
    writer = await asyncpg.connect(db._dsn)
    gaps = []
    for _ in range(300):
        async with writer.transaction():
            await writer.execute(ins.format("bplain"))
            await writer.execute("NOTIFY bench_changes, 'bplain'")
        acked = time.perf_counter()
        gaps.append((await got.get()) - acked)
    gaps.sort()
    print(f"LISTEN/NOTIFY delivery after the writer's ack: median {statistics.median(gaps) * 1e6:,.0f} µs, "
          f"p99 {gaps[int(len(gaps) * 0.99)] * 1e6:,.0f} µs, max {gaps[-1] * 1e6:,.0f} µs "
          "(a read in that window would get a stale count)")
    await listener.close()
    await writer.close()
    await pool.execute('DROP TABLE "bposts"; DROP TABLE "bplain"')
    await r.aclose()
    await db.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2]))
