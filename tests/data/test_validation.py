"""Every client mistake is a 4xx with {"error","type","context"} naming what was wrong."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import add_entity, add_relation, unique


def err(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) >= {"error", "type", "context"}, body
    return body


@pytest.fixture
def posts(api: httpx.Client) -> str:
    e = unique("vposts")
    add_entity(api, e, {
        "title": {"type": "text", "config": {"required": True, "minLength": 2, "maxLength": 10,
                                              "pattern": "^[a-z ]+$"}},
        "views": {"type": "number", "config": {"minimum": 0, "maximum": 1000}},
        "slug": {"type": "text", "config": {"unique": True}},
        "kind": {"type": "enum", "config": {"options": ["news", "blog"]}},
        "status": {"type": "text", "config": {"default_value": "draft"}},
    })
    return e


def test_malformed_json_body(api: httpx.Client, posts: str) -> None:
    r = api.post(f"/api/data/entity/{posts}", content=b'{"title": ', headers={"content-type": "application/json"})
    assert "Malformed JSON" in err(r, 400)["error"]


def test_empty_body(api: httpx.Client, posts: str) -> None:
    err(api.post(f"/api/data/entity/{posts}", content=b""), 400)


def test_body_not_an_object(api: httpx.Client, posts: str) -> None:
    err(api.post(f"/api/data/entity/{posts}", json="hello"), 422)
    err(api.post(f"/api/data/entity/{posts}", json=[1, 2]), 422)
    err(api.post(f"/api/data/entity/{posts}", json=[]), 422)


def test_unknown_field_in_body(api: httpx.Client, posts: str) -> None:
    body = err(api.post(f"/api/data/entity/{posts}", json={"title": "ok", "nope": 1}), 422)
    assert body["context"]["field"] == "nope" and body["context"]["entity"] == posts


def test_wrong_types(api: httpx.Client, posts: str) -> None:
    assert err(api.post(f"/api/data/entity/{posts}", json={"title": 5}), 422)["context"]["field"] == "title"
    assert err(api.post(f"/api/data/entity/{posts}", json={"title": "ok", "views": "many"}), 422)["context"]["field"] == "views"
    assert err(api.post(f"/api/data/entity/{posts}", json={"title": "ok", "views": True}), 422)["context"]["field"] == "views"
    assert err(api.post(f"/api/data/entity/{posts}", json={"title": "ok", "views": 10**30}), 422)


def test_missing_required_and_null_required(api: httpx.Client, posts: str) -> None:
    body = err(api.post(f"/api/data/entity/{posts}", json={"views": 1}), 422)
    assert body["context"]["field"] == "title" and "required" in body["error"]
    row = api.post(f"/api/data/entity/{posts}", json={"title": "ok"}).json()["data"]
    assert row["status"] == "draft"  # default applied
    err(api.patch(f"/api/data/entity/{posts}/{row['id']}", json={"title": None}), 422)


def test_bounds_length_pattern_enum(api: httpx.Client, posts: str) -> None:
    err(api.post(f"/api/data/entity/{posts}", json={"title": "ok", "views": -1}), 422)
    err(api.post(f"/api/data/entity/{posts}", json={"title": "ok", "views": 1001}), 422)
    err(api.post(f"/api/data/entity/{posts}", json={"title": "x"}), 422)
    err(api.post(f"/api/data/entity/{posts}", json={"title": "way too long"}), 422)
    assert "pattern" in err(api.post(f"/api/data/entity/{posts}", json={"title": "UPPER"}), 422)["error"]
    assert err(api.post(f"/api/data/entity/{posts}", json={"title": "ok", "kind": "other"}), 422)["context"]["field"] == "kind"


def test_unique_violation_is_409(api: httpx.Client, posts: str) -> None:
    assert api.post(f"/api/data/entity/{posts}", json={"title": "one", "slug": "s"}).status_code == 201
    body = err(api.post(f"/api/data/entity/{posts}", json={"title": "two", "slug": "s"}), 409)
    assert body["context"]["fields"] == ["slug"]
    # a failed bulk create writes nothing
    err(api.post(f"/api/data/entity/{posts}", json=[{"title": "three", "slug": "t"}, {"title": "four", "slug": "s"}]), 409)
    assert api.post(f"/api/data/entity/{posts}/fn/count", json={"slug": "t"}).json()["count"] == 0


def test_missing_foreign_key_target(api: httpx.Client) -> None:
    a, b = unique("fka"), unique("fkb")
    add_entity(api, a, {"name": {"type": "text"}})
    add_entity(api, b, {"text": {"type": "text"}})
    add_relation(api, f"n1_{b}_{a}", {"type": "n:1", "source": b, "target": a})
    body = err(api.post(f"/api/data/entity/{b}", json={"text": "x", f"{a}_id": 999}), 422)
    assert f"{a}_id" in body["context"]["fields"]


@pytest.mark.parametrize(
    ("query", "status", "key"),
    [
        ({"where": '{"views": {"$bogus": 1}}'}, 422, "operator"),
        ({"where": '{"nope": 1}'}, 422, "field"),
        ({"where": '{"views": '}, 400, "param"),
        ({"where": "[1,2]"}, 422, "entity"),
        ({"where": '{"$xor": {}}'}, 422, "operator"),
        ({"where": '{"views": {"$in": 5}}'}, 422, "operator"),
        ({"where": '{"views": {"$between": [1]}}'}, 422, "operator"),
        ({"where": '{"views": {"$gt": "abc"}}'}, 422, "field"),
        ({"sort": "nope"}, 422, "field"),
        ({"sort": "-nope"}, 422, "field"),
        ({"sort": '{"by": "views", "dir": "sideways"}'}, 422, "param"),
        ({"select": "id,nope"}, 422, "field"),
        ({"limit": "abc"}, 422, "param"),
        ({"limit": "-1"}, 422, "param"),
        ({"offset": "x"}, 422, "param"),
        ({"with": "nope"}, 422, "relation"),
        ({"join": "nope"}, 422, "relation"),
        ({"bogus": "1"}, 422, "valid"),
    ],
)
def test_bad_queries_are_4xx_naming_the_problem(api: httpx.Client, posts: str, query: dict[str, str], status: int, key: str) -> None:
    body = err(api.get(f"/api/data/entity/{posts}", params=query), status)
    assert key in body["context"], body


def test_bad_query_body(api: httpx.Client, posts: str) -> None:
    err(api.post(f"/api/data/entity/{posts}/query", json=[1]), 422)
    err(api.post(f"/api/data/entity/{posts}/query", json={"where": {"views": {"$nope": 1}}}), 422)
    err(api.post(f"/api/data/entity/{posts}/fn/count", json=[1]), 422)


def test_method_not_allowed_is_json(api: httpx.Client, posts: str) -> None:
    r = api.put(f"/api/data/entity/{posts}", json={})
    assert r.status_code == 405 and r.json()["error"]


@pytest.mark.parametrize(
    ("where", "named", "says"),
    [
        # values a field cannot be compared with are ValidationException, like in bodies
        ({"views": 10**30}, {"field": "views"}, "between"),  # beyond a 64-bit integer
        ({"views": {"$gt": 10**30}}, {"field": "views"}, "between"),
        ({"title": "a\u0000b"}, {"field": "title"}, "NUL"),
        # the shape of the query itself: InvalidSearchParamsException
        ({"slug": {"$in": ["x"] * 6000}}, {"entity": None}, "too many values (max 5000)"),
        ({"$or": [{"$or": [{"$or": [{"$or": [{"$or": [{"$or": [{"$or": [{"$or": [{"$or": [{"$or": [{"$or": [
            {"$or": [{"$or": [{"$or": [{"$or": [{"$or": [{"$or": [{"title": "x"}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]},
         {"entity": None}, "nested too deeply (max 16 levels)"),
    ],
)
def test_hostile_where_values_are_422(api: httpx.Client, posts: str, where: dict[str, Any],
                                      named: dict[str, Any], says: str) -> None:
    body = err(api.post(f"/api/data/entity/{posts}/query", json={"where": where}), 422)
    expected = "ValidationException" if "field" in named else "InvalidSearchParamsException"
    assert body["type"] == expected, body
    assert says in body["error"], body
    for key, value in named.items():
        assert body["context"][key] == (posts if key == "entity" else value), body


def test_hostile_ids_and_bodies_never_5xx(api: httpx.Client, posts: str) -> None:
    assert api.get(f"/api/data/entity/{posts}/99999999999999999999999").status_code == 404
    assert api.get(f"/api/data/entity/{posts}/-1").status_code == 404
    assert api.patch(f"/api/data/entity/{posts}/1e9", json={"title": "ok"}).status_code == 404
    err(api.post(f"/api/data/entity/{posts}", json={"title": "nul\u0000"}), 422)
    err(api.post(f"/api/data/entity/{posts}", json={"title": "ok", "views": 2**63}), 422)
    deep: Any = 1
    for _ in range(200):
        deep = [deep]
    r = api.post(f"/api/data/entity/{posts}", json={"title": "ok", "kind": deep})
    assert r.status_code == 422
