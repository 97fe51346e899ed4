"""API keys: created by an admin (CLI and route), sent as Bearer or X-API-Key, stored hashed,
listed, expiring and revoked; and the ``nodebase user`` commands."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.auth.helpers import PASSWORD, bearer, email, login, register, set_auth_config
from tests.conftest import admin_headers
from tests.nodeserver import NodeServer


def _stored(node: NodeServer, request: pytest.FixtureRequest) -> str:
    """Everything in the API key table, as text (to show the clear key is not there)."""
    sql = "SELECT * FROM __nodebase_apikeys"
    if node.database_url:
        pg = request.getfixturevalue("postgres")
        return str(pg.psql(sql, database=node.database_url.rsplit("/", 1)[1]))
    import sqlite3

    with sqlite3.connect(node.data_dir / "data.db") as conn:
        return repr(conn.execute(sql).fetchall())


def test_cli_created_key_works_as_bearer_and_header_and_is_stored_hashed(
        node: NodeServer, request: pytest.FixtureRequest) -> None:
    out = node.cli("apikey", "create", "--name", "billing", "--role", "admin")
    made = json.loads(out.stdout)
    key = made["key"]
    assert key.startswith("nbk_") and len(key) > 40
    assert made["role"] == "admin" and made["name"] == "billing" and made["active"] is True
    with node.client() as c:
        assert c.get("/api/system/config", headers=bearer(key)).status_code == 200
        assert c.get("/api/system/config", headers={"X-API-Key": key}).status_code == 200
        assert c.get("/api/system/config", headers=bearer(key[:-2] + "xx")).status_code == 403
        assert c.get("/api/auth/me", headers=bearer(key)).status_code == 403  # a key is not a user
    stored = _stored(node, request)
    assert made["id"] in stored and key not in stored and key.split("_", 2)[2] not in stored
    listed = json.loads(node.cli("apikey", "list").stdout)["data"]
    assert any(k["id"] == made["id"] for k in listed)
    assert key not in json.dumps(listed)
    node.cli("apikey", "revoke", made["id"])
    deadline = time.monotonic() + 10  # another process revoked it: noticed within jwt.revalidate
    with node.client() as c:
        while c.get("/api/system/config", headers=bearer(key)).status_code == 200:
            assert time.monotonic() < deadline, "a revoked key still works"
            time.sleep(0.5)
    bad = node.cli("apikey", "create", "--name", "x", "--role", "no-such-role", check=False)
    assert bad.returncode != 0 and "role" in bad.stderr


def test_route_created_keys_with_roles_and_expiry(node: NodeServer) -> None:
    admin = admin_headers(node)
    with node.client() as c:
        with node.client(headers=admin) as a:
            set_auth_config(a, {
                "roles": {"reader": {"permissions": ["data.entity.read", "system.config.read"]}}})
        _, user_token = register(c)
        assert c.post("/api/auth/apikeys", json={"name": "n", "role": "admin"},
                      headers=bearer(user_token)).status_code == 403
        assert c.post("/api/auth/apikeys", json={"name": "n", "role": "admin"}).status_code == 403
        r = c.post("/api/auth/apikeys", json={"name": "reports", "role": "reader"}, headers=admin)
        assert r.status_code == 201, r.text
        reader = r.json()["data"]
        assert reader["created_by"].startswith("admin-")
        key = reader["key"]
        assert c.get("/api/system/config", headers=bearer(key)).status_code == 200
        assert c.post("/api/system/config/set/auth", json={}, headers=bearer(key)).status_code == 403

        soon = c.post("/api/auth/apikeys", json={"name": "short", "role": "reader", "expires_in": 2},
                      headers=admin).json()["data"]
        assert c.get("/api/system/config", headers={"X-API-Key": soon["key"]}).status_code == 200
        time.sleep(2.5)
        assert c.get("/api/system/config", headers={"X-API-Key": soon["key"]}).status_code == 403

        at = (datetime.now(UTC) + timedelta(days=30)).isoformat()
        later = c.post("/api/auth/apikeys", json={"name": "later", "role": "reader", "expires_at": at},
                       headers=admin)
        assert later.status_code == 201 and later.json()["data"]["expires_at"].startswith(at[:16])

        for body in ({"name": "", "role": "reader"}, {"name": "x", "role": "ghost"}, {"name": "x"},
                     {"name": "x", "role": "reader", "expires_at": "yesterday"},
                     {"name": "x", "role": "reader", "expires_at": "2000-01-01T00:00:00Z"},
                     {"name": "x", "role": "reader", "expires_in": -5},
                     # past the year 9999 (found by schemathesis: stored, then every list 500)
                     {"name": "x", "role": "reader", "expires_in": 5.07e16},
                     {"name": "x", "role": "reader", "expires_at": 1e300}):
            bad = c.post("/api/auth/apikeys", json=body, headers=admin)
            assert bad.status_code == 422, (body, bad.text)

        listed = c.get("/api/auth/apikeys", headers=admin).json()["data"]
        ids = {k["id"]: k for k in listed}
        assert reader["id"] in ids and "key" not in ids[reader["id"]]
        assert ids[soon["id"]]["active"] is False
        r = c.delete(f"/api/auth/apikeys/{reader['id']}", headers=admin)
        assert r.status_code == 200 and r.json()["data"]["revoked_at"]
        assert c.get("/api/system/config", headers=bearer(key)).status_code == 403  # at once, here
        assert c.delete("/api/auth/apikeys/nope", headers=admin).status_code == 404


def test_cli_user_commands(node: NodeServer) -> None:
    address = email("cliuser")
    out = node.cli("user", "create", "--email", address, "--password", PASSWORD, "--role", "admin")
    user: dict[str, Any] = json.loads(out.stdout)["user"]
    assert user["role"] == "admin" and user["email"] == address and "strategy_value" not in user
    with node.client() as c:
        token = login(c, address).json()["token"]
        assert c.get("/api/system/config", headers=bearer(token)).status_code == 200
    dup = node.cli("user", "create", "--email", address, "--password", PASSWORD, check=False)
    assert dup.returncode == 2 and "already exists" in dup.stderr
    short = node.cli("user", "create", "--email", email(), "--password", "x", check=False)
    assert short.returncode == 2 and "at least" in short.stderr
    ghost = node.cli("user", "set-password", "--email", email("ghost"), "--password", PASSWORD, check=False)
    assert ghost.returncode == 2
    done = node.cli("user", "set-password", "--email", address, input="from stdin pw\n")
    assert json.loads(done.stdout)["ok"] is True
    with node.client() as c:
        assert login(c, address, "from stdin pw").status_code == 200
    with pytest.raises(subprocess.CalledProcessError):
        node.cli("user", "create", "--password", PASSWORD)  # --email is required
