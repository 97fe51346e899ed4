"""Tokens and cookies in bknd's formats, refresh, invalidation, refused tokens, the secret."""

from __future__ import annotations

import base64
import json
import stat
import time

import jwt
import pytest

from tests.auth.helpers import (
    PASSWORD,
    bearer,
    bknd_cookie,
    claims,
    cookie_value,
    email,
    login,
    register,
    secret,
    set_auth_config,
    unsign,
)
from tests.conftest import admin_headers
from tests.nodeserver import NodeServer


def test_token_is_a_real_hs256_jwt_with_the_user_claims(node: NodeServer) -> None:
    with node.client() as c:
        user, token = register(c)
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        assert header["alg"] == "HS256"
        payload = jwt.decode(token, secret(node), algorithms=["HS256"])
        assert payload["id"] == user["id"] and payload["email"] == user["email"]
        assert payload["role"] is None
        assert isinstance(payload["iat"], int) and payload["exp"] - payload["iat"] == 7 * 24 * 3600
        assert abs(payload["iat"] - time.time()) < 60


def test_cookie_is_bknds_signed_cookie(node: NodeServer) -> None:
    with node.client() as c:
        address = email("cookie")
        register(c, address)
        r = login(c, address)
        token = r.json()["token"]
        set_cookie = r.headers["set-cookie"]
        for attr in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=604800", "Expires="):
            assert attr in set_cookie, set_cookie
        raw = cookie_value(set_cookie)
        assert raw == bknd_cookie(secret(node), token)  # auth=<jwt>.<base64 HMAC-SHA256>, URL-encoded
        assert unsign(raw) == token

        me = c.get("/api/auth/me", headers={"Cookie": f"auth={raw}"})
        assert me.status_code == 200 and me.json()["user"]["email"] == address
        assert me.headers["set-cookie"].startswith("auth=")  # renewed (cookie.renew)

        tampered = raw.replace(raw[-8:], "AAAAAAAA")
        assert c.get("/api/auth/me", headers={"Cookie": f"auth={tampered}"}).status_code == 403
        # a cookie value minus its signature also works as a Bearer token (bknd's own test)
        assert c.get("/api/auth/me", headers=bearer(unsign(raw))).status_code == 200


def test_bearer_beats_cookie(node: NodeServer) -> None:
    with node.client() as c:
        a, _ = register(c)
        b_address = email("b")
        register(c, b_address)
        cookie_b = cookie_value(login(c, b_address).headers["set-cookie"])
        token_a = login(c, a["email"]).json()["token"]
        r = c.get("/api/auth/me", headers={**bearer(token_a), "Cookie": f"auth={cookie_b}"})
        assert r.json()["user"]["id"] == a["id"]
        # a bad Bearer does not fall back to a good cookie
        r = c.get("/api/auth/me", headers={**bearer("x.y.z"), "Cookie": f"auth={cookie_b}"})
        assert r.status_code == 403


def test_alg_none_tampered_foreign_and_expired_tokens_are_refused(node: NodeServer) -> None:
    with node.client() as c:
        user, token = register(c)
        payload = claims(token)
        none = jwt.encode(payload, None, algorithm="none")  # type: ignore[arg-type]
        assert c.get("/api/auth/me", headers=bearer(none)).status_code == 403
        head, body, sig = token.split(".")
        evil = dict(payload, role="admin")
        forged_body = base64.urlsafe_b64encode(json.dumps(evil).encode()).decode().rstrip("=")
        assert c.get("/api/auth/me", headers=bearer(f"{head}.{forged_body}.{sig}")).status_code == 403
        other = jwt.encode(evil, "another-secret-of-sufficient-length-123", algorithm="HS256")
        assert c.get("/api/auth/me", headers=bearer(other)).status_code == 403
        hs512 = jwt.encode(payload, secret(node), algorithm="HS512")
        assert c.get("/api/auth/me", headers=bearer(hs512)).status_code == 403
        expired = jwt.encode(dict(payload, iat=int(time.time()) - 100, exp=int(time.time()) - 50),
                             secret(node), algorithm="HS256")
        r = c.get("/api/data/entity/users", headers=bearer(expired))
        assert r.status_code == 403
        assert "expired" in r.json()["description"]
        no_exp = jwt.encode({k: v for k, v in payload.items() if k != "exp"}, secret(node), algorithm="HS256")
        assert c.get("/api/auth/me", headers=bearer(no_exp)).status_code == 403
        # and the genuine one still works
        assert c.get("/api/auth/me", headers=bearer(token)).json()["user"]["id"] == user["id"]


