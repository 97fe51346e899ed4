"""Password accounts over real HTTP: bknd's routes and shapes, validation, JSON vs redirect."""

from __future__ import annotations

import json

import httpx

from tests.auth.helpers import JSON_HEADERS, PASSWORD, bearer, email, login, register
from tests.conftest import admin_headers
from tests.nodeserver import NodeServer


def test_register_login_me_logout_in_bknds_shapes(node: NodeServer) -> None:
    with node.client() as c:
        address = email("Alice")
        r = c.post("/api/auth/password/register", json={"email": address.upper(), "password": PASSWORD})
        assert r.status_code == 200, r.text  # bknd answers 200, not 201
        body = r.json()
        assert set(body) == {"user", "token"}
        assert body["user"]["email"] == address.lower()
        assert body["user"]["role"] is None
        assert "strategy_value" not in body["user"] and "token_version" not in body["user"]
        assert r.headers["set-cookie"].startswith("auth=")

        r = login(c, address.lower())
        assert r.status_code == 200, r.text
        assert r.json()["user"]["id"] == body["user"]["id"]
        token = r.json()["token"]

        me = c.get("/api/auth/me", headers=bearer(token))
        assert me.status_code == 200
        assert me.json() == {"user": r.json()["user"]}

        anonymous = c.get("/api/auth/me")
        assert anonymous.status_code == 403
        assert anonymous.json() == {"user": None}

        out = c.get("/api/auth/logout", headers=JSON_HEADERS)
        assert out.status_code == 200 and out.json() == {"ok": True}
        assert out.headers["set-cookie"].startswith("auth=;") and "Max-Age=0" in out.headers["set-cookie"]


def test_seed_route_names_answer_too(node: NodeServer) -> None:
    with node.client() as c:
        address = email("seed")
        r = c.post("/api/auth/register", json={"email": address, "password": PASSWORD})
        assert r.status_code == 201, r.text  # the seeds' and Studio's name answers 201
        r = c.post("/api/auth/login", json={"email": address, "password": PASSWORD})
        assert r.status_code == 200 and r.json()["token"]
        r = c.post("/api/auth/logout", headers=JSON_HEADERS)
        assert r.status_code == 200 and r.json() == {"ok": True}


def test_strategies(node: NodeServer) -> None:
    with node.client() as c:
        r = c.get("/api/auth/strategies")
        assert r.status_code == 200
        body = r.json()
        assert body["basepath"] == "/api/auth"
        assert body["strategies"]["password"]["enabled"] is True
        assert body["strategies"]["password"]["type"] == "password"
        assert "passkey" in body["strategies"]
        assert "secret" not in r.text


def test_registration_checks_say_what_is_wrong(node: NodeServer) -> None:
    with node.client() as c:
        cases = [
            ({"email": "not-an-email", "password": PASSWORD}, 422, "email"),
            ({"email": "a b@example.com", "password": PASSWORD}, 422, "email"),
            ({"email": email(), "password": "short"}, 422, "password"),
            ({"email": email()}, 422, "password"),
            ({"password": PASSWORD}, 422, "email"),
            ({"email": email(), "password": 12345678}, 422, "password"),
            ({"email": email(), "password": PASSWORD, "role": "admin"}, 400, "role"),
            ({"email": email(), "password": PASSWORD, "strategy_value": "x"}, 400, "strategy_value"),
            ({"email": email(), "password": PASSWORD, "nickname": "x"}, 422, "nickname"),
        ]
        for body, status, field in cases:
            r = c.post("/api/auth/password/register", json=body)
            assert r.status_code == status, (body, r.text)
            err = r.json()
            assert set(err) >= {"error", "type", "context"}
            assert field in err["error"].lower() or err["context"].get("field") == field, err
        # the real reason, not bknd's masked "Invalid credentials"
        r = c.post("/api/auth/password/register", json={"email": email(), "password": PASSWORD, "role": "x"})
        assert r.json()["error"] == "Role cannot be provided during registration"
        # a body that is not a JSON object is a malformed request: 400, never 422
        for raw, kind in ((b"[1,2]", "BadRequestException"), (b"{not json", "InvalidJsonException"),
                          (b'"text"', "BadRequestException")):
            r = c.post("/api/auth/password/register", content=raw, headers={"Content-Type": "application/json"})
            assert r.status_code == 400, r.text
            assert r.json()["type"] == kind, r.text


