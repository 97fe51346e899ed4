"""bknd's own client (npm ``bknd@0.20.0``, ``Api`` from ``bknd/client``) against nodebase's auth
routes, run with the Node on the machine (20.x runs the client; only bknd's server needs 22):
login, ``getUser()``, ``me``, ``verifyAuth``, logout, register.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.auth.helpers import PASSWORD, claims, email, register
from tests.conftest import add_entity, admin_headers, unique
from tests.nodeserver import NodeServer

NODE_DIR = Path(__file__).resolve().parents[1] / "node"


@pytest.fixture(scope="session")
def auth_client() -> Path:
    assert shutil.which("node"), "node is not installed"
    if not (NODE_DIR / "node_modules" / "bknd" / "package.json").is_file():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=NODE_DIR, check=True, timeout=600, capture_output=True)
    return NODE_DIR / "auth_client.mjs"


def test_bknd_client_signs_in_and_out(node: NodeServer, auth_client: Path) -> None:
    address, new = email("bknd"), email("bknd-new")
    entity = unique("bk_notes")
    with node.client(headers=admin_headers(node)) as admin:
        add_entity(admin, entity, {"text": {"type": "text"}})
        r = admin.post("/api/system/config/set/auth",
                       json={"roles": {"reader": {"is_default": True, "permissions": ["data.entity.read"]}}})
        assert r.status_code == 202, r.text
    with node.client() as c:
        user, _ = register(c, address)
    env = {**os.environ, "NB_URL": node.url, "NB_EMAIL": address, "NB_PASSWORD": PASSWORD,
           "NB_NEW_EMAIL": new, "NB_ENTITY": entity}
    run = subprocess.run(["node", str(auth_client)], cwd=NODE_DIR, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])

    assert out["anonymous"]["user"] is None and out["anonymous"]["authenticated"] is False
    assert out["badLogin"]["ok"] is False and out["badLogin"]["status"] == 401
    assert out["login"]["ok"] and out["login"]["status"] == 200
    assert out["login"]["user"]["id"] == user["id"]
    token = out["login"]["token"]
    assert out["storedToken"] == token  # the client kept it under its "auth" key
    # getUser() is decoded from the JWT payload by the client itself
    got = out["getUser"]
    assert got["id"] == user["id"] and got["email"] == address and got["role"] is None
    assert claims(token)["id"] == user["id"] and out["authenticated"] is True
    assert out["me"]["ok"] and out["me"]["body"]["user"]["email"] == address
    assert out["verified"]["verified"] is True and out["verified"]["user"]["id"] == user["id"]
    assert out["readMany"] == {"ok": True, "status": 200}
    assert out["strategies"]["ok"] and "password" in out["strategies"]["body"]["strategies"]
    assert out["afterLogout"] == {"user": None, "stored": False, "authenticated": False}
    assert out["meAfterLogout"]["status"] == 403 and out["meAfterLogout"]["body"] == {"user": None}
    assert out["register"]["ok"] and out["register"]["user"]["email"] == new
    assert out["register"]["user2"]["email"] == new
    assert out["stale"]["user"] is None
    assert True in out["states"]
