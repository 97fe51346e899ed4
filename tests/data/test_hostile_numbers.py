"""Hostile numbers and relation paths: always a 4xx naming the problem, never a 5xx.

Integers beyond 64 bits (and beyond what SQLite's INTEGER / PostgreSQL's bigint hold) reach
the query parser, the field validators, error messages and the JSON encoder; relation paths
in ``where`` compile to nested subqueries. Each must answer a clear 4xx on every route.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import add_entity, add_relation, unique

HUGE = [
    "18446744073709551616",  # 2^64: orjson gives up on it
    "-9223372036854775809",  # -2^63 - 1
    "9223372036854775808",  # 2^63: fits orjson's u64, not a bigint
    "1" + "0" * 30,
    "9" * 5000,  # longer than Python's int-from-string limit
]


@pytest.fixture(scope="module")
def schema(node: Any) -> dict[str, str]:
    from tests.conftest import admin_headers

    with node.client(headers=admin_headers(node)) as api:
        posts, authors = unique("hposts"), unique("hauthors")
        add_entity(api, posts, {"title": {"type": "text"}, "views": {"type": "number"},
                                "n": {"type": "integer"}})
        add_entity(api, authors, {"name": {"type": "text"}})
        add_relation(api, f"{posts}_{authors}", {"type": "m:n", "source": posts, "target": authors})
        r = api.post(f"/api/data/entity/{posts}", json={"title": "one", "views": 1, "n": 1})
        assert r.status_code == 201, r.text
        return {"posts": posts, "authors": authors, "id": str(r.json()["data"]["id"])}


def err(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, (r.request.method, str(r.request.url)[:200], r.status_code, r.text[:300])
    body = r.json()
    assert set(body) >= {"error", "type", "context"}, body
    return body


def _raw(api: httpx.Client, method: str, path: str, body: str) -> httpx.Response:
    return api.request(method, path, content=body.encode(), headers={"content-type": "application/json"})


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize("param", ["offset", "limit"])
def test_out_of_range_offset_and_limit_are_422_on_every_list_route(
    api: httpx.Client, schema: dict[str, str], param: str, value: str
) -> None:
    p, a, pid = schema["posts"], schema["authors"], schema["id"]
    for path in (f"/api/data/entity/{p}", f"/api/data/entity/{p}/{pid}/{a}"):
        body = err(api.get(f"{path}?{param}={value}"), 422)
        assert body["context"]["param"] == param
        assert param in body["error"]
    # the same numbers as JSON numbers in a query body, and inside `with`; a number beyond a
    # double's range is malformed JSON to the parser (400)
    status = 400 if len(value) > 300 else 422
    for query in (f'{{"{param}": {value}}}', f'{{"with": {{"{a}": {{"{param}": {value}}}}}}}'):
        body = err(_raw(api, "POST", f"/api/data/entity/{p}/query", query), status)
        if status == 422:
            assert body["context"]["param"] == param
        else:
            assert body["type"] == "InvalidJsonException"


def test_limits_at_the_edges_still_work(api: httpx.Client, schema: dict[str, str]) -> None:
    p = schema["posts"]
    assert api.get(f"/api/data/entity/{p}?limit=10000&offset=0").status_code == 200
    assert api.get(f"/api/data/entity/{p}?offset=9007199254740992").json()["data"] == []
    err(api.get(f"/api/data/entity/{p}?offset=9007199254740993"), 422)
    err(api.get(f"/api/data/entity/{p}?limit=10001"), 422)
    err(api.get(f"/api/data/entity/{p}?limit=-1"), 422)


@pytest.mark.parametrize("value", HUGE[:4])
@pytest.mark.parametrize("field", ["views", "n", "id"])
def test_out_of_range_numbers_in_where_are_422(api: httpx.Client, schema: dict[str, str], field: str, value: str) -> None:
    p = schema["posts"]
    for where in (f'{{"{field}": {value}}}', f'{{"{field}": {{"$gt": {value}}}}}', f'{{"{field}": [1, {value}]}}',
                  f'{{"{field}": {{"$between": [1, {value}]}}}}'):
        for method, path, body in (
            ("GET", f"/api/data/entity/{p}?where={where}", ""),
            ("POST", f"/api/data/entity/{p}/query", f'{{"where": {where}}}'),
            ("POST", f"/api/data/entity/{p}/fn/count", where),
            ("POST", f"/api/data/entity/{p}/fn/exists", where),
            ("PATCH", f"/api/data/entity/{p}", f'{{"update": {{"title": "x"}}, "where": {where}}}'),
            ("DELETE", f"/api/data/entity/{p}", where),
        ):
            out = err(_raw(api, method, path, body), 422)
            assert out["context"].get("field") == field, out
    # the row is still there: nothing was changed or deleted by a misread number
    assert api.get(f"/api/data/entity/{p}/{schema['id']}").json()["data"]["title"] == "one"


@pytest.mark.parametrize("value", HUGE[:4])
@pytest.mark.parametrize("field", ["views", "n"])
def test_out_of_range_numbers_in_bodies_are_422(api: httpx.Client, schema: dict[str, str], field: str, value: str) -> None:
    p, pid = schema["posts"], schema["id"]
    for method, path, body in (
        ("POST", f"/api/data/entity/{p}", f'{{"{field}": {value}}}'),
        ("POST", f"/api/data/entity/{p}", f'[{{"{field}": {value}}}]'),
        ("PATCH", f"/api/data/entity/{p}/{pid}", f'{{"{field}": {value}}}'),
        ("PATCH", f"/api/data/entity/{p}", f'{{"update": {{"{field}": {value}}}, "where": {{"id": {pid}}}}}'),
    ):
        out = err(_raw(api, method, path, body), 422)
        assert out["context"]["field"] == field, out
        assert "between" in out["error"], out
    row = api.get(f"/api/data/entity/{p}/{pid}").json()["data"]
    assert (row["views"], row["n"]) == (1, 1)


def test_integers_are_read_exactly(api: httpx.Client, schema: dict[str, str]) -> None:
    """A 64-bit integer in a body is stored exactly, not rounded through a float."""
    p = schema["posts"]
    for value in (2**63 - 1, -(2**63), 2**53 + 1):
        r = _raw(api, "POST", f"/api/data/entity/{p}", f'{{"n": {value}}}')
        assert r.status_code == 201, r.text
        assert r.json()["data"]["n"] == value
        rid = r.json()["data"]["id"]
        found = api.get(f"/api/data/entity/{p}", params={"where": f'{{"n": {value}}}', "select": "id"})
        assert [x["id"] for x in found.json()["data"]] == [rid]
        assert api.delete(f"/api/data/entity/{p}/{rid}").status_code == 200


def test_huge_numbers_in_other_error_messages_are_json(api: httpx.Client, schema: dict[str, str]) -> None:
    """A number that ends up in an error's context must not break the JSON encoder."""
    p = schema["posts"]
    body = err(_raw(api, "POST", f"/api/data/entity/{p}/query", '{"limit": 18446744073709551617}'), 422)
    assert "18446744073709551617" in str(body["context"]["value"])
    err(_raw(api, "POST", f"/api/data/entity/{p}/query", '{"sort": 18446744073709551617}'), 422)
    err(_raw(api, "POST", f"/api/data/entity/{p}", '{"title": 18446744073709551617}'), 422)


