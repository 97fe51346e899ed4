"""The seeds' plain user API (SPEC §3.3): health, register/login, /api/users, media upload."""

from __future__ import annotations

from tests.auth.helpers import PASSWORD, bearer, email
from tests.conftest import admin_headers
from tests.nodeserver import NodeServer

USER_KEYS = {"id", "email", "username", "created_at"}


def test_health(node: NodeServer) -> None:
    with node.client() as c:
        r = c.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["database"] == ("postgresql" if node.database_url else "sqlite")


def test_register_login_and_users_routes(node: NodeServer) -> None:
    admin = admin_headers(node)
    address = email("plain")
    with node.client() as c:
        r = c.post("/api/auth/register", json={"email": address, "password": PASSWORD, "username": "plainuser"})
        assert r.status_code == 201, r.text
        me, token = r.json()["user"], r.json()["token"]
        assert me["username"] == "plainuser" and me["created_at"].endswith("Z")
        # bknd's own route keeps bknd's status
        other = email("bknd")
        assert c.post("/api/auth/password/register",
                      json={"email": other, "password": PASSWORD}).status_code == 200
        r = c.post("/api/auth/login", json={"email": address, "password": PASSWORD})
        assert r.status_code == 200 and r.json()["user"]["id"] == me["id"] and r.json()["token"]
        assert c.post("/api/auth/login", json={"email": address, "password": "wrong password!"}).status_code == 401

        # the user reads themself, not another user, and cannot list or create
        r = c.get(f"/api/users/{me['id']}", headers=bearer(token))
        assert r.status_code == 200 and r.json() == {
            "id": me["id"], "email": address, "username": "plainuser", "created_at": me["created_at"]}
        assert c.get("/api/users", headers=bearer(token)).status_code == 403
        assert c.post("/api/users", headers=bearer(token),
                      json={"email": email(), "username": "x", "password": PASSWORD}).status_code == 403
        assert c.get(f"/api/users/{me['id']}").status_code == 401

        # an admin creates (seed 002's request and 201 response), reads and lists
        made_address = email("seed")
        r = c.post("/api/users", headers=admin,
                   json={"email": made_address, "username": "testuser", "password": PASSWORD})
        assert r.status_code == 201, r.text
        made = r.json()
        assert set(made) == USER_KEYS and made["email"] == made_address and made["username"] == "testuser"
        assert "password" not in r.text and "strategy_value" not in r.text
        assert c.get(f"/api/users/{made['id']}", headers=bearer(token)).status_code == 404
        assert c.get(f"/api/users/{made['id']}", headers=admin).json() == made
        assert c.get("/api/users/999999999", headers=admin).status_code == 404
        listed = c.get("/api/users", headers=admin, params={"limit": 1000}).json()
        assert isinstance(listed, list) and made in listed
        assert all(set(u) == USER_KEYS for u in listed)
        r = c.get("/api/users", headers=admin, params={"limit": "many"})
        assert r.status_code == 400 and r.json()["context"]["param"] == "limit"
        # duplicates and bad bodies are 4xx
        assert c.post("/api/users", headers=admin,
                      json={"email": made_address, "username": "t", "password": PASSWORD}).status_code == 409
        assert c.post("/api/users", headers=admin, json=[1]).status_code == 400
        assert c.post("/api/users", headers=admin,
                      json={"email": email(), "password": PASSWORD, "created_at": "2020-01-01T00:00:00Z"}
                      ).status_code == 400

        # the seed's upload route answers 201 with the stored file
        r = c.post("/api/media/upload/plain-seed.txt", headers=admin, content=b"hello seeds")
        assert r.status_code == 201, r.text
        assert c.get("/api/media/file/plain-seed.txt", headers=admin).content == b"hello seeds"
