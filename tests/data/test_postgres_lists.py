"""The PostgreSQL list path: one statement per list, indexes the schema declares are used,
and cached counts are dropped as soon as a write commits (real PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Sequence
from typing import Any

from nodebase.data.counts import DatabaseVersions
from nodebase.data.query.model import RepoQuery
from nodebase.data.repository import EntityRepository
from nodebase.data.schema import parse_data_config
from nodebase.data.sync import apply_sync, plan_sync
from nodebase.kernel.database.postgres import PostgresDatabase
from tests.support.services import PostgresServer

SCHEMA = {
    "entities": {"notes": {"fields": {"title": {"type": "text"}, "owner": {"type": "text"},
                                      "n": {"type": "number"}}}},
    "indices": {"idx_notes_owner": {"entity": "notes", "fields": ["owner"]}},
}
ROWS, OWNERS = 20_000, 400  # 50 rows per owner: an index scan is the only sensible plan


class Recording(PostgresDatabase):
    """Remembers every statement the repository sends through the pool."""

    statements: list[tuple[str, Sequence[Any]]]

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        self.statements.append((sql, params))
        return await super().fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Any] | None:
        self.statements.append((sql, params))
        return await super().fetch_one(sql, params)


def _plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    out = [plan]
    for sub in plan.get("Plans", []):
        out += _plan_nodes(sub)
    return out


def test_a_filtered_list_is_one_statement_that_uses_the_declared_index(postgres: PostgresServer) -> None:
    name = f"nb_plans_{secrets.token_hex(4)}"
    url = postgres.create_database(name)

    async def scenario() -> None:
        db = Recording(url)
        db.statements = []
        await db.connect()
        try:
            schema = parse_data_config(SCHEMA)
            await apply_sync(db, await plan_sync(db, None, schema), drop=False)
            versions = DatabaseVersions(db)
            await versions.track(["notes"])
            assert versions.tracked == {"notes"}
            await db.execute(
                'INSERT INTO "notes" ("title", "owner", "n") SELECT \'t\' || g, \'u\' || (g % $1), (g / $1) % 10 '
                "FROM generate_series(1, $2) g", (OWNERS, ROWS))
            await db.execute('ANALYZE "notes"')
            repo = EntityRepository(db, schema, versions)
            notes = schema.entities["notes"]
            query = RepoQuery(limit=10, sort=[("id", "desc")], where={"n": {"$gte": 5}})

            db.statements.clear()
            rows, meta = await repo.find_many(notes, query, scope={"owner": "u7"})
            assert len(db.statements) == 1  # the page, the version and both counts
            assert (meta["total"], meta["count"], len(rows)) == (50, 25, 10)
            assert all(r["owner"] == "u7" and r["n"] >= 5 for r in rows)
            assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)

            sql, params = db.statements[0]
            async with db._pool.acquire() as conn:
                doc = await conn.fetchval("EXPLAIN (FORMAT JSON) " + sql, *params)
            nodes = _plan_nodes(json.loads(doc)[0]["Plan"])
            on_notes = [n for n in nodes if n.get("Relation Name") == "notes"]
            assert on_notes, nodes
            assert not [n for n in on_notes if n["Node Type"] == "Seq Scan"], on_notes
            used = {n.get("Index Name") for n in nodes if "Index" in n["Node Type"]}
            assert "idx_notes_owner" in used, used

            # the next lists read the cached counts: still one statement, same numbers; once the
            # counts were found current, that statement is the page alone, gated on the version
            for _ in range(2):
                db.statements.clear()
                rows, meta = await repo.find_many(notes, query, scope={"owner": "u7"})
                assert (meta["total"], meta["count"], len(rows)) == (50, 25, 10)
                assert len(db.statements) == 1
            gate, params = db.statements[0]
            assert gate != sql and "LATERAL" not in gate and "COUNT" not in gate, gate
            assert "__nodebase_changes" in gate
            async with db._pool.acquire() as conn:
                doc = await conn.fetchval("EXPLAIN (FORMAT JSON) " + gate, *params)
            nodes = _plan_nodes(json.loads(doc)[0]["Plan"])
            assert not [n for n in nodes if n.get("Relation Name") == "notes" and n["Node Type"] == "Seq Scan"], nodes
            assert "idx_notes_owner" in {n.get("Index Name") for n in nodes}, nodes
            # a write by anyone (here: plain SQL on another connection) is seen at once
            other = PostgresDatabase(url)
            await other.connect()
            await other.execute('DELETE FROM "notes" WHERE "owner" = \'u7\' AND "n" >= 5')
            await other.close()
            db.statements.clear()
            rows, meta = await repo.find_many(notes, query, scope={"owner": "u7"})
            assert (meta["total"], meta["count"], rows) == (25, 0, [])
            assert len(db.statements) == 2  # the gate finds the version moved: page and counts again
            _, meta = await repo.find_many(notes, RepoQuery(limit=5, sort=[("id", "asc")]))
            assert meta["total"] == ROWS - 25
            # an empty page still carries its counts (the page is outer-joined to them)
            rows, meta = await repo.find_many(notes, RepoQuery(limit=5, offset=ROWS, sort=[("id", "asc")]))
            assert (rows, meta["total"], meta["count"]) == ([], ROWS - 25, ROWS - 25)
        finally:
            await db.close()

    try:
        asyncio.run(scenario())
    finally:
        postgres.drop_database(name)
