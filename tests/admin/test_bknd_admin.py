"""bknd's own admin UI (npm ``bknd@0.20.0``, its ``dist/static`` bundle, installed by
tests/node/package.json) served by nodebase (setting ``bknd_admin_dir``) and driven in Chromium:
sign in, the data list, create and edit a row, upload a file, users, roles, every settings page.
Plus the routes it loads (``GET /api/system/schema``) and the passkey strategy it lists.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from tests.conftest import add_entity
from tests.nodeserver import NodeServer

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
BKND = NODE_DIR / "node_modules" / "bknd"
BASE = "/bknd"


@pytest.fixture(scope="module")
def bknd_package() -> Path:
    if not (BKND / "package.json").is_file():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=NODE_DIR, check=True, timeout=600, capture_output=True)
    return BKND


@pytest.fixture(scope="module")
def server(bknd_package: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeServer]:
    node = NodeServer(tmp_path_factory.mktemp("bknd-admin"),
                      env={"NODEBASE_BKND_ADMIN_DIR": str(bknd_package)}).start()
    yield node
    node.stop()


@pytest.fixture(scope="module")
def accounts(server: NodeServer) -> dict[str, Any]:
    """An admin (with its token) and a plain user; the admin sign-in returns to bknd's admin."""
    out: dict[str, Any] = {}
    for who, role in (("admin", "admin"), ("plain", None)):
        address, password = f"{who}-{secrets.token_hex(3)}@bknd.test", secrets.token_urlsafe(12)
        args = ["user", "create", "--email", address, f"--password={password}"]
        server.cli(*args, *(["--role", role] if role else []))
        r = httpx.post(server.url + "/api/auth/password/login", json={"email": address, "password": password})
        assert r.status_code == 200, r.text
        out[who] = {"email": address, "password": password, "id": r.json()["user"]["id"],
                    "headers": {"Authorization": "Bearer " + r.json()["token"]}}
    with server.client(headers=out["admin"]["headers"]) as admin:
        # as with bknd when its admin is not at "/": a form sign-in goes to cookie.pathSuccess
        r = admin.post("/api/system/config/set/auth", json={
            "cookie": {"pathSuccess": BASE},
            "roles": {"editor": {"permissions": ["system.access.api", "data.entity.read"]}}})
        assert r.status_code == 202, r.text
        add_entity(admin, "posts", {"title": {"type": "text", "config": {"required": True}},
                                    "views": {"type": "number"},
                                    "slug": {"type": "text", "config": {"unique": True}}})
    return out


# -- the routes bknd's admin loads -----------------------------------------------------------
def test_schema_answers_bknd_shape(server: NodeServer, accounts: dict[str, Any]) -> None:
    with server.client() as anon:
        r = anon.get("/api/system/schema?config=1&secrets=0&fresh=0")
        assert r.status_code == 403 and r.json()["permission"] == "system.schema.read"
    with server.client(headers=accounts["admin"]["headers"]) as admin:
        r = admin.get("/api/system/schema", params={"config": 1, "secrets": 0, "fresh": 0})
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"version", "readonly", "schema", "config", "permissions"}
        assert body["version"] == 10 and body["readonly"] is False
        assert list(body["schema"]) == ["server", "data", "auth", "media", "flows"]
        cfg = body["config"]
        # bknd's UI reads these paths
        assert cfg["flows"]["flows"] == {}
        assert body["schema"]["flows"]["properties"]["flows"]["additionalProperties"]["properties"]["tasks"]
        origins = cfg["server"]["cors"]["origin"].split(",")
        assert "http://127.0.0.1:*" in origins and cfg["server"]["cors"]["allow_credentials"] is True
        strategies = body["schema"]["auth"]["properties"]["strategies"]["additionalProperties"]["anyOf"]
        assert [s["properties"]["type"]["const"] for s in strategies] == ["password", "passkey"]
        entities = cfg["data"]["entities"]
        assert entities["users"]["type"] == "system" and entities["media"]["type"] == "system"
        assert entities["posts"]["type"] == "regular"
        for name in ("users", "media", "posts"):
            assert entities[name]["fields"]["id"] == {"type": "primary",
                                                      "config": {"format": "integer", "fillable": False}}
        assert "unique" not in entities["posts"]["fields"]["slug"]["config"]  # bknd keeps it in indices
        assert cfg["data"]["indices"]["idx_unique_posts_slug"] == {"entity": "posts", "fields": ["slug"],
                                                                   "unique": True}
        assert "idx_unique_users_email" in cfg["data"]["indices"]
        read = next(p for p in body["permissions"] if p["name"] == "data.entity.read")
        assert read["filterable"] is True
        assert read["context"]["type"] == "object" and read["context"]["required"] == ["entity"]
        listed = admin.get("/api/system/permissions").json()
        assert listed["permissions"] == body["permissions"]
        user_ctx = listed["context"]["properties"]["user"]["properties"]
        assert set(user_ctx) == {"id", "email", "role"} and user_ctx["email"]["type"] == "string"
        assert admin.get("/api/system/config").json()["data"]["entities"].keys() == {"posts"}  # unchanged
        one = admin.get("/api/system/schema/auth?config=1").json()
        assert one["module"] == "auth" and one["config"]["strategies"]["password"]["type"] == "password"
        assert admin.get("/api/system/schema/nope").status_code == 404
    with server.client(headers=accounts["plain"]["headers"]) as plain:
        r = plain.get("/api/system/schema?config=1&secrets=1")
        assert r.status_code == 403, r.text


