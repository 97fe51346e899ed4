#!/usr/bin/env python3
"""What a PostgreSQL list with ``meta.total`` costs against the same list with ``count=false``.

No HTTP: the Data module's repository (``EntityRepository.find_many``) on a throw-away cluster
(tests/support/services.py, the suite's settings), a ``posts`` table of 10,000 rows, nodebase's
asyncpg pool (16), 32 concurrent tasks. The variants run interleaved (A, B, A, B, ...) and each
reports the CPU it cost per list in this process and in the PostgreSQL cluster (all its
processes, from /proc), which survive a loaded machine far better than lists per second. Also
the statement shapes alone (raw asyncpg): the page, the combined statement (page, version and
counts), the gated page (what a list with current cached counts sends).

Usage: ``python bench/pg_list_cost.py [--rounds 5] [--seconds 2]`` (about a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.services import start_postgres  # noqa: E402

from nodebase.data.counts import CountCache, DatabaseVersions  # noqa: E402
from nodebase.data.query.model import RepoQuery  # noqa: E402
from nodebase.data.repository import EntityRepository  # noqa: E402
from nodebase.data.schema import parse_data_config  # noqa: E402
from nodebase.data.sync import apply_sync, plan_sync  # noqa: E402
from nodebase.kernel.database.postgres import PostgresDatabase  # noqa: E402

SCHEMA = {"entities": {"posts": {"fields": {"title": {"type": "text"}, "body": {"type": "text"},
                                            "views": {"type": "number"}, "owner": {"type": "text"}}}},
          "indices": {"idx_posts_owner": {"entity": "posts", "fields": ["owner"]}}}
TASKS = 32
HZ = os.sysconf("SC_CLK_TCK")


def cluster_cpu(postmaster: int) -> float:
    """CPU seconds of the postmaster and its children (the backends)."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(pid) == postmaster or int(fields[1]) == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / HZ


async def run(op: Callable[[], Awaitable[Any]], seconds: float, postmaster: int) -> tuple[float, float, float]:
    done = 0
    stop = time.monotonic() + seconds

    async def task() -> None:
        nonlocal done
        while time.monotonic() < stop:
            await op()
            done += 1

    c0, p0, t0 = time.process_time(), cluster_cpu(postmaster), time.monotonic()
    await asyncio.gather(*(task() for _ in range(TASKS)))
    wall = time.monotonic() - t0
    return done / wall, (time.process_time() - c0) / done * 1e6, (cluster_cpu(postmaster) - p0) / done * 1e6


async def main(url: str, postmaster: int, args: argparse.Namespace) -> None:
    db = PostgresDatabase(url)
    await db.connect()
    schema = parse_data_config(SCHEMA)
    await apply_sync(db, await plan_sync(db, None, schema), drop=False)
    versions = DatabaseVersions(db)
    await versions.track(["posts"])
    await db.execute("INSERT INTO posts (title, body, views, owner) SELECT 'post ' || g, "
                     "repeat('Lorem ipsum dolor sit amet ', 8), g, 'user' || (g % 100) || '@example.com' "
                     "FROM generate_series(1, 10000) g")
    await db.execute("ANALYZE posts")
    repo = EntityRepository(db, schema, versions, CountCache())
    posts = schema.entities["posts"]
    total = RepoQuery(limit=50, sort=[("id", "asc")])
    nocount = RepoQuery(limit=50, sort=[("id", "asc")], count=False)
    rule = {"owner": "user0@example.com"}
    await repo.find_many(posts, total)
    await repo.find_many(posts, total)  # counts found current: the next lists are gated
    plan = next(p for p in repo._statements.values() if hasattr(p, "gate"))
    seen = repo.counts.entry(plan.keys[0])[0]
    page, page_params, _ = repo.selects.select(posts, nocount)
    pool = db._pool
    ops: dict[str, Callable[[], Awaitable[Any]]] = {
        "list with meta.total": lambda: repo.find_many(posts, total),
        "list, count=false": lambda: repo.find_many(posts, nocount),
        "row-rule list with meta.total": lambda: repo.find_many(posts, total, scope=rule),
        "row-rule list, count=false": lambda: repo.find_many(posts, nocount, scope=rule),
        "SQL: the page alone": lambda: pool.fetch(page, *page_params),
        "SQL: page + version + counts": lambda: pool.fetch(plan.statement, *plan.params, seen),
        "SQL: gated page": lambda: pool.fetch(plan.gate, *plan.gate_params, seen),
    }
    for op in ops.values():
        await run(op, 0.3, postmaster)
    results: dict[str, list[tuple[float, float, float]]] = {k: [] for k in ops}
    for _ in range(args.rounds):
        for name, op in ops.items():
            results[name].append(await run(op, args.seconds, postmaster))
    print(f"{TASKS} tasks, pool {db._max}, {args.rounds} interleaved rounds of {args.seconds:g} s, "
          f"medians; load average {os.getloadavg()[0]:.1f}")
    print(f"{'':32}{'lists/s':>9}{'nodebase µs':>13}{'PostgreSQL µs':>15}{'sum µs':>9}")
    sums = {}
    for name, rs in results.items():
        rate, py, pg = (statistics.median(r[i] for r in rs) for i in range(3))
        sums[name] = statistics.median(r[1] + r[2] for r in rs)
        print(f"{name:32}{rate:>9,.0f}{py:>13,.0f}{pg:>15,.0f}{sums[name]:>9,.0f}")
    for a, b in (("list with meta.total", "list, count=false"),
                 ("row-rule list with meta.total", "row-rule list, count=false")):
        print(f"CPU of '{a}' / '{b}': {sums[a] / sums[b]:.2f}")
    await db.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=2.0)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        server = start_postgres(d)
        try:
            asyncio.run(main(server.url, server.pids[0], args))
        finally:
            server.stop()
