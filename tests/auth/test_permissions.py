"""Secure by default, and the permission matrix: anonymous / plain user / a role with a row
filter / admin × every data and config route, over real HTTP on both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.auth.helpers import PASSWORD, bearer, email, register, set_auth_config
from tests.conftest import add_entity, add_relation, admin_headers, unique
from tests.nodeserver import NodeServer

OWNER_ROLE = {
    "permissions": [
        {"permission": p, "effect": "allow", "policies": [
            {"condition": {"entity": "@posts"}, "effect": "filter", "filter": {"owner_id": "@user.id"}}]}
        for p in ("data.entity.read", "data.entity.create", "data.entity.update", "data.entity.delete")
    ]
}


@dataclass
class World:
    node: NodeServer
    posts: str
    comments: str
    admin: dict[str, str]
    user: dict[str, str]
    owner: dict[str, str]
    owner_id: int
    other_id: int
    own_post: int
    other_post: int


@pytest.fixture(scope="module")
def world(node: NodeServer) -> Iterator[World]:
    admin = admin_headers(node)
    posts, comments = unique("mx_posts"), unique("mx_comments")
    with node.client(headers=admin) as c:
        add_entity(c, posts, {"title": {"type": "text"}, "owner_id": {"type": "number"}})
        add_entity(c, comments, {"text": {"type": "text"}})
        add_relation(c, f"n1_{comments}_{posts}", {"type": "n:1", "source": comments, "target": posts})
        role = json.loads(json.dumps(OWNER_ROLE).replace("@posts", posts))
        set_auth_config(c, {"roles": {"owner": role}})
        ids, addresses = [], []
        for who in ("owner", "other"):
            addresses.append(email(who))
            r = c.post("/api/auth/password/actions/create",
                       json={"email": addresses[-1], "password": PASSWORD, "role": "owner"})
            assert r.status_code == 200, r.text
            ids.append(r.json()["data"]["id"])
        owner_token = httpx.post(node.url + "/api/auth/password/login",
                                 json={"email": addresses[0], "password": PASSWORD}).json().get("token")
        made = c.post(f"/api/data/entity/{posts}", json=[
            {"title": "mine", "owner_id": ids[0]}, {"title": "theirs", "owner_id": ids[1]},
            {"title": "theirs too", "owner_id": ids[1]}]).json()["data"]
        r = c.post(f"/api/data/entity/{comments}", json={"text": "hello", posts: {"$set": {"id": made[1]["id"]}}})
        assert r.status_code == 201, r.text
        _, user_token = register(c)
    assert owner_token
    yield World(node, posts, comments, admin, bearer(user_token), bearer(owner_token),
                ids[0], ids[1], made[0]["id"], made[1]["id"])


def _routes(w: World) -> list[tuple[str, str, str, Any]]:
    """(name, method, path, json body) for every data and config route."""
    e = f"/api/data/entity/{w.posts}"
    tmp = "mx_tmp_entity"
    return [
        ("list", "GET", e, None),
        ("query", "POST", e + "/query", {"where": {}}),
        ("read", "GET", f"{e}/{w.other_post}", None),
        ("reference", "GET", f"{e}/{w.other_post}/{w.comments}", None),
        ("count", "POST", e + "/fn/count", {}),
        ("exists", "POST", e + "/fn/exists", {"id": w.other_post}),
        ("create", "POST", e, {"title": "new", "owner_id": w.other_id}),
        ("update", "PATCH", f"{e}/{w.other_post}", {"title": "changed"}),
        ("update many", "PATCH", e, {"update": {"title": "bulk"}, "where": {"id": {"$gt": 0}}}),
        ("delete", "DELETE", f"{e}/{w.other_post}", None),
        ("delete many", "DELETE", e, {"title": "nothing matches this"}),
        ("data config", "GET", "/api/data", None),
        ("schema.json", "GET", "/api/data/schema.json", None),
        ("entity schema", "GET", f"/api/data/schemas/{w.posts}", None),
        ("entity info", "GET", f"/api/data/info/{w.posts}", None),
        ("types", "GET", "/api/data/types", None),
        ("sync", "GET", "/api/data/sync", None),
        ("config", "GET", "/api/system/config", None),
        ("config module", "GET", "/api/system/config/auth", None),
        ("config secrets", "GET", "/api/system/config?secrets=1", None),
        ("config set", "POST", "/api/system/config/set/auth", {"allow_register": True}),
        ("config add", "POST", f"/api/system/config/add/data/entities.{tmp}",
         {"name": tmp, "fields": {"a": {"type": "text"}}}),
        ("config patch", "PATCH", f"/api/system/config/patch/data/entities.{tmp}",
         {"fields": {"b": {"type": "text"}}}),
        ("config overwrite", "PUT", f"/api/system/config/overwrite/data/entities.{tmp}?drop=1",
         {"name": tmp, "fields": {"c": {"type": "text"}}}),
        ("config remove", "DELETE", f"/api/system/config/remove/data/entities.{tmp}?drop=1", None),
        ("roles", "POST", "/api/system/config/set/auth", {"roles": {"spare": {"permissions": []}}}),
        ("apikeys", "GET", "/api/auth/apikeys", None),
    ]


def _call(node: NodeServer, headers: dict[str, str], method: str, path: str, body: Any) -> httpx.Response:
    with node.client(headers=headers) as c:
        kw: dict[str, Any] = {}
        if body is not None:
            kw = {"content": json.dumps(body), "headers": {"Content-Type": "application/json"}}
        return c.request(method, path, **kw)


@pytest.mark.parametrize("who", ["anonymous", "user"])
def test_without_a_rule_nobody_but_admins_gets_anything(world: World, who: str) -> None:
    headers = {} if who == "anonymous" else world.user
    before = _call(world.node, world.admin, "GET", "/api/system/config", None).json()
    for name, method, path, body in _routes(world):
        r = _call(world.node, headers, method, path, body)
        assert r.status_code == 403, (who, name, r.status_code, r.text)
        err = r.json()
        assert err["type"] == "PermissionsException" and err["permission"], err
    assert _call(world.node, world.admin, "GET", "/api/system/config", None).json() == before


def test_a_role_with_a_row_filter_sees_and_changes_only_its_rows(world: World) -> None:
    w = world
    e = f"/api/data/entity/{w.posts}"
    o = w.owner
    rows = _call(w.node, o, "GET", e, None).json()
    assert [r["title"] for r in rows["data"]] == ["mine"]
    assert rows["meta"]["count"] == 1 and rows["meta"]["total"] == 1  # bknd leaks the total; we do not
    q = _call(w.node, o, "POST", e + "/query", {"where": {"title": {"$like": "*the*"}}}).json()
    assert q["data"] == [] and q["meta"]["count"] == 0
    assert _call(w.node, o, "GET", f"{e}/{w.other_post}", None).status_code == 404
    assert _call(w.node, o, "GET", f"{e}/{w.own_post}", None).json()["data"]["title"] == "mine"
    # related rows of a parent outside the filter stay hidden too
    assert _call(w.node, o, "GET", f"{e}/{w.other_post}/{w.comments}", None).status_code == 404
    assert _call(w.node, o, "GET", f"{e}/{w.own_post}/{w.comments}", None).status_code == 200
    assert _call(w.node, o, "POST", e + "/fn/count", {}).json()["count"] == 1
    assert _call(w.node, o, "POST", e + "/fn/exists", {"id": w.other_post}).json()["exists"] is False
    assert _call(w.node, o, "PATCH", f"{e}/{w.other_post}", {"title": "x"}).status_code == 404
    assert _call(w.node, o, "DELETE", f"{e}/{w.other_post}", None).status_code == 404
    bulk = _call(w.node, o, "PATCH", e, {"update": {"title": "mine!"}, "where": {"id": {"$gt": 0}}})
    assert [r["id"] for r in bulk.json()["data"]] == [w.own_post]
    # the filter is checked against what is written: no creating or moving rows out of scope
    r = _call(w.node, o, "POST", e, {"title": "forged", "owner_id": w.other_id})
    assert r.status_code == 403, r.text
    r = _call(w.node, o, "PATCH", f"{e}/{w.own_post}", {"owner_id": w.other_id})
    assert r.status_code == 403, r.text
    created = _call(w.node, o, "POST", e, {"title": "also mine", "owner_id": w.owner_id})
    assert created.status_code == 201, created.text
    assert _call(w.node, o, "DELETE", f"{e}/{created.json()['data']['id']}", None).status_code == 200
    # the admin still sees every row, untouched
    everything = _call(w.node, w.admin, "GET", e, None).json()["data"]
    assert sorted(r["title"] for r in everything) == ["mine!", "theirs", "theirs too"]
    # and the role has nothing else: schema and config stay closed
    for name, method, path, body in _routes(w)[11:]:
        r = _call(w.node, o, method, path, body)
        assert r.status_code == 403, (name, r.text)


def test_admins_get_every_route(world: World) -> None:
    """Every route answers an admin, and the data routes return every row (no filter)."""
    w = world
    rows: list[dict[str, Any]] = []
    for name, method, path, body in _routes(w):
        if name == "delete":
            continue  # keep the other's row for the other tests; delete is shown below
        r = _call(w.node, w.admin, method, path, body)
        assert 200 <= r.status_code < 300, (name, r.status_code, r.text)
        if name == "types":
            continue  # TypeScript text, no rows
        out = r.json()
        data = out.get("data")
        if name == "list":
            rows = data
            assert {w.own_post, w.other_post} <= {row["id"] for row in rows}, rows
            assert {w.owner_id, w.other_id} <= {row["owner_id"] for row in rows}, rows
        elif name == "query":
            assert sorted(row["id"] for row in data) == sorted(row["id"] for row in rows)
        elif name == "read":
            assert (data["id"], data["owner_id"]) == (w.other_post, w.other_id), data
        elif name == "reference":
            assert [c["text"] for c in data] == ["hello"], data
        elif name == "count":
            assert out["count"] == len(rows), out
        elif name == "exists":
            assert out["exists"] is True, out
        elif name == "create":
            assert (data["title"], data["owner_id"]) == ("new", w.other_id), data
            rows.append(data)
        elif name == "update":
            assert (data["id"], data["title"]) == (w.other_post, "changed"), data
        elif name == "update many":
            assert sorted(row["id"] for row in data) == sorted(row["id"] for row in rows)
            assert {row["title"] for row in data} == {"bulk"}, data
        elif name == "delete many":
            assert data == [], data
        elif name == "data config":
            assert w.posts in out["entities"], out
    e = f"/api/data/entity/{world.posts}"
    made = _call(world.node, world.admin, "POST", e, {"title": "to delete", "owner_id": 1}).json()["data"]
    assert _call(world.node, world.admin, "DELETE", f"{e}/{made['id']}", None).status_code == 200


def test_anonymous_role_and_default_role(make_node: Any) -> None:
    server: NodeServer = make_node()
    admin = admin_headers(server)
    name = unique("pub")
    with server.client(headers=admin) as c:
        add_entity(c, name, {"title": {"type": "text"}})
        c.post(f"/api/data/entity/{name}", json={"title": "public"})
        set_auth_config(c, {"roles": {"guest": {"permissions": ["data.entity.read"]},
                                      "member": {"is_default": True,
                                                 "permissions": ["data.entity.read", "data.entity.create"]}},
                            "guard": {"anonymous_role": "guest"}})
    with server.client() as c:
        r = c.get(f"/api/data/entity/{name}")
        assert r.status_code == 200 and [row["title"] for row in r.json()["data"]] == ["public"], r.text
        assert c.post(f"/api/data/entity/{name}", json={"title": "spam"}).status_code == 403
        _, token = register(c)
        made = c.post(f"/api/data/entity/{name}", json={"title": "member"}, headers=bearer(token))
        assert made.status_code == 201 and made.json()["data"]["title"] == "member", made.text
        assert c.get("/api/system/config", headers=bearer(token)).status_code == 403
        r = c.get(f"/api/data/entity/{name}", params={"sort": "id"})
        assert [row["title"] for row in r.json()["data"]] == ["public", "member"], r.text
    with server.client(headers=admin) as c:  # without anonymous_role, is_default applies to all
        r = c.post("/api/system/config/set/auth", json={"guard": {"anonymous_role": None}})
        assert r.status_code == 202
    with server.client() as c:
        made = c.post(f"/api/data/entity/{name}", json={"title": "now allowed"})
        assert made.status_code == 201 and made.json()["data"]["title"] == "now allowed", made.text
        r = c.get(f"/api/data/entity/{name}", params={"sort": "id"})
        assert [row["title"] for row in r.json()["data"]] == ["public", "member", "now allowed"], r.text


def test_deny_policies_and_implicit_allow(make_node: Any) -> None:
    server: NodeServer = make_node()
    admin = admin_headers(server)
    a, b = unique("pa"), unique("pb")
    with server.client(headers=admin) as c:
        add_entity(c, a, {"t": {"type": "text"}})
        add_entity(c, b, {"t": {"type": "text"}})
        set_auth_config(c, {"roles": {"editor": {"implicit_allow": True, "permissions": [
            {"permission": "data.entity.delete", "effect": "allow",
             "policies": [{"condition": {"entity": b}, "effect": "deny"}]},
            {"permission": "system.config.write", "effect": "deny"}]}}})
        r = c.post("/api/auth/password/actions/create", json={"email": (m := email("ed")), "password": PASSWORD,
                                                               "role": "editor"})
        assert r.status_code == 200
    with server.client() as c:
        h = bearer(c.post("/api/auth/password/login", json={"email": m, "password": PASSWORD}).json()["token"])
        ra = c.post(f"/api/data/entity/{a}", json={"t": "x"}, headers=h).json()["data"]
        rb = c.post(f"/api/data/entity/{b}", json={"t": "x"}, headers=h).json()["data"]
        assert c.delete(f"/api/data/entity/{a}/{ra['id']}", headers=h).status_code == 200
        denied = c.delete(f"/api/data/entity/{b}/{rb['id']}", headers=h)
        assert denied.status_code == 403 and "policy" in denied.json()["description"]
        assert c.post("/api/system/config/set/auth", json={}, headers=h).status_code == 403
        config = c.get("/api/system/config", headers=h)  # implicit_allow: the whole document
        assert config.status_code == 200, config.text
        assert {a, b} <= set(config.json()["data"]["entities"]), config.text
        assert config.json()["auth"]["roles"]["editor"]["implicit_allow"] is True
        left = {x: [row["id"] for row in c.get(f"/api/data/entity/{x}", headers=h).json()["data"]]
                for x in (a, b)}
        assert left == {a: [], b: [rb["id"]]}, left  # a's row deleted, b's kept by the deny


def test_role_config_is_validated(node: NodeServer) -> None:
    bad = [
        {"roles": {"x": {"permissions": ["no.such.permission"]}}},
        {"roles": {"x": {"permissions": ["data.entity.read", {"permission": "data.entity.create"}]}}},
        {"roles": {"x": {"permissions": [{"permission": "system.info", "policies": [
            {"effect": "filter", "filter": {"a": 1}}]}]}}},
        {"roles": {"x": {"permissions": [{"permission": "data.entity.read", "policies": [
            {"effect": "filter", "filter": {"a": {"$nope": 1}}}]}]}}},
        {"roles": {"x": {"is_default": True}, "y": {"is_default": True}}},
        {"roles": {"admin": {"implicit_allow": False}}},
        {"guard": {"anonymous_role": "admin"}},
        {"default_role_register": "admin"},
        {"default_role_register": "ghost"},
        {"roles": {"x": "not an object"}},
    ]
    with node.client(headers=admin_headers(node)) as c:
        before = c.get("/api/system/config/auth").json()
        for doc in bad:
            r = c.post("/api/system/config/set/auth", json=doc)
            assert r.status_code == 400, (doc, r.text)
            assert r.json()["errors"], r.text
        r = c.delete("/api/system/config/remove/auth/roles.admin")
        assert r.status_code == 400 and "admin" in r.text
        assert c.get("/api/system/config/auth").json() == before