def test_passkey_strategy_login_route(server: NodeServer, accounts: dict[str, Any]) -> None:
    with server.client() as c:
        r = c.post("/api/auth/passkey/login", json={})
        assert r.status_code == 400 and r.json()["context"]["verify"] == "/api/auth/passkey/login/verify"
        r = c.post("/api/auth/passkey/login", data={}, headers={"Referer": server.url + BASE + "/auth/login"})
        assert r.status_code == 303
        assert r.headers["location"] == "/auth/passkeys?redirect=%2Fbknd%2Fauth%2Flogin"


def test_missing_bundle_stops_the_node(tmp_path: Path) -> None:
    node = NodeServer(tmp_path / "node", env={"NODEBASE_BKND_ADMIN_DIR": str(tmp_path / "nothing")})
    with pytest.raises(RuntimeError, match="no bknd admin bundle there"):
        node.start()


def test_shell_and_redirects(server: NodeServer, accounts: dict[str, Any]) -> None:
    with server.client() as anon:
        r = anon.get(BASE + "/data/entity/posts")
        assert r.status_code == 302 and r.headers["location"] == BASE + "/auth/login"
        page = anon.get(BASE + "/auth/login")
        assert page.status_code == 200 and '"admin_basepath":"/bknd"' in page.text
        assert '"user"' not in page.text
        assert anon.get(BASE + "/favicon.ico").status_code == 200
    with server.client(headers=accounts["plain"]["headers"]) as plain:
        assert plain.get(BASE + "/").headers.get("location") == BASE + "/auth/login"
    with server.client(headers=accounts["admin"]["headers"]) as admin:
        assert admin.get(BASE + "/auth/login").headers.get("location") == BASE + "/"
        page = admin.get(BASE + "/settings")
        assert page.status_code == 200 and accounts["admin"]["email"] in page.text
        assert '"logout_route":"/api/auth/logout"' in page.text


def _flash(response: httpx.Response) -> dict[str, Any] | None:
    """bknd's ``__bknd_flash`` cookie (its UI shows it as a notice, then clears it)."""
    raw = response.cookies.get("__bknd_flash")
    return None if raw is None else dict(json.loads(unquote(raw)))


def test_the_shell_checks_both_of_bknds_permissions(server: NodeServer, accounts: dict[str, Any]) -> None:
    """As bknd's AdminController: an admin page needs ``system.access.admin`` (without it: a
    redirect to the sign-in page and an error notice) and ``system.schema.read`` (without it the
    page is served with bknd's warning notice, as bknd does, since its UI cannot load the schema)."""
    with server.client(headers=accounts["admin"]["headers"]) as admin:
        r = admin.post("/api/system/config/set/auth", json={"roles": {
            "admin_only": {"permissions": ["system.access.admin"]},
            "schema_only": {"permissions": ["system.schema.read"]}}})
        assert r.status_code == 202, r.text
    html = {"Accept": "text/html"}
    for role in ("admin_only", "schema_only"):
        address, password = f"{role}-{secrets.token_hex(3)}@bknd.test", secrets.token_urlsafe(12)
        server.cli("user", "create", "--email", address, f"--password={password}", "--role", role)
        token = httpx.post(server.url + "/api/auth/password/login",
                           json={"email": address, "password": password}).json()["token"]
        with server.client(headers={"Authorization": "Bearer " + token, **html}) as c:
            page = c.get(BASE + "/data")
            if role == "admin_only":
                assert page.status_code == 200 and address in page.text
                assert _flash(page) == {"type": "warning", "message": "You are not allowed to read the schema"}
                # signed in with access to the admin: the sign-in page sends it on
                assert c.get(BASE + "/auth/login").headers.get("location") == BASE + "/"
                assert c.get("/api/system/schema").status_code == 403  # what the notice is about
            else:
                assert page.status_code == 302 and page.headers["location"] == BASE + "/auth/login"
                assert _flash(page) == {"type": "error", "message": "You are not authorized to access the Admin UI"}
                login = c.get(BASE + "/auth/login")
                assert login.status_code == 200 and _flash(login) is None
    with server.client(headers=accounts["admin"]["headers"] | html) as admin:
        page = admin.get(BASE + "/data")  # both permissions: no notice
        assert page.status_code == 200 and _flash(page) is None


