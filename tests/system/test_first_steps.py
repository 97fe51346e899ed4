"""What a newcomer meets first: `/`, the API docs without signing in, the schema file, messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from openapi_spec_validator import validate

from tests.auth.helpers import PASSWORD, email, register, set_auth_config
from tests.conftest import add_entity, admin_headers, unique


def test_root_points_at_the_docs(node: Any) -> None:
    r = httpx.get(node.url + "/")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["docs"] == "/api/system/swagger" and body["openapi"] == "/api/system/openapi.json"
    page = httpx.get(node.url + "/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'href="/api/system/swagger"' in page.text
    assert httpx.get(node.url + "/nothing-here").status_code == 404


def test_swagger_ui_is_open_to_anonymous_callers(node: Any) -> None:
    r = httpx.get(node.url + "/api/system/swagger")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "swagger-ui-bundle.js" in r.text
    assert httpx.get(node.url + "/api/system/swagger/swagger-ui.css").status_code == 200


def test_anonymous_callers_get_the_document_of_what_they_may_do(make_node: Any) -> None:
    node = make_node()
    admin = admin_headers(node)
    public, private = unique("pub"), unique("priv")
    with node.client(headers=admin) as c:
        add_entity(c, public, {"title": {"type": "text"}})
        add_entity(c, private, {"secret_note": {"type": "text"}})
        whole = c.get("/api/system/openapi.json").json()
    assert f"/api/data/entity/{private}" in whole["paths"]

    anonymous = httpx.get(node.url + "/api/system/openapi.json")
    assert anonymous.status_code == 200, anonymous.text
    doc = anonymous.json()
    validate(doc)
    paths = doc["paths"]
    assert "/api/auth/password/login" in paths and "/api/auth/password/register" in paths
    assert "/api/system/ping" in paths
    assert not [p for p in paths if p.startswith("/api/data/entity/")], sorted(paths)
    assert "/api/system/config" not in paths and "/api/system/info" not in paths
    assert "secret_note" not in anonymous.text and private not in anonymous.text
    assert "an anonymous caller" in doc["info"]["description"]

    # an anonymous role that may read one entity sees exactly that
    with node.client(headers=admin) as c:
        set_auth_config(c, {"roles": {"guest": {"permissions": [{
            "permission": "data.entity.read", "effect": "deny",
            "policies": [{"condition": {"entity": public}, "effect": "allow"}]}]}},
            "guard": {"anonymous_role": "guest"}})
    doc = httpx.get(node.url + "/api/system/openapi.json").json()
    validate(doc)
    entity_ops = {(p, m) for p, item in doc["paths"].items() if p.startswith("/api/data/entity/")
                  for m in item}
    assert (f"/api/data/entity/{public}", "get") in entity_ops
    assert (f"/api/data/entity/{public}", "post") not in entity_ops  # no create permission
    assert not [p for p, _ in entity_ops if private in p]
    assert "secret_note" not in json.dumps(doc)
    assert "title" in json.dumps(doc["components"]["schemas"])

    # a signed-in user without system.openapi: the same rule, for its role
    with node.client() as c:
        _, token = register(c, email("docs"), PASSWORD)
    mine = httpx.get(node.url + "/api/system/openapi.json", headers={"Authorization": f"Bearer {token}"})
    assert mine.status_code == 200 and private not in mine.text


def test_config_changes_create_the_schema_file(make_node: Any, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    node = make_node(project_dir=project)
    schema_file = project / "nodebase.schema.json"
    assert not schema_file.exists()
    with node.client(headers=admin_headers(node)) as c:
        add_entity(c, "notes", {"body": {"type": "text"}})
    assert schema_file.is_file()
    text = schema_file.read_text()
    assert text.startswith('{\n  "')  # indented: it is meant to be read and edited
    written = json.loads(text)
    assert written["entities"]["notes"]["fields"]["body"]["type"] == "text"
    # and it is what the next start loads
    node.stop()
    node.start()
    with node.client(headers=admin_headers(node)) as c:
        assert c.get("/api/data/entity/notes").status_code == 200


def test_a_taken_email_reads_right(node: Any) -> None:
    with node.client() as c:
        address = email("taken-wording")
        register(c, address)
        r = c.post("/api/auth/password/register", json={"email": address, "password": PASSWORD})
    assert r.status_code == 409
    assert r.json()["error"] == "An account with this e-mail already exists"
    assert r.json()["context"]["field"] == "email"


def test_a_unique_conflict_names_the_entity_and_field(api: httpx.Client) -> None:
    name = unique("uniq")
    add_entity(api, name, {"code": {"type": "text", "config": {"unique": True}}})
    assert api.post(f"/api/data/entity/{name}", json={"code": "a"}).status_code == 201
    r = api.post(f"/api/data/entity/{name}", json={"code": "a"})
    assert r.status_code == 409
    assert r.json()["error"] == f'A row with the same code already exists in "{name}"'