# -- long relation paths --------------------------------------------------------------------
def _path(hops: int, schema: dict[str, str], *, start: str = "posts") -> str:
    """A where key of ``hops`` relations (posts -> authors -> posts ...) ending in a field."""
    other = {"posts": "authors", "authors": "posts"}
    names, at = [], start
    for _ in range(hops):
        at = other[at]
        names.append(schema[at])
    return ".".join([*names, "title" if at == "posts" else "name"])


@pytest.mark.parametrize("hops", [7, 10, 40])
def test_long_relation_paths_are_422_everywhere(api: httpx.Client, schema: dict[str, str], hops: int) -> None:
    p = schema["posts"]
    key = _path(hops, schema)
    where = f'{{"{key}": "x"}}'
    for method, path, body in (
        ("GET", f"/api/data/entity/{p}?where={where}", ""),
        ("POST", f"/api/data/entity/{p}/query", f'{{"where": {where}}}'),
        ("POST", f"/api/data/entity/{p}/fn/count", where),
        ("POST", f"/api/data/entity/{p}/fn/exists", where),
        ("PATCH", f"/api/data/entity/{p}", f'{{"update": {{"title": "x"}}, "where": {where}}}'),
        ("DELETE", f"/api/data/entity/{p}", where),
        ("POST", f"/api/data/entity/{p}/query", f'{{"with": {{"{schema["authors"]}": {{"where": {{"{_path(hops, schema, start="authors")}": "x"}}}}}}}}'),
    ):
        out = err(_raw(api, method, path, body), 422)
        assert "max 6 relations" in out["error"], out


