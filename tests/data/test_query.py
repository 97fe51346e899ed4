"""The query language: where operators, $or/$and nesting, sort, select, join, with."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import add_entity, add_relation, unique


@pytest.fixture(scope="module")
def blog(node: Any) -> dict[str, str]:
    """posts ← comments (n:1), posts ↔ tags (m:n), authors ← posts (n:1)."""
    from tests.conftest import admin_headers

    with node.client(headers=admin_headers(node)) as api:
        p, c, t, a = unique("qposts"), unique("qcomments"), unique("qtags"), unique("qauthors")
        add_entity(api, a, {"name": {"type": "text"}})
        add_entity(api, p, {"title": {"type": "text"}, "views": {"type": "number"},
                            "published": {"type": "boolean"}, "day": {"type": "date"}})
        add_entity(api, c, {"text": {"type": "text"}})
        add_entity(api, t, {"label": {"type": "text"}})
        add_relation(api, f"n1_{p}_{a}", {"type": "n:1", "source": p, "target": a, "config": {"mappedBy": "author"}})
        add_relation(api, f"n1_{c}_{p}", {"type": "n:1", "source": c, "target": p})
        add_relation(api, f"mn_{p}_{t}", {"type": "m:n", "source": p, "target": t})
        ann, bob = api.post(f"/api/data/entity/{a}", json=[{"name": "Ann"}, {"name": "Bob"}]).json()["data"]
        tags = api.post(f"/api/data/entity/{t}", json=[{"label": "x"}, {"label": "y"}]).json()["data"]
        rows = [
            {"title": "First", "views": 10, "published": True, "day": "2026-01-01", "author": {"$set": {"id": ann["id"]}}},
            {"title": "Second", "views": 50, "published": False, "day": "2026-02-01", "author_id": bob["id"]},
            {"title": "Third", "views": 75, "published": True, "day": "2026-03-01"},
            {"title": "Fourth", "views": 100, "published": None, "day": "2026-04-01",
             t: {"$attach": [tags[0]["id"], tags[1]["id"]]}},
        ]
        posts = [api.post(f"/api/data/entity/{p}", json=r).json()["data"] for r in rows]
        api.post(f"/api/data/entity/{c}", json=[
            {"text": "c1", f"{p}_id": posts[0]["id"]},
            {"text": "c2", f"{p}_id": posts[0]["id"]},
            {"text": "c3", f"{p}_id": posts[2]["id"]},
        ])
        return {"posts": p, "comments": c, "tags": t, "authors": a}


def titles(api: httpx.Client, entity: str, **params: Any) -> list[str]:
    q = {k: (json.dumps(v) if isinstance(v, dict | list) and k in ("where", "with") else v) for k, v in params.items()}
    r = api.get(f"/api/data/entity/{entity}", params={"sort": "id", **q})
    assert r.status_code == 200, r.text
    return [row["title"] for row in r.json()["data"]]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"views": 50}, ["Second"]),
        ({"views": {"$eq": 50}}, ["Second"]),
        ({"views": {"$ne": 50}}, ["First", "Third", "Fourth"]),
        ({"views": {"$gt": 50}}, ["Third", "Fourth"]),
        ({"views": {"$gte": 50}}, ["Second", "Third", "Fourth"]),
        ({"views": {"$lt": 50}}, ["First"]),
        ({"views": {"$lte": 50}}, ["First", "Second"]),
        ({"views": {"$in": [10, 100]}}, ["First", "Fourth"]),
        ({"views": {"$notin": [10, 100]}}, ["Second", "Third"]),
        ({"views": {"$in": []}}, []),
        ({"views": {"$between": [40, 80]}}, ["Second", "Third"]),
        ({"day": {"$between": ["2026-01-15", "2026-03-15"]}}, ["Second", "Third"]),
        ({"title": {"$like": "*ir*"}}, ["First", "Third"]),
        ({"title": {"$like": "f%"}}, ["First", "Fourth"]),
        ({"published": True}, ["First", "Third"]),
        ({"published": False}, ["Second"]),
        ({"published": {"$isnull": True}}, ["Fourth"]),
        ({"published": {"$isnull": 0}}, ["First", "Second", "Third"]),
        ({"published": None}, ["Fourth"]),
        ({"views": {"$gt": 5, "$lt": 60}}, ["First", "Second"]),
    ],
)
def test_operators(api: httpx.Client, blog: dict[str, str], where: dict[str, Any], expected: list[str]) -> None:
    assert titles(api, blog["posts"], where=where) == expected


def test_or_combines_with_top_level_as_it_reads(api: httpx.Client, blog: dict[str, str]) -> None:
    # bknd returns all rows here ((A) OR (B OR C)); nodebase means A AND (B OR C)
    where = {"views": {"$lt": 100}, "$or": {"title": "Second", "views": {"$gt": 70}}}
    assert titles(api, blog["posts"], where=where) == ["Second", "Third"]


def test_or_and_nest(api: httpx.Client, blog: dict[str, str]) -> None:
    where = {"$or": [{"$and": [{"published": True}, {"views": {"$gt": 20}}]}, {"title": "Second"}]}
    assert titles(api, blog["posts"], where=where) == ["Second", "Third"]
    where = {"$and": {"$or": {"views": 10, "title": "Fourth"}, "published": True}}
    assert titles(api, blog["posts"], where=where) == ["First"]
    assert titles(api, blog["posts"], where={"$not": {"views": {"$gt": 20}}}) == ["First"]


def test_sort_forms(api: httpx.Client, blog: dict[str, str]) -> None:
    p = blog["posts"]
    assert titles(api, p, sort="-views") == ["Fourth", "Third", "Second", "First"]
    assert titles(api, p, sort="views") == ["First", "Second", "Third", "Fourth"]
    assert titles(api, p, sort='{"by":"views","dir":"desc"}') == ["Fourth", "Third", "Second", "First"]
    body = api.post(f"/api/data/entity/{p}/query", json={"sort": {"by": "title", "dir": "asc"}}).json()
    assert [r["title"] for r in body["data"]] == ["First", "Fourth", "Second", "Third"]


def test_limit_offset(api: httpx.Client, blog: dict[str, str]) -> None:
    assert titles(api, blog["posts"], limit=2, offset=1) == ["Second", "Third"]
    r = api.get(f"/api/data/entity/{blog['posts']}", params={"limit": 2, "offset": 1})
    assert r.json()["meta"]["count"] == 4


def test_select_comma_and_repeated_keys(api: httpx.Client, blog: dict[str, str]) -> None:
    p = blog["posts"]
    a = api.get(f"/api/data/entity/{p}", params={"select": "id,title", "limit": 1}).json()["data"]
    b = api.get(f"/api/data/entity/{p}", params=[("select", "id"), ("select", "title"), ("limit", "1")]).json()["data"]
    assert a == b and set(a[0]) == {"id", "title"}
    c = api.post(f"/api/data/entity/{p}/query", json={"select": ["views"], "limit": 1}).json()["data"]
    assert c == [{"views": 10}]


def test_literal_json_characters_in_query_string(node: Any, blog: dict[str, str]) -> None:
    """bknd's client leaves { } : $ , unencoded (only " becomes %22)."""
    from tests.conftest import admin_headers

    p = blog["posts"]
    path = (f"/api/data/entity/{p}?where={{%22views%22:{{%22$gte%22:40}}}}&sort=-views"
            "&limit=5&select=id&select=title&select=views")
    u = urlsplit(node.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.request("GET", path, headers={"Accept": "application/json", **admin_headers(node)})
    resp = conn.getresponse()
    body = json.loads(resp.read())
    assert resp.status == 200, body
    assert [r["title"] for r in body["data"]] == ["Fourth", "Third", "Second"]
    assert set(body["data"][0]) == {"id", "title", "views"}


def test_long_query_via_post(api: httpx.Client, blog: dict[str, str]) -> None:
    where = {"title": {"$in": ["First"] + [f"nope{i}" for i in range(200)]}}
    r = api.post(f"/api/data/entity/{blog['posts']}/query", json={"where": where})
    assert [x["title"] for x in r.json()["data"]] == ["First"]


def test_where_on_related_fields(api: httpx.Client, blog: dict[str, str]) -> None:
    c, p = blog["comments"], blog["posts"]
    r = api.get(f"/api/data/entity/{c}", params={"join": p, "where": json.dumps({f"{p}.title": "First"}), "sort": "id"})
    assert [x["text"] for x in r.json()["data"]] == ["c1", "c2"]
    # to-many: posts that have a comment "c3"
    assert titles(api, p, where={f"{c}.text": "c3"}) == ["Third"]
    assert titles(api, p, where={"author.name": "Bob"}) == ["Second"]
    assert titles(api, p, where={f"{blog['tags']}.label": "y"}) == ["Fourth"]
    assert titles(api, p, where={"$or": {"author.name": "Ann", "views": 75}}) == ["First", "Third"]


def test_with_embeds_relations(api: httpx.Client, blog: dict[str, str]) -> None:
    p, c, t = blog["posts"], blog["comments"], blog["tags"]
    rows = api.get(f"/api/data/entity/{p}", params={"with": f"{c},author,{t}", "sort": "id"}).json()["data"]
    first, second, third, fourth = rows
    assert [x["text"] for x in first[c]] == ["c1", "c2"]
    assert first["author"]["name"] == "Ann" and second["author"]["name"] == "Bob"
    assert third["author"] is None and fourth[c] == []
    assert sorted(x["label"] for x in fourth[t]) == ["x", "y"]
    assert first["published"] is True  # booleans stay booleans inside embedded rows too
    comments = api.get(f"/api/data/entity/{c}", params={"with": p, "sort": "id"}).json()["data"]
    assert comments[0][p]["title"] == "First" and comments[0][p]["published"] is True


def test_nested_with_and_subquery_options(api: httpx.Client, blog: dict[str, str]) -> None:
    p, c = blog["posts"], blog["comments"]
    spec = {c: {"select": ["id", "text"], "limit": 1, "sort": "-id", "with": {p: {"select": ["title"], "with": {"author": {}}}}}}
    rows = api.get(f"/api/data/entity/{p}", params={"with": json.dumps(spec), "where": json.dumps({"title": "First"})}).json()["data"]
    assert len(rows) == 1
    emb = rows[0][c]
    assert len(emb) == 1 and set(emb[0]) == {"id", "text", p}
    assert emb[0]["text"] == "c2"
    assert emb[0][p] == {"title": "First", "author": {"id": emb[0][p]["author"]["id"], "name": "Ann"}}


def test_read_by_reference(api: httpx.Client, blog: dict[str, str]) -> None:
    p, c = blog["posts"], blog["comments"]
    first = api.get(f"/api/data/entity/{p}", params={"where": '{"title":"First"}'}).json()["data"][0]
    r = api.get(f"/api/data/entity/{p}/{first['id']}/{c}")
    assert r.status_code == 200 and sorted(x["text"] for x in r.json()["data"]) == ["c1", "c2"]
    assert r.json()["meta"]["count"] == 2
    r = api.get(f"/api/data/entity/{p}/{first['id']}/author")
    assert [x["name"] for x in r.json()["data"]] == ["Ann"]
    assert api.get(f"/api/data/entity/{p}/{first['id']}/nope").status_code == 404


def test_many_to_many_set_and_detach(api: httpx.Client, blog: dict[str, str]) -> None:
    p, t = blog["posts"], blog["tags"]
    tags = api.get(f"/api/data/entity/{t}", params={"sort": "id"}).json()["data"]
    post = api.post(f"/api/data/entity/{p}", json={"title": "Tagged", t: {"$set": [tags[0]["id"]]}}).json()["data"]
    read = lambda: sorted(x["label"] for x in api.get(f"/api/data/entity/{p}/{post['id']}/{t}").json()["data"])  # noqa: E731
    assert read() == ["x"]
    api.patch(f"/api/data/entity/{p}/{post['id']}", json={t: {"$attach": [tags[1]["id"]]}})
    assert read() == ["x", "y"]
    api.patch(f"/api/data/entity/{p}/{post['id']}", json={t: {"$detach": [{"id": tags[0]["id"]}]}})
    assert read() == ["y"]
    api.delete(f"/api/data/entity/{p}/{post['id']}")


def test_polymorphic_relation_embeds_tagged_rows(api: httpx.Client) -> None:
    p, f = unique("polyposts"), unique("polyfiles")
    add_entity(api, f, {"path": {"type": "text"}, "reference": {"type": "text"}, "entity_id": {"type": "text"}})
    add_entity(api, p, {"title": {"type": "text"}, "images": {"type": "media"}, "cover": {"type": "media"}})
    add_relation(api, f"poly_{p}_{f}_images", {"type": "poly", "source": p, "target": f, "config": {"mappedBy": "images"}})
    add_relation(api, f"poly_{p}_{f}_cover", {"type": "poly", "source": p, "target": f,
                                              "config": {"mappedBy": "cover", "targetCardinality": 1}})
    a, b = api.post(f"/api/data/entity/{p}", json=[{"title": "a"}, {"title": "b"}]).json()["data"]
    api.post(f"/api/data/entity/{f}", json=[
        {"path": "1.png", "reference": f"{p}.images", "entity_id": str(a["id"])},
        {"path": "2.png", "reference": f"{p}.images", "entity_id": str(a["id"])},
        {"path": "c.png", "reference": f"{p}.cover", "entity_id": str(a["id"])},
        {"path": "3.png", "reference": f"{p}.images", "entity_id": str(b["id"])},
    ])
    rows = api.get(f"/api/data/entity/{p}", params={"with": "images,cover", "sort": "id"}).json()["data"]
    assert [x["path"] for x in rows[0]["images"]] == ["1.png", "2.png"]
    assert rows[0]["cover"]["path"] == "c.png"
    assert [x["path"] for x in rows[1]["images"]] == ["3.png"] and rows[1]["cover"] is None
    r = api.get(f"/api/data/entity/{p}/{a['id']}/images")
    assert sorted(x["path"] for x in r.json()["data"]) == ["1.png", "2.png"]
