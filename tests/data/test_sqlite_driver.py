"""SQLite driver behaviours the hot path relies on (embedded profile only)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from nodebase.data.counts import DatabaseVersions
from nodebase.data.query.model import RepoQuery
from nodebase.data.repository import EntityRepository
from nodebase.data.schema import parse_data_config
from nodebase.data.sync import apply_sync, plan_sync
from nodebase.kernel.database.sqlite import SqliteDatabase

SCHEMA = {"entities": {"items": {"fields": {"n": {"type": "number"}}}}}


def test_cached_counts_see_commits_from_another_connection(tmp_path: Path) -> None:
    """meta.count/total are cached, but a commit by any other process invalidates them."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"

    async def scenario() -> tuple[int, int, int]:
        a, b = SqliteDatabase(url), SqliteDatabase(url)  # two processes' connections
        await a.connect()
        await b.connect()
        schema = parse_data_config(SCHEMA)
        await apply_sync(a, await plan_sync(a, None, schema), drop=False)
        versions = DatabaseVersions(a)
        await versions.track(["items"])
        repo = EntityRepository(a, schema, versions)
        items = schema.entities["items"]
        await a.execute('INSERT INTO "items" ("n") VALUES (1), (2)')
        first = await repo.count(items, None)
        await b.execute('INSERT INTO "items" ("n") VALUES (3)')  # the other process writes
        second = await repo.count(items, None)
        _, meta = await repo.find_many(items, RepoQuery(limit=1, sort=[("id", "asc")]))
        await a.close()
        await b.close()
        return first, second, meta["total"]

    assert asyncio.run(scenario()) == (2, 3, 3)


def test_wal_is_copied_back_by_the_background_checkpointer(tmp_path: Path) -> None:
    """Commits on the event loop do not checkpoint (the writer's threshold is 4000 pages);
    the background thread copies the WAL into the database file while the node runs."""
    path = tmp_path / "db.sqlite"

    async def scenario() -> int:
        db = SqliteDatabase(f"sqlite:///{path}")
        await db.connect()
        await db.execute('CREATE TABLE "t" ("x" TEXT)')
        for i in range(500):  # ~1 MB: far below the writer's own checkpoint threshold
            await db.execute('INSERT INTO "t" ("x") VALUES (?)', (f"row {i} " * 200,))
        size = path.stat().st_size
        deadline = time.monotonic() + 10
        while size < 1_000_000 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            size = path.stat().st_size
        await db.close()
        return size

    assert asyncio.run(scenario()) >= 1_000_000