def test_taken_email_is_409(node: NodeServer) -> None:
    with node.client() as c:
        address = email("taken")
        register(c, address)
        r = c.post("/api/auth/password/register", json={"email": address.upper(), "password": PASSWORD})
        assert r.status_code == 409, r.text
        assert r.json()["type"] == "ConflictException"


def test_wrong_password_and_unknown_user_get_the_same_401(node: NodeServer) -> None:
    with node.client() as c:
        address = email("wrongpw")
        register(c, address)
        wrong = login(c, address, "not the password")
        unknown = login(c, email("nobody"), "not the password")
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json() == unknown.json() == {
            "error": "Invalid credentials", "type": "AuthException", "context": {}}
        missing = c.post("/api/auth/password/login", json={"email": address})
        assert missing.status_code == 422


def test_form_posts_redirect_and_json_requests_do_not(node: NodeServer) -> None:
    address = email("form")
    with node.client(follow_redirects=False) as c:
        register(c, address)
        ok = c.post("/api/auth/password/login", data={"email": address, "password": PASSWORD})
        assert ok.status_code == 302
        assert ok.headers["location"] == "/"
        assert ok.headers["set-cookie"].startswith("auth=")

        to = c.post("/api/auth/password/login?redirect=/app/home",
                    data={"email": address, "password": PASSWORD})
        assert to.status_code == 302 and to.headers["location"] == "/app/home"

        # an open redirect is refused: bknd follows any ?redirect=
        evil = c.post("/api/auth/password/login?redirect=https://evil.example/x",
                      data={"email": address, "password": PASSWORD})
        assert evil.status_code == 302 and evil.headers["location"] == "/"
        evil = c.post("/api/auth/password/login?redirect=//evil.example/x",
                      data={"email": address, "password": PASSWORD})
        assert evil.headers["location"] == "/"

        failed = c.post("/api/auth/password/login", data={"email": address, "password": "nope nope"},
                        headers={"Referer": node.url + "/login"})
        assert failed.status_code == 302 and failed.headers["location"] == "/login"
        assert "__bknd_flash=" in failed.headers["set-cookie"]

        # JSON with a charset parameter is still JSON (bknd compares exact strings)
        j = c.post("/api/auth/password/login", content=f'{{"email":"{address}","password":"{PASSWORD}"}}',
                   headers={"Content-Type": "application/json; charset=utf-8"})
        assert j.status_code == 200 and j.json()["token"]
        # Accept: application/json makes a form post answer in JSON
        a = c.post("/api/auth/password/login", data={"email": address, "password": PASSWORD},
                   headers=JSON_HEADERS)
        assert a.status_code == 200 and a.json()["token"]

        bye = c.get("/api/auth/logout", headers={"Referer": node.url + "/somewhere"})
        assert bye.status_code == 302 and bye.headers["location"] == "/somewhere"
        bye = c.get("/api/auth/logout", headers={"Referer": "https://evil.example/"})
        assert bye.status_code == 302 and bye.headers["location"] == "/"


def test_admin_creates_users_with_a_role(node: NodeServer) -> None:
    with node.client() as c:
        _, user_token = register(c)
        body = {"email": email("made"), "password": PASSWORD, "role": "admin"}
        assert c.post("/api/auth/password/actions/create", json=body).status_code == 403
        assert c.post("/api/auth/password/actions/create", json=body,
                      headers=bearer(user_token)).status_code == 403
        r = c.post("/api/auth/password/actions/create", json=body, headers=admin_headers(node))
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["success"] is True and out["action"] == "create" and out["strategy"] == "password"
        assert out["data"]["role"] == "admin" and out["data"]["email"] == body["email"]
        again = c.post("/api/auth/password/actions/create", json=body, headers=admin_headers(node))
        assert again.status_code == 409
        bad = c.post("/api/auth/password/actions/create", headers=admin_headers(node),
                     json={"email": email(), "password": PASSWORD, "role": "no-such-role"})
        assert bad.status_code == 422 and "role" in bad.json()["error"]
        assert login(c, body["email"]).status_code == 200
        schema = c.get("/api/auth/password/actions/create/schema.json").json()
        assert schema["required"] == ["email", "password"]