# -- bknd's admin in Chromium ----------------------------------------------------------------
@pytest.fixture(scope="module")
def page(server: NodeServer, chromium: Any) -> Iterator[Any]:
    context = chromium.new_context()
    try:
        p = context.new_page()
        p.set_default_timeout(20_000)
        p.problems = []  # type: ignore[attr-defined]
        p.on("pageerror", lambda e: p.problems.append(f"page error: {e}"))  # type: ignore[attr-defined]
        # (nodebase's own passkey page has no favicon: the browser's 404 for it is no problem)
        p.on("console", lambda m: p.problems.append(  # type: ignore[attr-defined]
            f"console error: {m.text[:300]} ({m.location.get('url')})")
            if m.type == "error" and not str(m.location.get("url")).endswith("/favicon.ico") else None)
        p.on("response", lambda r: p.problems.append(f"{r.status} {r.request.method} {r.url}")  # type: ignore[attr-defined]
             if "/api/" in r.url and r.status >= 400 else None)
        yield p
    finally:
        context.close()


def _visit(page: Any, server: NodeServer, path: str, expect: str) -> None:
    page.goto(server.url + BASE + path)
    page.get_by_text(expect).first.wait_for()
    body = page.inner_text("body")
    assert "Missing Permission" not in body, (path, body[:500])
    assert "Something went wrong" not in body, (path, body[:500])