def test_refresh_issues_a_new_token(node: NodeServer) -> None:
    with node.client() as c:
        user, token = register(c)
        time.sleep(1.1)
        r = c.post("/api/auth/refresh", headers=bearer(token))
        assert r.status_code == 200, r.text
        fresh = r.json()["token"]
        assert fresh != token and claims(fresh)["exp"] > claims(token)["exp"]
        assert r.headers["set-cookie"].startswith("auth=")
        assert c.get("/api/auth/me", headers=bearer(fresh)).json()["user"]["id"] == user["id"]
        assert c.post("/api/auth/refresh").status_code == 401


def test_changing_the_password_invalidates_older_tokens(node: NodeServer) -> None:
    with node.client() as c:
        address = email("change")
        _, old = register(c, address)
        old_cookie = cookie_value(login(c, address).headers["set-cookie"])
        wrong = c.post("/api/auth/password/change", headers=bearer(old),
                       json={"current_password": "not it at all", "new_password": "a new password"})
        assert wrong.status_code == 401
        short = c.post("/api/auth/password/change", headers=bearer(old),
                       json={"current_password": PASSWORD, "new_password": "short"})
        assert short.status_code == 422
        r = c.post("/api/auth/password/change", headers=bearer(old),
                   json={"current_password": PASSWORD, "new_password": "a new password"})
        assert r.status_code == 200, r.text
        new = r.json()["token"]
        assert c.get("/api/auth/me", headers=bearer(old)).status_code == 403
        assert c.get("/api/auth/me", headers={"Cookie": f"auth={old_cookie}"}).status_code == 403
        assert c.get("/api/auth/me", headers=bearer(new)).status_code == 200
        assert login(c, address).status_code == 401
        assert login(c, address, "a new password").status_code == 200


def test_cli_set_password_invalidates_tokens(node: NodeServer) -> None:
    with node.client() as c:
        address = email("cli")
        _, token = register(c)
        _, token = register(c, address)
        assert c.get("/api/auth/me", headers=bearer(token)).status_code == 200
        node.cli("user", "set-password", "--email", address, "--password", "set by the cli")
        # another process changed it: this server notices within jwt.revalidate seconds
        deadline = time.monotonic() + 10
        while c.get("/api/auth/me", headers=bearer(token)).status_code == 200:
            assert time.monotonic() < deadline, "the old token still works"
            time.sleep(0.5)
        assert login(c, address, "set by the cli").status_code == 200


def test_token_lifetime_is_configurable(make_node: object) -> None:
    server: NodeServer = make_node()  # type: ignore[operator]
    with server.client(headers=admin_headers(server)) as admin:
        set_auth_config(admin, {"jwt": {"expires": 120}})
    with server.client() as c:
        _, token = register(c)
        assert claims(token)["exp"] - claims(token)["iat"] == 120
        r = c.post("/api/system/config/set/auth", json={"jwt": {"expires": 0}}, headers=admin_headers(server))
        assert r.status_code == 400, r.text  # tokens always expire


def test_the_secret_never_leaves_the_data_dir(make_node: object) -> None:
    node: NodeServer = make_node()  # type: ignore[operator]
    key = secret(node).decode()
    path = node.data_dir / "auth_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with node.client(headers=admin_headers(node)) as c:
        seen = [
            c.get("/api/system/config").text,
            c.get("/api/system/config", params={"secrets": 1}).text,
            c.get("/api/system/config/auth", params={"secrets": 1}).text,
            c.post("/api/system/config/set/auth", json={"jwt": {"revalidate": 5}}).text,
            c.patch("/api/system/config/patch/auth/jwt", json={"secret": "attacker-chosen"}).text,
            c.get("/api/auth/strategies").text,
            c.get("/api/system/info").text,
        ]
        cfg = c.get("/api/system/config/auth").json()["config"]
    for text in seen:
        assert key not in text
    assert "secret" not in cfg["jwt"]  # a sent secret is dropped, never stored or echoed
    node.stop(sig=15)
    node.start()
    log = node.log.read_text(errors="replace")
    assert key not in log
    with node.client() as c:  # the same secret after a restart: old tokens still valid
        assert c.get("/api/auth/me", headers=admin_headers(node)).status_code == 200


@pytest.mark.parametrize("field", ["strategy_value", "token_version"])
def test_token_fields_refuse_secret_columns(node: NodeServer, field: str) -> None:
    with node.client(headers=admin_headers(node)) as c:
        r = c.post("/api/system/config/set/auth", json={"jwt": {"fields": ["id", field]}})
        assert r.status_code == 400
        assert field in r.text
