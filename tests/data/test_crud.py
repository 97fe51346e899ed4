"""REST CRUD exactly as bknd's clients use it (reference §2.2, §3.2)."""

from __future__ import annotations

import httpx

from tests.conftest import add_entity, unique

POSTS = {
    "title": {"type": "text", "config": {"required": True, "maxLength": 100}},
    "body": {"type": "text"},
    "views": {"type": "number", "config": {"minimum": 0}},
    "published": {"type": "boolean"},
}


def make_posts(api: httpx.Client) -> str:
    name = unique("posts")
    add_entity(api, name, POSTS)
    return name


def test_create_one_returns_201_and_row(api: httpx.Client) -> None:
    e = make_posts(api)
    r = api.post(f"/api/data/entity/{e}", json={"title": "Hello", "views": 3, "published": True})
    assert r.status_code == 201
    body = r.json()
    assert body["data"] == {"id": 1, "title": "Hello", "body": None, "views": 3, "published": True}
    assert body["meta"]["items"] == 1


def test_create_many_with_array_body(api: httpx.Client) -> None:
    e = make_posts(api)
    r = api.post(f"/api/data/entity/{e}", json=[{"title": "a"}, {"title": "b"}, {"title": "c"}])
    assert r.status_code == 201
    data = r.json()["data"]
    assert [row["title"] for row in data] == ["a", "b", "c"]
    assert len({row["id"] for row in data}) == 3


def test_read_one_and_missing_row(api: httpx.Client) -> None:
    e = make_posts(api)
    created = api.post(f"/api/data/entity/{e}", json={"title": "x", "views": 1}).json()["data"]
    r = api.get(f"/api/data/entity/{e}/{created['id']}")
    assert r.status_code == 200
    assert r.json()["data"] == created
    missing = api.get(f"/api/data/entity/{e}/99999")
    assert missing.status_code == 404
    assert missing.json()["meta"]["items"] == 0
    assert "data" not in missing.json()
    not_an_id = api.get(f"/api/data/entity/{e}/abc")
    assert not_an_id.status_code == 404


def test_list_envelope_counts_and_defaults(api: httpx.Client) -> None:
    e = make_posts(api)
    api.post(f"/api/data/entity/{e}", json=[{"title": f"t{i}", "views": i} for i in range(15)])
    r = api.get(f"/api/data/entity/{e}")
    assert r.status_code == 200
    body = r.json()
    assert len(body["data"]) == 10  # bknd's default limit
    assert body["meta"]["items"] == 10
    assert body["meta"]["count"] == 15
    assert body["meta"]["total"] == 15
    assert isinstance(body["meta"]["time"], float | int)
    filtered = api.get(f"/api/data/entity/{e}", params={"where": '{"views":{"$gte":10}}', "limit": 2})
    assert filtered.json()["meta"] == {**filtered.json()["meta"], "items": 2, "count": 5, "total": 15}


def test_meta_counts_can_be_switched_off(api: httpx.Client) -> None:
    e = make_posts(api)
    api.post(f"/api/data/entity/{e}", json=[{"title": f"t{i}"} for i in range(12)])
    meta = api.get(f"/api/data/entity/{e}?count=false").json()["meta"]
    assert "count" not in meta and "total" not in meta
    assert meta["items"] == 10
    body = api.post(f"/api/data/entity/{e}/query", json={"count": False, "limit": 3}).json()
    assert "count" not in body["meta"] and body["meta"]["items"] == 3


def test_update_one_and_many(api: httpx.Client) -> None:
    e = make_posts(api)
    rows = api.post(f"/api/data/entity/{e}", json=[{"title": "a", "views": 1}, {"title": "b", "views": 2},
                                                  {"title": "c", "views": 30}]).json()["data"]
    r = api.patch(f"/api/data/entity/{e}/{rows[0]['id']}", json={"title": "A"})
    assert r.status_code == 200
    assert r.json()["data"]["title"] == "A" and r.json()["data"]["views"] == 1
    many = api.patch(f"/api/data/entity/{e}", json={"update": {"published": True}, "where": {"views": {"$lt": 10}}})
    assert many.status_code == 200
    assert sorted(x["id"] for x in many.json()["data"]) == [rows[0]["id"], rows[1]["id"]]
    assert api.get(f"/api/data/entity/{e}/{rows[2]['id']}").json()["data"]["published"] is None
    assert api.patch(f"/api/data/entity/{e}/424242", json={"title": "z"}).status_code == 404