def test_users_are_a_system_entity(node: NodeServer) -> None:
    with node.client(headers=admin_headers(node)) as c:
        user, _ = register(c)
        rows = c.get("/api/data/entity/users", params={"limit": 1000}).json()["data"]
        mine = next(r for r in rows if r["id"] == user["id"])
        assert set(mine) == {"id", "email", "strategy", "role", "username", "created_at"}  # hash and token version hidden
        r = c.post("/api/data/entity/users", json={"email": email(), "strategy": "password"})
        assert r.status_code == 400, r.text
        r = c.get("/api/data/entity/users", params={"where": '{"strategy_value":{"$like":"*"}}'})
        assert r.status_code == 422


def test_registration_can_be_switched_off(make_node: object) -> None:
    server: NodeServer = make_node()  # type: ignore[operator]
    with server.client() as c:
        r = c.post("/api/system/config/set/auth", json={"allow_register": False},
                   headers=admin_headers(server))
        assert r.status_code == 202, r.text
        r = c.post("/api/auth/password/register", json={"email": email(), "password": PASSWORD})
        assert r.status_code == 403 and "disabled" in r.json()["error"]


def test_no_input_makes_a_5xx(node: NodeServer) -> None:
    bodies: list[object] = [None, [], "x", 1, {"email": None, "password": None},
                            {"email": ["a"], "password": {"x": 1}}, {"email": "a@b.co", "password": "x" * 100_000}]
    with node.client() as c:
        for path in ("/api/auth/password/login", "/api/auth/password/register", "/api/auth/password/change",
                     "/api/auth/refresh", "/api/auth/passkey/login/verify",
                     "/api/auth/passkey/register/options", "/api/auth/passkey/register/verify",
                     "/api/auth/password/actions/create", "/api/auth/apikeys"):
            for body in bodies:
                r = c.post(path, content=json.dumps(body), headers={"Content-Type": "application/json"})
                assert 400 <= r.status_code < 500, (path, body, r.status_code, r.text)
            # not JSON: the sign-in routes answer a failed form post with bknd's redirect
            form_route = path.endswith(("/login", "/register"))
            r = c.post(path, content=b"\xff\xfe", headers={"Content-Type": "application/octet-stream"})
            assert 400 <= r.status_code < 500 or (form_route and r.status_code == 302), (path, r.text)
            r = c.post(path, content=b"--x\r\n", headers={"Content-Type": "multipart/form-data; boundary=x"})
            assert 400 <= r.status_code < 500 or (form_route and r.status_code == 302), (path, r.text)
        r = c.post("/api/auth/passkey/login/options", json={"email": ["a"]})
        assert r.status_code == 422
        for header in ("Basic abc", "Bearer", "Bearer not.a.jwt", "Bearer " + "a" * 5000, "Bearer nbk_x"):
            r = c.get("/api/auth/me", headers={"Authorization": header})
            assert r.status_code == 403 and r.json() == {"user": None}
        r = c.get("/api/auth/me", headers={"Cookie": "auth=%zz%; other=1"})
        assert r.status_code == 403
        assert isinstance(httpx.get(node.url + "/api/auth/strategies").json(), dict)


def test_auth_and_strategies_can_be_switched_off(make_node: object) -> None:
    server: NodeServer = make_node()  # type: ignore[operator]
    admin = admin_headers(server)
    with server.client() as c:
        address = email("off")
        register(c, address)
        r = c.post("/api/system/config/set/auth", headers=admin,
                   json={"strategies": {"password": {"enabled": False}}})
        assert r.status_code == 202, r.text
        assert login(c, address).status_code == 404
        assert "password" not in c.get("/api/auth/strategies").json()["strategies"]
        assert c.get("/api/auth/strategies?include_disabled=1").json()["strategies"]["password"]["enabled"] is False
        r = c.post("/api/system/config/set/auth", headers=admin, json={"enabled": False})
        assert r.status_code == 202, r.text
        assert c.get("/api/auth/strategies").status_code == 404
        # the guard stays on, and existing tokens and keys still identify their callers
        assert c.get("/api/system/config", headers=admin).status_code == 200
        assert c.get("/api/system/config").status_code == 403
