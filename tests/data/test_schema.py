"""Defining data: bknd's config routes, the schema file, sync, destructive-change guard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import add_entity, add_relation, admin_headers, unique


def test_config_routes_answer_like_bknd(api: httpx.Client) -> None:
    e = unique("cfg")
    r = api.post(f"/api/system/config/add/data/entities.{e}", json={"fields": {"a": {"type": "text"}}})
    assert r.status_code == 202
    body = r.json()
    assert body["success"] is True and body["module"] == "data" and e in body["config"]["entities"]
    again = api.post(f"/api/system/config/add/data/entities.{e}", json={"fields": {}})
    assert again.status_code == 400 and "already exists" in again.json()["error"]
    r = api.patch(f"/api/system/config/patch/data/entities.{e}", json={"fields": {"b": {"type": "number"}}})
    assert r.status_code == 202
    row = api.post(f"/api/data/entity/{e}", json={"a": "x", "b": 2}).json()["data"]
    assert row == {"id": 1, "a": "x", "b": 2}
    r = api.put(f"/api/system/config/overwrite/data/entities.{e}.fields.b", json={"type": "number", "config": {"maximum": 5}})
    assert r.status_code == 202
    assert api.post(f"/api/data/entity/{e}", json={"b": 9}).status_code == 422
    assert api.get("/api/system/config/data").json()["config"]["entities"][e]["fields"]["b"]["config"] == {"maximum": 5}


def test_overwriting_the_fields_whole_keeps_nodebases_own_options(api: httpx.Client) -> None:
    """bknd's schema editor saves an entity's fields whole in bknd's keys: a field that keeps
    its type keeps nodebase's options bknd never showed (unique, index, integer, a json field's
    schema), in the dry run too; naming one changes it; a field whose type changes keeps none."""
    e = unique("keep")
    add_entity(api, e, {"slug": {"type": "text", "config": {"unique": True, "index": True}},
                        "n": {"type": "number", "config": {"integer": True}},
                        "doc": {"type": "json", "config": {"schema": {"type": "object"}}},
                        "code": {"type": "text", "config": {"unique": True}}})
    sent = {"slug": {"type": "text", "config": {"label": "Slug"}}, "n": {"type": "number", "config": {}},
            "doc": {"type": "json", "config": {}}, "code": {"type": "number", "config": {}}}
    path = f"/api/system/config/overwrite/data/entities.{e}.fields"
    plan = api.put(path, params={"plan": 1}, json=sent)
    assert plan.status_code == 200, plan.text
    dropped = [c["name"] for c in plan.json()["plan"]["changes"] if c["kind"] == "drop_index"]
    assert dropped == [f"idx_unique_{e}_code"]  # slug's indices stay
    r = api.put(path, params={"drop": 1}, json=sent)
    assert r.status_code == 202, r.text
    fields = api.get("/api/system/config/data").json()["config"]["entities"][e]["fields"]
    assert fields["slug"]["config"] == {"unique": True, "index": True, "label": "Slug"}
    assert fields["n"]["config"] == {"integer": True}
    assert fields["doc"]["config"] == {"schema": {"type": "object"}}
    assert fields["code"]["config"] == {}  # a new type: nothing carried over
    r = api.put(path, json={**sent, "slug": {"type": "text", "config": {"unique": False}}})
    assert r.status_code == 202, r.text
    slug = api.get("/api/system/config/data").json()["config"]["entities"][e]["fields"]["slug"]["config"]
    assert slug == {"unique": False, "index": True}


def test_invalid_schema_is_400_listing_problems(api: httpx.Client) -> None:
    e = unique("bad")
    r = api.post(f"/api/system/config/add/data/entities.{e}",
                 json={"fields": {"a": {"type": "bogus"}, "b": {"type": "text", "config": {"minLength": "x"}}}})
    assert r.status_code == 400
    body = r.json()
    assert body["success"] is False and body["type"] == "type-invalid"
    assert any("bogus" in e["error"] for e in body["errors"])
    assert api.get(f"/api/data/entity/{e}").status_code == 404  # nothing was created
    r = api.post("/api/system/config/add/data/relations.r_bad", json={"type": "n:1", "source": "nope", "target": "nope2"})
    assert r.status_code == 400 and "unknown entity" in r.json()["error"]
    r = api.post(f"/api/system/config/add/data/entities.{e}", content=b"{oops", headers={"content-type": "application/json"})
    assert r.status_code == 400


def test_destructive_changes_need_the_drop_flag(api: httpx.Client) -> None:
    e = unique("drop")
    add_entity(api, e, {"a": {"type": "text"}, "b": {"type": "text", "config": {"unique": True}}})
    api.post(f"/api/data/entity/{e}", json={"a": "keep", "b": "gone"})
    r = api.delete(f"/api/system/config/remove/data/entities.{e}.fields.b")
    assert r.status_code == 409
    body = r.json()
    assert body["type"] == "DestructiveChangeException" and "drop" in body["error"]
    assert body["context"]["changes"][0]["kind"] == "drop_column"
    assert api.get(f"/api/data/entity/{e}/1").json()["data"]["b"] == "gone"  # nothing changed
    r = api.delete(f"/api/system/config/remove/data/entities.{e}.fields.b?drop=1")
    assert r.status_code == 202
    assert api.get(f"/api/data/entity/{e}/1").json()["data"] == {"id": 1, "a": "keep"}
    assert api.delete(f"/api/system/config/remove/data/entities.{e}").status_code == 409
    assert api.delete(f"/api/system/config/remove/data/entities.{e}?drop=1").status_code == 202
    assert api.get(f"/api/data/entity/{e}").status_code == 404


def test_dropping_a_relation_needs_the_flag(api: httpx.Client) -> None:
    a, b = unique("ra"), unique("rb")
    add_entity(api, a, {"n": {"type": "text"}})
    add_entity(api, b, {"n": {"type": "text"}})
    add_relation(api, f"n1_{b}_{a}", {"type": "n:1", "source": b, "target": a})
    assert api.delete(f"/api/system/config/remove/data/relations.n1_{b}_{a}").status_code == 409
    assert api.delete(f"/api/system/config/remove/data/relations.n1_{b}_{a}?drop=1").status_code == 202
    assert f"{a}_id" not in api.post(f"/api/data/entity/{b}", json={"n": "x"}).json()["data"]


def test_one_to_one_is_unique_and_indices_apply(api: httpx.Client) -> None:
    u, s = unique("oou"), unique("oos")
    add_entity(api, u, {"n": {"type": "text"}})
    add_entity(api, s, {"k": {"type": "text"}})
    add_relation(api, f"11_{s}_{u}", {"type": "1:1", "source": s, "target": u})
    user = api.post(f"/api/data/entity/{u}", json={"n": "x"}).json()["data"]
    assert api.post(f"/api/data/entity/{s}", json={"k": "a", f"{u}_id": user["id"]}).status_code == 201
    assert api.post(f"/api/data/entity/{s}", json={"k": "b", f"{u}_id": user["id"]}).status_code == 409
    got = api.get(f"/api/data/entity/{u}/{user['id']}", params={"with": s}).json()["data"]
    assert got[s]["k"] == "a"  # to-one from the target side is an object
    r = api.post(f"/api/system/config/add/data/indices.idx_{s}_k", json={"entity": s, "fields": ["k"], "unique": True})
    assert r.status_code == 202
    api.post(f"/api/data/entity/{s}", json={"k": "z"})
    assert api.post(f"/api/data/entity/{s}", json={"k": "z"}).status_code == 409


def test_sync_route_reports_no_pending_changes(api: httpx.Client) -> None:
    r = api.get("/api/data/sync")
    assert r.status_code == 200
    body = r.json()
    assert body["changes"] == [] and isinstance(body["tables"], list)


def test_schema_description_routes(api: httpx.Client) -> None:
    e = unique("desc")
    add_entity(api, e, {"title": {"type": "text", "config": {"required": True}}, "n": {"type": "number"}})
    assert e in api.get("/api/data").json()["entities"]
    s = api.get(f"/api/data/schemas/{e}/create").json()
    assert s["required"] == ["title"] and "id" not in s["properties"]
    assert api.get("/api/data/schema.json").json()["$defs"][e]["properties"]["n"]["type"] == ["number", "null"]
    ts = api.get("/api/data/types")
    assert ts.headers["content-type"].startswith("text/plain") and "title: string;" in ts.text
    info = api.get(f"/api/data/info/{e}").json()
    assert info["name"] == e and [f["name"] for f in info["fields"]] == ["id", "title", "n"]


def test_schema_file_is_loaded_at_start_and_kept_in_sync(make_node: Any, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    schema = {"data": {"entities": {"notes": {"fields": {"text": {"type": "text", "config": {"required": True}}}}}}}
    (project / "nodebase.schema.json").write_text(json.dumps(schema))
    node = make_node(project_dir=project)
    with node.client(headers=admin_headers(node)) as api:
        r = api.post("/api/data/entity/notes", json={"text": "from the file"})
        assert r.status_code == 201
        assert api.post("/api/data/entity/notes", json={}).status_code == 422
        api.post("/api/system/config/add/data/entities.tags", json={"fields": {"label": {"type": "text"}}})
    saved = json.loads((project / "nodebase.schema.json").read_text())
    assert set(saved["data"]["entities"]) == {"notes", "tags"}
    node.stop()
    # removing an entity from the file is destructive: not applied at start, shown by sync
    del saved["data"]["entities"]["tags"]
    (project / "nodebase.schema.json").write_text(json.dumps(saved))
    shown = json.loads(node.cli("sync").stdout)
    assert [c["kind"] for c in shown["changes"]] == ["drop_table"]
    node.start()
    with node.client(headers=admin_headers(node)) as api:
        assert api.get("/api/data/entity/tags").status_code == 404
        assert api.get("/api/data/entity/notes").json()["meta"]["count"] == 1
    node.stop()
    applied = json.loads(node.cli("sync", "--drop").stdout)
    assert [c["kind"] for c in applied["applied"]] == ["drop_table"]
    assert "tags" not in applied["tables"]