def test_bulk_update_and_delete_need_a_where(api: httpx.Client) -> None:
    e = make_posts(api)
    api.post(f"/api/data/entity/{e}", json=[{"title": "a"}, {"title": "b"}])
    r = api.patch(f"/api/data/entity/{e}", json={"update": {"title": "x"}, "where": {}})
    assert r.status_code == 400 and "where" in r.json()["error"]
    r = api.request("DELETE", f"/api/data/entity/{e}", json={})
    assert r.status_code == 400
    assert api.post(f"/api/data/entity/{e}/fn/count", json={}).json()["count"] == 2


def test_delete_one_and_many(api: httpx.Client) -> None:
    e = make_posts(api)
    rows = api.post(f"/api/data/entity/{e}", json=[{"title": t, "views": v} for t, v in
                                                  [("a", 1), ("b", 5), ("c", 50)]]).json()["data"]
    r = api.delete(f"/api/data/entity/{e}/{rows[0]['id']}")
    assert r.status_code == 200 and r.json()["data"]["title"] == "a"
    assert api.get(f"/api/data/entity/{e}/{rows[0]['id']}").status_code == 404
    assert api.delete(f"/api/data/entity/{e}/{rows[0]['id']}").status_code == 404
    many = api.request("DELETE", f"/api/data/entity/{e}", json={"views": {"$gt": 2}})
    assert many.status_code == 200
    assert sorted(x["title"] for x in many.json()["data"]) == ["b", "c"]
    assert api.post(f"/api/data/entity/{e}/fn/count").json() == {"entity": e, "count": 0}


def test_count_and_exists_are_unenveloped(api: httpx.Client) -> None:
    e = make_posts(api)
    api.post(f"/api/data/entity/{e}", json=[{"title": "a", "views": 1}, {"title": "b", "views": 9}])
    assert api.post(f"/api/data/entity/{e}/fn/count", json={"views": {"$gt": 5}}).json() == {"entity": e, "count": 1}
    assert api.post(f"/api/data/entity/{e}/fn/exists", json={"title": "b"}).json() == {"entity": e, "exists": True}
    assert api.post(f"/api/data/entity/{e}/fn/exists", json={"title": "zz"}).json() == {"entity": e, "exists": False}


def test_unknown_entity_is_404_json(api: httpx.Client) -> None:
    r = api.get("/api/data/entity/nope_nothing")
    assert r.status_code == 404
    assert r.json()["context"] == {"entity": "nope_nothing"}


def test_types_round_trip(api: httpx.Client) -> None:
    e = unique("typed")
    add_entity(api, e, {
        "n_int": {"type": "number", "config": {"integer": True}},
        "n_float": {"type": "number"},
        "flag": {"type": "boolean"},
        "day": {"type": "date"},
        "at": {"type": "datetime"},
        "kind": {"type": "enum", "config": {"options": {"type": "strings", "values": ["a", "b"]}}},
        "doc": {"type": "json"},
    })
    body = {"n_int": 7, "n_float": 2.5, "flag": False, "day": "2026-11-22", "at": "2026-11-22T10:00:00+02:00",
            "kind": "b", "doc": {"nested": [1, {"x": None}], "s": "é"}}
    row = api.post(f"/api/data/entity/{e}", json=body).json()["data"]
    assert row["n_int"] == 7 and row["n_float"] == 2.5 and row["flag"] is False
    assert row["day"] == "2026-11-22"
    assert row["at"] == "2026-11-22T08:00:00.000Z"
    assert row["kind"] == "b"
    assert row["doc"] == {"nested": [1, {"x": None}], "s": "é"}
    again = api.get(f"/api/data/entity/{e}/{row['id']}").json()["data"]
    assert again == row


def test_uuid_primary_keys(api: httpx.Client) -> None:
    e = unique("uuids")
    add_entity(api, e, {"title": {"type": "text"}}, config={"primary_format": "uuid"})
    a = api.post(f"/api/data/entity/{e}", json={"title": "a"}).json()["data"]
    b = api.post(f"/api/data/entity/{e}", json={"title": "b"}).json()["data"]
    assert isinstance(a["id"], str) and len(a["id"]) == 36 and a["id"][14] == "7"
    assert a["id"] < b["id"]  # time-ordered
    assert api.get(f"/api/data/entity/{e}/{a['id']}").json()["data"]["title"] == "a"
