"""The nodebase CLI: serve (flags), sync, config show."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx


def test_serve_flags_and_config_show(make_node: Any, backend: str) -> None:
    node = make_node()
    shown = json.loads(node.cli("config", "show").stdout)
    assert shown["settings"]["data_dir"] == str(node.data_dir)
    assert "data" in shown["config"] and shown["config"]["version"] == 10
    if backend == "postgres":
        assert ":***@" in shown["settings"]["database_url"]
        assert node.database_url.split("@")[0].split(":")[-1] not in json.dumps(shown)
    assert httpx.get(node.url + "/api/system/ping").json() == {"pong": True}


def test_serve_with_two_workers(make_node: Any) -> None:
    node = make_node(workers=2)
    for _ in range(20):
        assert httpx.get(node.url + "/api/system/ping").status_code == 200


def test_sync_shows_then_applies(make_node: Any, tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "nodebase.schema.json").write_text(json.dumps(
        {"entities": {"items": {"fields": {"name": {"type": "text"}}}}}))
    node = make_node(start=False, project_dir=project)
    first = json.loads(node.cli("sync").stdout)  # the first run creates what is missing
    assert "items" in first["tables"]
    doc = json.loads((project / "nodebase.schema.json").read_text())
    doc["entities"]["items"]["fields"]["size"] = {"type": "number"}
    (project / "nodebase.schema.json").write_text(json.dumps(doc))
    again = json.loads(node.cli("sync").stdout)
    assert again["changes"] == []  # adding a column is applied at start, nothing left
    bad = node.cli("sync", "--bogus", check=False)
    assert bad.returncode == 2 and "unrecognized arguments" in bad.stderr


def test_config_changes_reach_every_worker(make_node: Any) -> None:
    import time

    from tests.conftest import add_entity, admin_headers

    node = make_node(workers=2)
    with node.client(headers=admin_headers(node)) as api:
        add_entity(api, "shared", {"a": {"type": "text"}})
        time.sleep(1.2)  # workers re-check the stored config at most once a second
        statuses = {api.get("/api/data/entity/shared").status_code for _ in range(40)}
    assert statuses == {200}
