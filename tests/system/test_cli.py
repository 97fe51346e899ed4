"""The nodebase CLI: serve (flags), sync, config show."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

from nodebase.kernel.config import DEFAULT_CORS_ORIGINS
from tests.conftest import admin_headers


def test_serve_flags_and_config_show(make_node: Any, backend: str) -> None:
    node = make_node()
    out = node.cli("config", "show").stdout
    assert out.startswith('{\n  "settings": {\n    "'), out[:80]  # indented for people
    shown = json.loads(out)
    assert shown["settings"]["data_dir"] == str(node.data_dir)
    assert shown["settings"]["cors_origins"] == list(DEFAULT_CORS_ORIGINS)
    assert shown["settings"]["trusted_proxies"] == []
    assert "data" in shown["config"] and shown["config"]["version"] == 10
    info = httpx.get(node.url + "/api/system/info", headers=admin_headers(node)).json()
    if backend == "postgres":
        password = node.database_url.split("@")[0].split(":")[-1]
        expected = node.database_url.replace(f":{password}@", ":***@")
        assert password and password not in out and password not in json.dumps(info)
    else:  # an absolute path: sqlite:/// + /path (the slash after the scheme's // stays)
        expected = f"sqlite:///{node.data_dir}/data.db"
        assert expected.startswith("sqlite:////")
    assert shown["settings"]["database_url"] == expected
    assert info["settings"]["database_url"] == expected
    assert httpx.get(node.url + "/api/system/ping").json() == {"pong": True}


def test_secrets_in_urls_are_masked(make_node: Any) -> None:
    node = make_node(start=False, env={
        "NODEBASE_BROKER_URL": "redis://:broker-pw@127.0.0.1:1/0",
        "NODEBASE_STORAGE_URL": "s3://bucket?endpoint=http://127.0.0.1:1&access_key=ak&secret_key=s3-pw",
    })
    out = node.cli("config", "show").stdout
    settings = json.loads(out)["settings"]
    assert settings["broker_url"] == "redis://:***@127.0.0.1:1/0"
    assert settings["storage_url"] == "s3://bucket?endpoint=http://127.0.0.1:1&access_key=***&secret_key=***"
    assert "broker-pw" not in out and "s3-pw" not in out


def test_no_subcommand_prints_the_help(make_node: Any) -> None:
    node = make_node(start=False)
    for args, lists in (((), ["serve", "sync", "config", "user", "apikey"]), (("config",), ["show"]),
                        (("user",), ["create", "set-password"]), (("apikey",), ["create", "list", "revoke"])):
        done = node.cli(*args, check=False)
        assert done.returncode == 2, (args, done)
        assert done.stdout.startswith("usage: nodebase"), (args, done.stdout)
        assert all(re.search(rf"^ +{name}( |$)", done.stdout, re.M) for name in lists), done.stdout
        assert done.stderr == "", (args, done.stderr)


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
    """Each round opens a new connection (a keep-alive one would stay with one worker), asks
    /api/system/info which worker it reached (``id``: one per process) and reads the entity
    on that connection. Both workers must answer, and every one must know the entity."""
    import time

    from tests.conftest import add_entity

    node = make_node(workers=2)
    headers = admin_headers(node)
    with node.client(headers=headers) as api:
        add_entity(api, "shared", {"a": {"type": "text"}})
    time.sleep(1.5)  # the documented bound: workers re-check the stored config once a second
    answered: dict[str, set[int]] = {}
    for round_ in range(400):  # new connections land on either worker; stop once both did
        with node.client(headers=headers) as fresh:
            worker = fresh.get("/api/system/info").json()["id"]
            status = fresh.get("/api/data/entity/shared").status_code
        answered.setdefault(worker, set()).add(status)
        if len(answered) == 2 and round_ >= 20:
            break
    assert len(answered) == 2, f"only one worker answered: {answered}"
    assert all(statuses == {200} for statuses in answered.values()), answered