def test_bknd_admin_in_chromium(server: NodeServer, accounts: dict[str, Any], page: Any,
                                tmp_path: Path) -> None:
    admin = accounts["admin"]
    page.goto(server.url + BASE)
    page.wait_for_url(f"**{BASE}/auth/login")
    # bknd lists the passkey strategy as "Continue with Passkey": it leads to a passkey sign-in
    page.get_by_role("button", name="Continue with Passkey").click()
    page.wait_for_url("**/auth/passkeys?redirect=%2Fbknd%2Fauth%2Flogin")
    assert page.evaluate("window.nb.returnTo") == BASE + "/auth/login"
    page.go_back()
    page.wait_for_url(f"**{BASE}/auth/login")
    page.fill("input[name=email]", admin["email"])
    page.fill("input[name=password]", admin["password"])
    page.click('form[action$="/password/login"] button[type=submit]')
    page.wait_for_url(f"**{BASE}/data")
    page.get_by_text("Posts").first.wait_for()

    # create a row
    _visit(page, server, "/data/entity/posts/create", "Title")
    page.fill("input[name=title]", "Hello from bknd's admin")
    page.fill("input[name=views]", "7")
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/api/data/entity/posts")) as done:
        page.get_by_role("button", name="Create", exact=True).click()
    assert done.value.status == 201
    row_id = done.value.json()["data"]["id"]
    page.wait_for_url(f"**/data/entity/posts/edit/{row_id}")

    # edit it
    title = page.locator("input[name=title]")
    title.wait_for()
    assert title.input_value() == "Hello from bknd's admin"
    title.fill("Edited in bknd's admin")
    with page.expect_response(lambda r: r.request.method == "PATCH" and f"/api/data/entity/posts/{row_id}" in r.url) as done:
        page.get_by_role("button", name="Update", exact=True).click()
    assert done.value.status == 200
    with server.client(headers=admin["headers"]) as api:
        row = api.get(f"/api/data/entity/posts/{row_id}").json()["data"]
        assert row == {"id": row_id, "title": "Edited in bknd's admin", "views": 7, "slug": None}
    _visit(page, server, "/data/entity/posts", "Edited in bknd's admin")

    # upload a file
    upload = tmp_path / "from-bknd.txt"
    upload.write_bytes(b"uploaded through bknd's admin UI\n")
    _visit(page, server, "/media", "Upload files")
    with page.expect_response(lambda r: r.request.method == "POST" and "/api/media/upload" in r.url) as done:
        page.locator("input[type=file]").set_input_files(str(upload))
    assert done.value.status == 201, done.value.text()
    with server.client(headers=admin["headers"]) as api:
        files = api.get("/api/media/files").json()
        names = [f.get("key") or f.get("name") for f in files]
        assert "from-bknd.txt" in names, files
        assert api.get("/api/media/file/from-bknd.txt").content == upload.read_bytes()

    # add a field in bknd's schema editor: it saves the entity's fields whole, in bknd's keys
    _visit(page, server, "/data/schema/entity/posts", "Add Field")
    page.get_by_role("button", name="Add Field").first.click()
    page.get_by_role("button", name="Boolean", exact=True).click()
    page.fill("input[name='fields.4.name']", "published")
    with page.expect_response(lambda r: "/api/system/config/overwrite/data/entities.posts.fields" in r.url) as done:
        page.get_by_role("button", name="Update", exact=True).click()
    assert done.value.status == 202, done.value.text()
    with server.client(headers=admin["headers"]) as api:
        fields = api.get("/api/system/config/data").json()["config"]["entities"]["posts"]["fields"]
        assert fields["published"]["type"] == "boolean"
        assert fields["slug"]["config"]["unique"] is True  # nodebase's option bknd never showed is kept
        r = api.post("/api/data/entity/posts", json=[{"title": "a", "slug": "same"}, {"title": "b", "slug": "same"}])
        assert r.status_code == 409, r.text

    # users, roles, settings
    _visit(page, server, "/data/entity/users", admin["email"])
    _visit(page, server, "/auth/roles", "editor")

    # a role: bknd's editor shows the permissions nodebase stores as names, and saves objects
    _visit(page, server, "/auth/roles/edit/editor", "data.entity.create")

    def switch(name: str) -> Any:
        return page.get_by_text(name, exact=True).locator(
            "xpath=ancestor::div[contains(@class,'border-muted')][1]//button[@role='switch']")

    assert switch("data.entity.read").get_attribute("aria-checked") == "true"
    assert switch("data.entity.create").get_attribute("aria-checked") == "false"
    switch("data.entity.create").click()
    with page.expect_response(lambda r: "/api/system/config/" in r.url and r.request.method != "GET") as done:
        page.get_by_role("button", name="Update", exact=True).click()
    assert done.value.status == 202, done.value.text()
    with server.client(headers=admin["headers"]) as api:
        role = api.get("/api/system/config/auth").json()["config"]["roles"]["editor"]
        granted = {p["permission"] if isinstance(p, dict) else p for p in role["permissions"]}
        assert granted == {"system.access.api", "data.entity.read", "data.entity.create"}

    # the auth settings form loads and saves
    _visit(page, server, "/auth/settings", "Allow User Registration")
    page.fill('input[name="cookie.pathLoggedOut"]', BASE)
    with page.expect_response(lambda r: "/api/system/config/set/auth" in r.url) as done:
        page.get_by_role("button", name="Update", exact=True).click()
    assert done.value.status == 202, done.value.text()
    with server.client(headers=admin["headers"]) as api:
        cookie = api.get("/api/system/config/auth").json()["config"]["cookie"]
        assert cookie["pathLoggedOut"] == BASE and cookie["pathSuccess"] == BASE

    _visit(page, server, "/auth/strategies", "Password")
    for section, text in (("server", "Cors"), ("data", "Entities"), ("auth", "Jwt"), ("media", "Basepath"),
                          ("flows", "Flows")):
        _visit(page, server, f"/settings/{section}", text)

    # every page so far without a page error, a console error or a failed /api call
    assert page.problems == []  # type: ignore[attr-defined]

    # sign out from bknd's user menu: back to its sign-in page, the cookie gone. (Signed out,
    # bknd's UI may ask GET /api/auth/me again, and whether it does before the test ends is a
    # matter of timing; its answer is bknd's 403 {"user": null}, checked here directly.)
    page.get_by_role("button", name=admin["email"][0].upper(), exact=True).click()
    page.get_by_text("Logout", exact=True).click()
    page.wait_for_url(f"**{BASE}/auth/login")
    assert [c for c in page.context.cookies() if c["name"] == "auth"] == []
    me = page.request.get(server.url + "/api/auth/me")
    assert me.status == 403 and me.json() == {"user": None}
