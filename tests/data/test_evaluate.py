"""The in-memory where evaluator (data.query.evaluate.row_matches) gives the SQL answer.

Rows are written through the Data service into a real database (SQLite and PostgreSQL); for
each where-document the ids the SQL query returns are compared with the rows the evaluator
accepts. NULLs, three-valued logic, $or/$and/$not nesting, lists, LIKE and every operator.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from nodebase.data.module import DataModule
from nodebase.data.query.evaluate import NotEvaluable, row_matches
from nodebase.data.query.model import RepoQuery
from nodebase.kernel.caller import SYSTEM, OpenGuard
from nodebase.kernel.database import open_database
from nodebase.kernel.events import EventBus
from tests.support.services import PostgresServer

SCHEMA = {"entities": {
    "items": {"fields": {
        "title": {"type": "text"},
        "n": {"type": "number"},
        "k": {"type": "number", "config": {"integer": True}},
        "flag": {"type": "boolean"},
        "day": {"type": "date"},
        "kind": {"type": "enum", "config": {"options": {"type": "strings", "values": ["a", "b", "c"]}}},
        "meta": {"type": "json"},
    }},
    "tags": {"fields": {"name": {"type": "text"}}},
}, "relations": {"items_tags": {"type": "n:1", "source": "items", "target": "tags"}}}

ROWS: list[dict[str, Any]] = [
    {"title": "Alpha", "n": 1.5, "k": 1, "flag": True, "day": "2024-01-01", "kind": "a", "meta": {"x": 1}},
    {"title": "beta", "n": 2, "k": 2, "flag": False, "day": "2024-02-01", "kind": "b", "meta": [1, 2]},
    {"title": "Gamma ray", "n": None, "k": 3, "flag": None, "day": None, "kind": None, "meta": None},
    {"title": None, "n": -4, "k": None, "flag": True, "day": "2023-12-31", "kind": "c", "meta": "s"},
    {"title": "ÄBC_50%", "n": 0, "k": 0, "flag": False, "day": "2024-01-15", "kind": "a", "meta": {}},
    {"title": "", "n": 10, "k": 10, "flag": None, "day": "2024-03-01", "kind": "b", "meta": None},
]

WHERES: list[dict[str, Any]] = [
    {"title": "Alpha"}, {"title": {"$ne": "Alpha"}}, {"title": None}, {"title": {"$ne": None}},
    {"n": {"$gt": 1}}, {"n": {"$gte": 2}}, {"n": {"$lt": 0}}, {"n": {"$lte": "1.5"}},
    {"k": [1, 2, 3]}, {"k": {"$in": [1, None]}}, {"k": {"$notin": [1, 2]}}, {"k": {"$notin": [1, None]}},
    {"k": {"$in": []}}, {"k": {"$notin": []}}, {"k": {"$in": "1,3"}},
    {"flag": True}, {"flag": False}, {"flag": {"$ne": True}}, {"flag": "true"}, {"flag": {"$isnull": True}},
    {"flag": {"$notnull": 1}}, {"flag": {"$isnull": "false"}},
    {"day": {"$between": ["2024-01-01", "2024-02-01"]}}, {"day": {"$gt": "2024-01-10"}},
    {"kind": "a"}, {"kind": {"$in": ["a", "c"]}}, {"kind": {"$ne": "a"}},
    {"meta": {"$eq": "{\"x\":1}"}}, {"meta": "[1,2]"}, {"meta": "\"s\""}, {"meta": {"$like": "*x*"}},
    {"title": {"$like": "alpha"}}, {"title": {"$like": "%ray"}}, {"title": {"$like": "G*"}},
    {"title": {"$like": "_eta"}}, {"title": {"$ilike": "äbc*"}}, {"title": {"$like": "ÄBC\\_50*"}},
    {"n": {"$like": "1*"}}, {"flag": {"$like": "t*"}}, {"flag": {"$like": "1"}},
    {"title": {"$like": "*"}}, {"title": ""},
    {"$or": {"title": "Alpha", "k": 2}}, {"$or": [{"n": {"$gt": 5}}, {"flag": True}]},
    {"$and": [{"n": {"$gt": 0}}, {"k": {"$lt": 3}}]}, {"$not": {"k": 1}}, {"$not": {"flag": True}},
    {"$not": {"$or": {"n": {"$gt": 1}, "flag": False}}}, {"$or": {}}, {"$not": {"$and": []}},
    {"k": {"$gte": 1, "$lte": 2}}, {"$or": [{"$not": {"title": None}}, {"n": None}]},
    {"title": {"$ne": "x"}, "$or": {"kind": "a", "flag": None}},
]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('ev') / 'e.db'}"
    pg: PostgresServer = request.getfixturevalue("postgres")
    return pg.create_database("nb_evaluate")


def test_evaluator_agrees_with_sql(database_url: str, tmp_path: Path) -> None:
    async def run() -> None:
        db = open_database(database_url)
        await db.connect()
        try:
            data = DataModule(db, EventBus(), OpenGuard())
            await data.apply_config(SCHEMA, drop=False)
            svc = data.service
            created = await svc.create("items", ROWS, SYSTEM)
            assert isinstance(created, list)
            entity = svc.schema.entities["items"]
            dialect = db.dialect.name
            for where in WHERES:
                rows, _ = await svc.read_many("items", RepoQuery(limit=100, sort=[("id", "asc")], where=where), SYSTEM)
                want = [r["id"] for r in rows]
                got = [r["id"] for r in created if row_matches(entity, where, r, dialect)]
                assert got == want, f"{dialect}: where {where}: evaluator {got}, SQL {want}"
            with pytest.raises(NotEvaluable):
                row_matches(entity, {"tags.name": "x"}, created[0], dialect)
            with pytest.raises(NotEvaluable):
                row_matches(entity, {"title": "x"}, {"id": 1}, dialect)
        finally:
            await db.close()

    asyncio.run(run())
