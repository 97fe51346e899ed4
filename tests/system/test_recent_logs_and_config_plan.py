"""The recent-logs ring (`GET /api/system/logs`) and the config API's dry run (`?plan=1`),
over HTTP (both used by the admin UI's pages)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from nodebase.kernel.logs import RecentLines, scrub
from tests.conftest import admin_headers, unique
from tests.nodeserver import NodeServer

SECRET = "s3cret-Passw0rd-" + "Lg9"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeServer]:
    s = NodeServer(tmp_path_factory.mktemp("admin-routes"), env={"NODEBASE_LOG_LEVEL": "info"}).start()
    yield s
    s.stop()
    assert not s.server_errors()


@pytest.fixture(scope="module")
def admin(server: NodeServer) -> Iterator[httpx.Client]:
    with server.client(headers=admin_headers(server)) as c:
        yield c


def test_the_ring_keeps_the_newest_lines_only() -> None:
    ring = RecentLines(capacity=3)
    for i in range(5):
        ring.add(json.dumps({"level": "info" if i % 2 else "warning", "n": i}).encode())
    assert [x["n"] for x in ring.tail(10)] == [4, 3, 2]
    assert [x["n"] for x in ring.tail(10, min_level=30)] == [4, 2]
    assert [x["n"] for x in ring.tail(1)] == [4]


def test_credentials_in_logged_messages_are_scrubbed() -> None:
    line = scrub("postgresql://bob:hunter22@db/x · Authorization: Bearer abc.def · nbk_Key_123 · eyJa.eyJb.c-d")
    assert line == "postgresql://bob:********@db/x · Authorization: Bearer ******** · ******** · ********"


def test_recent_logs_list_the_request_lines_without_secrets(server: NodeServer, admin: httpx.Client) -> None:
    address = f"{unique('logged')}@nodebase.test"
    assert admin.post("/api/auth/password/actions/create", json={"email": address, "password": SECRET}).status_code == 200
    with server.client() as c:
        r = c.post("/api/auth/password/login", json={"email": address, "password": SECRET})
        token = r.json()["token"]
        assert c.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        # a plain user and an anonymous caller get no log lines
        assert c.get("/api/system/logs", headers={"Authorization": f"Bearer {token}"}).status_code == 403
        assert c.get("/api/system/logs").status_code == 403
        key = admin.post("/api/auth/apikeys", json={"name": unique("k"), "role": "admin"}).json()["data"]["key"]
        assert c.get(f"/api/system/logs?token={token}", headers={"X-API-Key": key}).status_code == 200
    r = admin.get("/api/system/logs", params={"limit": 1000})
    assert r.status_code == 200, r.text
    body = r.json()
    lines = body["data"]
    assert body["meta"] == {"items": len(lines), "capacity": 1000}
    me = [x for x in lines if x.get("route") == "/api/auth/me" and x.get("status") == 200]
    assert me and me[0]["logger"] == "nodebase.request" and me[0]["method"] == "GET"
    assert [x["ts"] for x in lines] == sorted((x["ts"] for x in lines), reverse=True)  # newest first
    text = json.dumps(lines)
    for secret in (SECRET, token, key, address):
        assert secret not in text
    # limit and level
    assert len(admin.get("/api/system/logs", params={"limit": 2}).json()["data"]) == 2
    assert all(x["level"] != "info" for x in admin.get("/api/system/logs", params={"level": "warning"}).json()["data"])
    for params in ({"limit": "0"}, {"limit": "1001"}, {"limit": "x"}, {"level": "loud"}):
        bad = admin.get("/api/system/logs", params=params)
        assert bad.status_code == 400 and bad.json()["type"] and bad.json()["context"]["param"] in params


def test_a_config_change_can_be_planned_without_being_applied(admin: httpx.Client) -> None:
    name = unique("planned")
    assert admin.post(f"/api/system/config/add/data/entities.{name}",
                      json={"fields": {"a": {"type": "text"}, "b": {"type": "text"}}}).status_code == 202
    r = admin.post(f"/api/system/config/add/data/entities.{name}.fields.c?plan=1", json={"type": "number"})
    assert r.status_code == 200, r.text
    plan = r.json()["plan"]
    assert plan["destructive"] is False
    assert [(c["kind"], c["table"], c["name"]) for c in plan["changes"]] == [("add_column", name, "c")]
    assert plan["changes"][0]["sql"][0].startswith(f'ALTER TABLE "{name}" ADD COLUMN c')
    r = admin.delete(f"/api/system/config/remove/data/entities.{name}.fields.b?plan=1")
    assert r.status_code == 200 and r.json()["plan"]["destructive"] is True
    assert [c["kind"] for c in r.json()["plan"]["changes"]] == ["drop_column"]
    # nothing was applied
    assert list(admin.get("/api/data").json()["entities"][name]["fields"]) == ["a", "b"]
    # an invalid change is refused as the change itself would be
    bad = admin.post(f"/api/system/config/add/data/entities.{name}.fields.d?plan=1", json={"type": "nope"})
    assert bad.status_code == 400 and bad.json()["errors"]
    # other modules have no database plan
    r = admin.patch("/api/system/config/patch/auth/guard?plan=1", json={"enabled": True})
    assert r.status_code == 200 and r.json()["plan"] == {"changes": [], "destructive": False}