def _nested_or(leaf: dict[str, Any], levels: int) -> dict[str, Any]:
    for _ in range(levels):
        leaf = {"$or": [leaf, {"id": -1}]}
    return leaf


def test_the_longest_allowed_paths_work_at_the_deepest_nesting(api: httpx.Client, schema: dict[str, str]) -> None:
    """Six relations (path hops plus with levels) inside the deepest allowed where: no 5xx."""
    p, a = schema["posts"], schema["authors"]
    where = _nested_or({_path(6, schema): "nobody"}, 15)  # where's depth cap is 16
    assert api.post(f"/api/data/entity/{p}/query", json={"where": where}).json()["data"] == []
    assert api.post(f"/api/data/entity/{p}/fn/count", json=where).json()["count"] == 0
    assert api.post(f"/api/data/entity/{p}/fn/exists", json=where).json()["exists"] is False
    assert api.request("DELETE", f"/api/data/entity/{p}", json=where).json()["data"] == []
    r = api.patch(f"/api/data/entity/{p}", json={"update": {"title": "y"}, "where": where})
    assert r.json()["data"] == [], r.text
    # a path that continues inside $or counts all its relations
    split = {f"{a}.$or": [{_path(6, schema, start="authors"): "x"}, {"id": -1}]}
    err(api.post(f"/api/data/entity/{p}/query", json={"where": split}), 422)

    def nested_with(levels: int, extra_hop_at: int = 0) -> dict[str, Any]:
        inner: dict[str, Any] = {}
        for level in range(levels, 0, -1):  # level 1 embeds authors, 2 posts, 3 authors...
            on_authors = level % 2 == 1
            hops = 6 - level + (1 if level == extra_hop_at else 0)
            start = "authors" if on_authors else "posts"
            leaf = {_path(hops, schema, start=start): "nobody"} if hops else {"id": -1}
            sub: dict[str, Any] = {"where": _nested_or(leaf, 15)}
            if inner:
                sub["with"] = inner
            inner = {a if on_authors else p: sub}
        return {"with": inner}

    deepest = 6  # parse_with accepts six levels below the top query
    r = api.post(f"/api/data/entity/{p}/query", json=nested_with(deepest))
    assert r.status_code == 200, r.text
    assert r.json()["data"][0][a] == []
    for level in range(1, deepest + 1):
        body = err(api.post(f"/api/data/entity/{p}/query", json=nested_with(deepest, extra_hop_at=level)), 422)
        assert "max 6 relations" in body["error"], body
    body = err(api.post(f"/api/data/entity/{p}/query", json=nested_with(deepest + 1)), 422)
    assert "with is nested too deeply" in body["error"]
