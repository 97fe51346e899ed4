"""Cached list counts are exact across nodes: two nodebase processes on one PostgreSQL.

Node A writes (single and bulk creates, updates that move rows into and out of a row
filter, bulk updates, single and bulk deletes); right after each acknowledged write, node B
lists as an admin and as a user under a row rule. Every ``meta.total`` / ``meta.count`` must
equal a fresh ``COUNT(*)`` taken with psql. B lists before every write too, so its cache holds
the old counts and a stale one would be served if invalidation were late or missing.
The broker (Redis) is configured; the counts must stay exact with it running and with it
stopped (counts never depend on it).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.auth.helpers import PASSWORD, bearer, set_auth_config
from tests.conftest import add_entity, admin_headers, unique
from tests.nodeserver import NodeServer
from tests.support.services import PostgresServer, RedisServer, start_redis

OWNER_A, OWNER_B = "alice@example.com", "bob@example.com"


def _role(entity: str) -> dict[str, Any]:
    return {"permissions": [
        {"permission": "data.entity.read", "effect": "allow", "policies": [
            {"condition": {"entity": entity}, "effect": "filter", "filter": {"owner": "@user.email"}}]}]}


def _until(what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll (upper bound only) for a change another node picks up within a second."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with start_redis(tmp_path) as server:
        yield server


@pytest.mark.parametrize("broker", ["running", "stopped"])
def test_counts_on_one_node_see_every_write_of_another(
    broker: str, postgres: PostgresServer, redis: RedisServer, tmp_path: Path
) -> None:
    database = f"nb_counts_{secrets.token_hex(4)}"
    url = postgres.create_database(database)
    env = {"NODEBASE_BROKER_URL": redis.url}
    a = NodeServer(tmp_path / "a", database_url=url, env=env).start()
    b = NodeServer(tmp_path / "b", database_url=url, env=env).start()
    try:
        _scenario(a, b, postgres, database, redis if broker == "stopped" else None)
    finally:
        for node in (a, b):
            node.stop()
            assert not node.server_errors(), node.server_errors()
        postgres.drop_database(database)


def _scenario(a: NodeServer, b: NodeServer, pg: PostgresServer, database: str,
              stop_broker: RedisServer | None) -> None:
    posts = unique("cnt_posts")
    wa = a.client(headers=admin_headers(a))
    rb = b.client(headers=admin_headers(b))
    add_entity(wa, posts, {"title": {"type": "text"}, "owner": {"type": "text"},
                           "n": {"type": "number"}})
    r = wa.post(f"/api/system/config/add/data/indices.idx_{posts}_owner",
                json={"entity": posts, "fields": ["owner"]})
    assert r.status_code == 202, r.text
    set_auth_config(wa, {"roles": {"owner": _role(posts)}})
    r = wa.post("/api/auth/password/actions/create",
                json={"email": OWNER_A, "password": PASSWORD, "role": "owner"})
    assert r.status_code == 200, r.text
    e = f"/api/data/entity/{posts}"

    def user_on_b() -> httpx.Client | None:
        r = httpx.post(b.url + "/api/auth/password/login", json={"email": OWNER_A, "password": PASSWORD})
        if r.status_code != 200:
            return None
        c = b.client(headers=bearer(r.json()["token"]))
        return c if c.get(e + "?limit=1").status_code == 200 else None

    _until("node B to load the new entity and role", lambda: user_on_b() is not None)
    ub = user_on_b()
    assert ub is not None
    if stop_broker is not None:
        stop_broker.stop()

    def fresh(where: str = "") -> int:
        out = pg.psql(f'SELECT count(*) FROM "{posts}"' + (f" WHERE {where}" if where else ""), database)
        return int(out.strip())

    def check(step: str) -> None:
        """Every count node B answers equals a fresh COUNT; lists with a full first page
        (limit 2) so that meta.count cannot be taken from the page length."""
        everyone, mine, big = fresh(), fresh(f"owner = '{OWNER_A}'"), fresh("n >= 5")
        mine_big = fresh(f"owner = '{OWNER_A}' AND n >= 5")
        where = '{"n":{"$gte":5}}'
        for client, total, count, who in ((rb, everyone, big, "admin"), (ub, mine, mine_big, "user")):
            for query in ("?limit=2", f"?limit=2&where={where}", f"?limit=2&offset=1&where={where}"):
                r = client.get(e + query)
                assert r.status_code == 200, r.text
                meta = r.json()["meta"]
                want_count = count if "where" in query else total
                assert (meta["total"], meta["count"]) == (total, want_count), (step, who, query, meta)
            r = client.post(e + "/fn/count", json={"n": {"$gte": 5}})
            assert r.status_code == 200, r.text
            assert r.json()["count"] == count, (step, who, "fn/count")

    def step(name: str, method: str, path: str, body: Any, ok: int = 200) -> Any:
        check(f"before {name}")  # B's cache now holds the counts from before the write
        r = wa.request(method, path, json=body)
        assert r.status_code == ok, (name, r.text)
        check(f"after {name}")
        return r.json()["data"]

    first = step("create one", "POST", e, {"title": "a0", "owner": OWNER_A, "n": 7}, 201)
    rows = step("bulk create", "POST", e, [
        {"title": f"r{i}", "owner": OWNER_A if i % 3 == 0 else OWNER_B, "n": i} for i in range(12)
    ], 201)
    theirs = next(r for r in rows if r["owner"] == OWNER_B)
    step("move a row into the filter", "PATCH", f"{e}/{theirs['id']}", {"owner": OWNER_A})
    step("move a row out of the filter", "PATCH", f"{e}/{first['id']}", {"owner": OWNER_B})
    step("move a row out of the where", "PATCH", f"{e}/{theirs['id']}", {"n": 1})
    step("bulk update into the filter", "PATCH", e, {"update": {"owner": OWNER_A}, "where": {"n": {"$lt": 4}}})
    step("bulk update out of the filter", "PATCH", e, {"update": {"owner": OWNER_B}, "where": {"n": {"$gte": 9}}})
    step("delete one", "DELETE", f"{e}/{rows[0]['id']}", None)
    step("bulk delete", "DELETE", e, {"n": {"$between": [4, 8]}})
    step("bulk create again", "POST", e, [{"title": "z", "owner": OWNER_A, "n": 9}] * 5, 201)
    step("bulk delete everything", "DELETE", e, {"id": {"$gt": 0}})
    check("at the end")
    for c in (wa, rb, ub):
        c.close()
