"""PATCH /api/auth/users/:id (the admin UI's user actions) over real HTTP: who may call it and
what bad input gets."""

from __future__ import annotations

import httpx

from tests.conftest import admin_headers, unique
from tests.nodeserver import NodeServer

PASSWORD = "correct-horse-42"


def _user(admin: httpx.Client) -> dict:
    r = admin.post("/api/auth/password/actions/create", json={"email": f"{unique('u')}@nodebase.test", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return dict(r.json()["data"])


def test_manage_user_checks_permissions_and_input(node: NodeServer) -> None:
    with node.client(headers=admin_headers(node)) as admin, node.client() as anon:
        user = _user(admin)
        path = f"/api/auth/users/{user['id']}"
        token = anon.post("/api/auth/password/login", json={"email": user["email"], "password": PASSWORD}).json()["token"]
        # the user cannot promote itself; nobody anonymous can either
        assert anon.patch(path, json={"role": "admin"}, headers={"Authorization": f"Bearer {token}"}).status_code == 403
        assert anon.patch(path, json={"role": "admin"}).status_code == 403
        # bad input names what was wrong
        r = admin.patch(path, json={"role": "nope"})
        assert r.status_code == 422 and r.json()["context"]["field"] == "role"
        r = admin.patch(path, json={"colour": "red"})
        assert r.status_code == 422 and r.json()["context"]["field"] == "colour"
        r = admin.patch(path, json={"password": "short"})
        assert r.status_code == 422 and r.json()["context"]["field"] == "password"
        assert admin.patch(path, json={}).status_code == 422
        assert admin.patch("/api/auth/users/999999", json={"role": None}).status_code == 404
        assert admin.patch("/api/auth/users/not-a-number", json={"role": None}).status_code == 404
        # a valid change
        r = admin.patch(path, json={"role": "admin"})
        assert r.status_code == 200 and r.json()["data"]["role"] == "admin"
        assert anon.get("/api/system/config/auth", headers={"Authorization": f"Bearer {token}"}).status_code == 200
