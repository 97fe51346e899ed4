"""The admin UI (/admin) in real headless Chromium (Debian's, driven by Playwright) against a
real server: every step is a click or typing on the page; the server's answers are checked
through the public API. Screenshots of each page go to the test's tmp dir (artifacts)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import admin_headers, unique
from tests.nodeserver import NodeServer

PASSWORD = "correct-horse-42"
TIMEOUT = 15_000  # ms, an upper bound for any one wait


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeServer]:
    # the UI only speaks HTTP: one database (SQLite) is enough here
    # log_level info: request lines reach the recent-logs ring the System page shows
    s = NodeServer(tmp_path_factory.mktemp("admin-node"), env={"NODEBASE_LOG_LEVEL": "info"}).start()
    yield s
    s.stop()
    errors = s.server_errors()
    assert not errors, f"the server logged unhandled errors:\n{errors}"


@pytest.fixture(scope="module")
def admin(server: NodeServer) -> Iterator[httpx.Client]:
    with server.client(headers=admin_headers(server)) as c:
        yield c


@pytest.fixture(scope="module")
def admin_login(server: NodeServer, admin: httpx.Client) -> tuple[str, str]:
    address = f"{unique('root')}@nodebase.test"
    server.cli("user", "create", "--email", address, f"--password={PASSWORD}", "--role", "admin")
    return address, PASSWORD


class UI:
    def __init__(self, page: Any, base: str, shots: Path) -> None:
        self.page, self.base, self.shots = page, base, shots
        page.set_default_timeout(TIMEOUT)

    def open(self, path: str = "/admin") -> None:
        self.page.goto(self.base + path)

    def sign_in(self, address: str, password: str) -> None:
        self.open()
        self.page.fill("#login-email", address)
        self.page.fill("#login-password", password)
        self.page.click("#login-submit")

    def go(self, section: str) -> None:
        self.page.click(f"#nav-{section}")

    def shot(self, name: str) -> None:
        self.shots.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)


@pytest.fixture
def ui(chromium: Any, server: NodeServer, tmp_path: Path) -> Iterator[UI]:
    # localhost: a secure context, so the Secure auth cookie is kept over plain HTTP
    context = chromium.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    try:
        yield UI(context.new_page(), f"http://localhost:{server.port}", tmp_path / "screenshots")
    finally:
        context.close()


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def test_root_links_to_admin(server: NodeServer) -> None:
    r = httpx.get(server.url + "/", headers={"Accept": "text/html"})
    assert 'href="/admin"' in r.text


def test_a_non_admin_gets_no_admin_page_and_no_data(ui: UI, server: NodeServer, admin: httpx.Client) -> None:
    address = f"{unique('plain')}@nodebase.test"
    r = admin.post("/api/auth/password/actions/create", json={"email": address, "password": PASSWORD})
    assert r.status_code == 200, r.text
    ui.sign_in(address, PASSWORD)
    expect(ui.page.locator("#denied-title")).to_have_text("Not an admin")
    assert address in ui.page.inner_text("#denied-text")
    assert ui.page.locator("#nav-data").count() == 0
    ui.shot("not-admin")
    # the same cookie gets no admin data from the API either
    status = ui.page.evaluate("async () => (await fetch('/api/system/config/auth')).status")
    assert status == 403
    assert ui.page.evaluate("async () => (await fetch('/api/data/entity/users')).status") == 403
    for path in ("/metrics", "/api/system/logs"):  # the System page's metrics and logs
        assert ui.page.evaluate(f"async () => (await fetch('{path}')).status") == 403, path
    # sign out from the page: back to the sign-in form
    ui.page.click("#denied-logout")
    expect(ui.page.locator("#login-form")).to_be_visible()


def test_the_page_speaks_the_browsers_language_before_any_script(server: NodeServer, admin: httpx.Client) -> None:
    address = f"{unique('plainzh')}@nodebase.test"
    assert admin.post("/api/auth/password/actions/create", json={"email": address, "password": PASSWORD}).status_code == 200
    with server.client() as c:
        token = c.post("/api/auth/password/login", json={"email": address, "password": PASSWORD}).json()["token"]
        zh = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5", "Authorization": f"Bearer {token}"}
        denied = c.get("/admin/data", headers=zh)
        assert denied.status_code == 403 and "无权访问" in denied.text and "/admin/static/app.js" not in denied.text
        # the cookie's choice wins over the browser's
        denied = c.get("/admin", headers={**zh, "Cookie": "nb_lang=en"})
        assert denied.status_code == 403 and "Not an admin" in denied.text
        shell = c.get("/admin", headers={"Accept-Language": "zh-TW"})
        assert shell.status_code == 200 and '<html lang="zh-CN">' in shell.text
        assert shell.headers["cache-control"] == "no-store"
        assert c.get("/admin/static/app.js").headers["content-type"].startswith("text/javascript")


def test_wrong_password_is_reported(ui: UI, admin_login: tuple[str, str]) -> None:
    ui.sign_in(admin_login[0], "not-the-password")
    expect(ui.page.locator("#login-error")).to_have_text("Wrong e-mail or password")


def test_schema_rows_validation_live_filter_sort_and_pages(ui: UI, admin: httpx.Client, admin_login: tuple[str, str]) -> None:
    page = ui.page
    ui.sign_in(*admin_login)
    expect(page.locator("#whoami")).to_have_text(admin_login[0])

    # Schema: a new entity with a required text field (at most 8 characters), then a number field
    name = unique("notes")
    ui.go("schema")
    page.fill("#entity-name", name)
    page.fill("#new-field-name", "title")
    page.select_option("#new-field-type", "text")
    page.check("#new-field-required")
    page.fill("#new-field-max", "8")
    page.click("#entity-create")
    expect(page.locator(f'.entity[data-entity="{name}"]')).to_be_visible()
    page.select_option("#add-field-entity", name)
    page.fill("#add-field-name", "score")
    page.select_option("#add-field-type", "number")
    page.click("#field-create")
    expect(page.locator(f'.entity[data-entity="{name}"] tr[data-field="score"]')).to_be_visible()
    fields = admin.get("/api/data").json()["entities"][name]["fields"]
    assert fields["title"] == {"type": "text", "config": {"required": True, "maxLength": 8}}
    assert fields["score"]["type"] == "number"
    ui.shot("schema")

    # Data: a row whose title is too long shows the error under the title field
    page.goto(f"{ui.base}/admin#/data/{name}")
    expect(page.locator("#live")).to_have_text("live")
    page.click("#row-new")
    page.fill('#row-create [data-field="title"]', "far too long")
    page.fill('#row-create [data-field="score"]', "3")
    page.click("#row-create .row-save")
    err = page.locator('#row-create [data-error-for="title"]')
    expect(err).to_contain_text("title")
    page.fill('#row-create [data-field="title"]', "first")
    page.click("#row-create .row-save")
    expect(page.locator("#rows tbody tr[data-id]")).to_have_count(1)
    rows = admin.get(f"/api/data/entity/{name}").json()["data"]
    assert [(r["title"], r["score"]) for r in rows] == [("first", 3)]
    row_id = rows[0]["id"]

    # edit it inline: an invalid value is refused on its field, a valid one saved
    page.click(f'#rows tr[data-id="{row_id}"] .row-edit')
    page.fill(f'#edit-{row_id} [data-field="title"]', "")
    page.click(f"#edit-{row_id} .row-save")
    expect(page.locator(f'#edit-{row_id} [data-error-for="title"]')).to_be_visible()
    page.fill(f'#edit-{row_id} [data-field="title"]', "renamed")
    page.click(f"#edit-{row_id} .row-save")
    expect(page.locator(f'#rows tr[data-id="{row_id}"] td[data-col="title"]')).to_have_text("renamed")
    assert admin.get(f"/api/data/entity/{name}/{row_id}").json()["data"]["title"] == "renamed"
    ui.shot("data-edit")

    # someone else adds rows: they appear without a reload
    made = admin.post(f"/api/data/entity/{name}", json=[{"title": f"n{i}", "score": i} for i in range(4, 16)])
    assert made.status_code == 201, made.text
    expect(page.locator("#page-info")).to_have_text("1–10 of 13")
    page.click("#page-next")
    expect(page.locator("#page-info")).to_have_text("11–13 of 13")
    page.click("#page-prev")

    # sort by score, descending (two clicks on the header)
    page.click('#rows th[data-sort="score"]')
    expect(page.locator("#rows tbody tr[data-id] td[data-col='score']").first).to_have_text("3")
    page.click('#rows th[data-sort="score"]')
    expect(page.locator("#rows tbody tr[data-id] td[data-col='score']").first).to_have_text("15")

    # the filter builder writes the query and shows it
    page.click("#filter-add")
    cond = page.locator("#conditions .cond").first
    cond.locator(".cond-field").select_option("score")
    cond.locator(".cond-op").select_option("$gte")
    cond.locator(".cond-value").fill("13")
    page.click("#filter-apply")
    expect(page.locator("#query-text")).to_have_text('{"score":{"$gte":13}}')
    expect(page.locator("#page-info")).to_have_text("1–3 of 3")
    scores = page.locator("#rows tbody tr[data-id] td[data-col='score']").all_inner_texts()
    assert scores == ["15", "14", "13"]
    ui.shot("data")

    # delete a row (the page asks first)
    page.on("dialog", lambda d: d.accept())
    target = admin.get(f"/api/data/entity/{name}", params={"where": '{"score": 15}'}).json()["data"][0]["id"]
    page.click(f'#rows tr[data-id="{target}"] .row-delete')
    expect(page.locator("#page-info")).to_have_text("1–2 of 2")
    assert admin.get(f"/api/data/entity/{name}/{target}").status_code == 404


def test_dropping_a_field_needs_a_confirmation(ui: UI, admin: httpx.Client, admin_login: tuple[str, str]) -> None:
    name = unique("drops")
    r = admin.post(f"/api/system/config/add/data/entities.{name}", json={"fields": {"a": {"type": "text"}, "b": {"type": "text"}}})
    assert r.status_code == 202, r.text
    page = ui.page
    ui.sign_in(*admin_login)
    ui.go("schema")
    page.click(f'.entity[data-entity="{name}"] tr[data-field="b"] .field-drop')
    expect(page.locator("#destructive")).to_contain_text("b")
    assert "b" in admin.get("/api/data").json()["entities"][name]["fields"]  # not yet
    page.click("#confirm-drop")
    expect(page.locator(f'.entity[data-entity="{name}"] tr[data-field="b"]')).to_have_count(0)
    assert list(admin.get("/api/data").json()["entities"][name]["fields"]) == ["a"]
    # the sync plan: nothing left to do
    page.click("#sync-plan")
    expect(page.locator("#sync-output")).to_contain_text('"changes": []')
    # a bad field type is refused by the server, and the page says why
    page.select_option("#add-field-entity", name)
    page.fill("#add-field-name", "c")
    page.select_option("#add-field-type", "text")
    page.fill("#add-field-min", "-1")
    page.click("#field-create")
    expect(page.locator("#schema-error")).to_contain_text("minLength")
    assert "c" not in admin.get("/api/data").json()["entities"][name]["fields"]


def test_relations_and_indices_in_schema_and_related_rows_in_data(ui: UI, admin: httpx.Client, admin_login: tuple[str, str]) -> None:
    authors, books = unique("authors"), unique("books")
    for entity, field in ((authors, "name"), (books, "title")):
        r = admin.post(f"/api/system/config/add/data/entities.{entity}", json={"fields": {field: {"type": "text"}}})
        assert r.status_code == 202, r.text
    page = ui.page
    ui.sign_in(*admin_login)
    ui.go("schema")
    # a relation: the dry run shows the column it adds, nothing is applied before "Apply"
    page.select_option("#relation-source", books)
    page.select_option("#relation-type", "n:1")
    page.select_option("#relation-target", authors)
    page.click("#relation-create")
    change = page.locator('#plan li[data-kind="add_column"]')
    expect(change).to_contain_text(f"{books}.{authors}_id")
    expect(change.locator(".sql")).to_contain_text("ALTER TABLE")
    relation = f"n1_{books}_{authors}"
    assert relation not in admin.get("/api/data").json()["relations"]
    page.click("#plan-apply")
    expect(page.locator(f'#relations tr[data-relation="{relation}"]')).to_contain_text(f"{books} → {authors}")
    assert admin.get("/api/data").json()["relations"][relation] == {"type": "n:1", "source": books, "target": authors}
    # an index, the same way
    page.select_option("#index-entity", books)
    page.fill("#index-fields", "title")
    page.click("#index-create")
    expect(page.locator('#plan li[data-kind="create_index"]')).to_contain_text(f"idx_{books}_title")
    page.click("#plan-apply")
    expect(page.locator(f'#indices tr[data-index="idx_{books}_title"]')).to_be_visible()
    assert admin.get("/api/data").json()["indices"][f"idx_{books}_title"]["fields"] == ["title"]
    ui.shot("schema-relations")

    # Data: the relation field is a select of the target's rows when creating and editing
    made = admin.post(f"/api/data/entity/{authors}", json=[{"name": "ada"}, {"name": "bob"}]).json()["data"]
    ada, bob = made[0]["id"], made[1]["id"]
    page.goto(f"{ui.base}/admin#/data/{books}")
    expect(page.locator("#live")).to_have_text("live")
    page.click("#row-new")
    page.fill('#row-create [data-field="title"]', "Notes on engines")
    page.select_option(f'#row-create [data-field="{authors}_id"]', str(ada))
    page.click("#row-create .row-save")
    expect(page.locator("#rows tbody tr[data-id]")).to_have_count(1)
    book = admin.get(f"/api/data/entity/{books}").json()["data"][0]
    assert (book["title"], book[f"{authors}_id"]) == ("Notes on engines", ada)
    expect(page.locator(f'#rows tr[data-id="{book["id"]}"] td[data-col="{authors}_id"]')).to_have_text(str(ada))
    # the related rows of the book: its author
    page.click(f'#rows tr[data-id="{book["id"]}"] .row-related')
    expect(page.locator(f'tr[data-related-for="{book["id"]}"] .related-ref[data-ref="{authors}"] tr[data-related-id="{ada}"]')).to_contain_text("ada")
    # change the author inline
    page.click(f'#rows tr[data-id="{book["id"]}"] .row-edit')
    page.select_option(f'#edit-{book["id"]} [data-field="{authors}_id"]', str(bob))
    page.click(f'#edit-{book["id"]} .row-save')
    expect(page.locator(f'#rows tr[data-id="{book["id"]}"] td[data-col="{authors}_id"]')).to_have_text(str(bob))
    assert admin.get(f"/api/data/entity/{books}/{book['id']}").json()["data"][f"{authors}_id"] == bob
    # from the other side: bob's books
    page.goto(f"{ui.base}/admin#/data/{authors}")
    page.click(f'#rows tr[data-id="{bob}"] .row-related')
    part = page.locator(f'tr[data-related-for="{bob}"] .related-ref[data-ref="{books}"]')
    expect(part.locator(f'tr[data-related-id="{book["id"]}"]')).to_contain_text("Notes on engines")
    expect(page.locator(f'tr[data-related-for="{bob}"] .related-count')).to_have_text("1 row(s)")
    ui.shot("data-related")


def test_editing_a_field_shows_the_plan_and_a_rename_needs_a_confirmation(ui: UI, admin: httpx.Client, admin_login: tuple[str, str]) -> None:
    name = unique("edits")
    r = admin.post(f"/api/system/config/add/data/entities.{name}",
                   json={"fields": {"title": {"type": "text"}, "note": {"type": "text"}}})
    assert r.status_code == 202, r.text
    assert admin.post(f"/api/data/entity/{name}", json={"title": "kept", "note": "lost"}).status_code == 201
    page = ui.page
    ui.sign_in(*admin_login)
    ui.go("schema")
    ent = page.locator(f'.entity[data-entity="{name}"]')
    # a constraint: the plan says no database change; applied on "Apply"
    ent.locator('tr[data-field="title"] .field-edit').click()
    ent.locator('tr[data-edit-field="title"] .edit-field-config').fill("{not json")
    ent.locator('tr[data-edit-field="title"] .edit-field-review').click()
    expect(ent.locator(".edit-field-error")).to_have_text("Not valid JSON")
    ent.locator('tr[data-edit-field="title"] .edit-field-config').fill('{"maxLength": 20, "required": true}')
    ent.locator('tr[data-edit-field="title"] .edit-field-review').click()
    expect(page.locator("#plan")).to_have_text("No database change.")
    expect(page.locator("#plan-diff .diff-new")).to_contain_text('"maxLength": 20')
    assert admin.get("/api/data").json()["entities"][name]["fields"]["title"] == {"type": "text"}
    page.click("#plan-apply")
    expect(page.locator(f'.entity[data-entity="{name}"] tr[data-field="title"]')).to_contain_text('"maxLength":20')
    assert admin.get("/api/data").json()["entities"][name]["fields"]["title"] == {
        "type": "text", "config": {"maxLength": 20, "required": True}}
    # a rename drops the old column: the plan marks it, and applying needs "Drop anyway"
    ent = page.locator(f'.entity[data-entity="{name}"]')
    ent.locator('tr[data-field="note"] .field-edit').click()
    ent.locator('tr[data-edit-field="note"] .edit-field-name').fill("memo")
    ent.locator('tr[data-edit-field="note"] .edit-field-review').click()
    expect(page.locator('#plan li.destructive[data-kind="drop_column"]')).to_contain_text(f"{name}.note")
    expect(page.locator('#plan li[data-kind="add_column"]')).to_contain_text(f"{name}.memo")
    page.click("#plan-apply")
    expect(page.locator("#destructive")).to_contain_text(f"drop_column {name}.note")
    assert list(admin.get("/api/data").json()["entities"][name]["fields"]) == ["title", "note"]  # not yet
    ui.shot("schema-destructive")
    page.click("#confirm-drop")
    expect(page.locator(f'.entity[data-entity="{name}"] tr[data-field="memo"]')).to_be_visible()
    assert list(admin.get("/api/data").json()["entities"][name]["fields"]) == ["title", "memo"]
    rows = admin.get(f"/api/data/entity/{name}").json()["data"]
    assert [(r["title"], r["memo"]) for r in rows] == [("kept", None)]


def test_a_role_with_a_row_filter_limits_a_plain_user(ui: UI, server: NodeServer, admin: httpx.Client, admin_login: tuple[str, str]) -> None:
    name = unique("owned")
    r = admin.post(f"/api/system/config/add/data/entities.{name}",
                   json={"fields": {"title": {"type": "text"}, "owner_id": {"type": "number"}}})
    assert r.status_code == 202, r.text
    role, address = unique("owner"), f"{unique('limited')}@nodebase.test"
    page = ui.page
    ui.sign_in(*admin_login)
    ui.go("auth")
    page.fill("#role-name", role)
    page.check('[data-role-editor="new"] [data-perm="data.entity.read"]')
    page.select_option("#role-filter-entity", name)
    page.fill("#role-filter", "{not json")
    page.click("#role-create")
    expect(page.locator('[data-role-editor="new"] [data-error-for="filter"]')).to_have_text("Not valid JSON")
    page.fill("#role-filter", '{"owner_id": "@user.id"}')
    page.click("#role-create")
    expect(page.locator(f'details[data-role="{role}"]')).to_be_visible()
    # a user with that role, made on the page
    page.fill("#user-email", address)
    page.fill("#user-password", PASSWORD)
    page.select_option("#user-role", role)
    page.click("#user-create")
    expect(page.locator(f'#users tr[data-user="{address}"]')).to_be_visible()
    ui.shot("auth")
    # a role is changed on the page too
    page.locator(f'#users tr[data-user="{address}"] .user-role').select_option("")
    expect(page.locator("#auth-result")).to_have_text("Saved")
    users = admin.get("/api/data/entity/users", params={"where": f'{{"email": "{address}"}}'}).json()["data"]
    assert users[0]["role"] is None
    page.locator(f'#users tr[data-user="{address}"] .user-role').select_option(role)
    expect(page.locator("#auth-result")).to_have_text("Saved")

    with server.client() as c:
        me = c.post("/api/auth/password/login", json={"email": address, "password": PASSWORD}).json()
        uid = me["user"]["id"]
        assert me["user"]["role"] == role
        made = admin.post(f"/api/data/entity/{name}", json=[{"title": "mine", "owner_id": uid}, {"title": "theirs", "owner_id": uid + 1000}])
        assert made.status_code == 201
        rows = c.get(f"/api/data/entity/{name}", headers={"Authorization": f"Bearer {me['token']}"}).json()["data"]
        assert [r["title"] for r in rows] == ["mine"]

        # the admin resets the password on the page: the old token and password stop working
        row = page.locator(f'#users tr[data-user="{address}"]')
        row.locator(".user-new-password").fill("a-new-password-7")
        row.locator(".user-reset").click()
        expect(page.locator("#auth-result")).to_have_text("Saved")
        bearer = {"Authorization": f"Bearer {me['token']}"}
        assert c.get("/api/auth/me", headers=bearer).status_code == 403
        assert c.post("/api/auth/password/login", json={"email": address, "password": PASSWORD}).status_code == 401
        again = c.post("/api/auth/password/login", json={"email": address, "password": "a-new-password-7"})
        assert again.status_code == 200
        bearer = {"Authorization": f"Bearer {again.json()['token']}"}
        assert c.get("/api/auth/me", headers=bearer).status_code == 200
        # ... and signs the user out everywhere
        row.locator(".user-revoke").click()
        expect(page.locator("#auth-result")).to_have_text("Saved")
        assert c.get("/api/auth/me", headers=bearer).status_code == 403


def test_a_roles_permissions_are_edited_and_a_bad_filter_is_refused_on_its_field(
        ui: UI, admin: httpx.Client, admin_login: tuple[str, str]) -> None:
    name, role = unique("tasks"), unique("editor")
    r = admin.post(f"/api/system/config/add/data/entities.{name}",
                   json={"fields": {"title": {"type": "text"}, "owner_id": {"type": "number"}}})
    assert r.status_code == 202, r.text
    original = {"permissions": [{"permission": "data.entity.read", "effect": "allow", "policies": [
        {"condition": {"entity": name}, "effect": "filter", "filter": {"owner_id": "@user.id"}}]}]}
    assert admin.post(f"/api/system/config/add/auth/roles.{role}", json=original).status_code == 202
    page = ui.page
    ui.sign_in(*admin_login)
    ui.go("auth")
    page.click(f'details[data-role="{role}"] summary')
    editor = page.locator(f'[data-role-editor="{role}"]')
    expect(editor.locator('[data-perm="data.entity.read"]')).to_be_checked()
    expect(editor.locator(".role-filter")).to_have_value('{"owner_id":"@user.id"}')
    editor.locator('[data-perm="data.entity.update"]').check()
    # an operator the server does not know: refused, the error under the filter field
    editor.locator(".role-filter").fill('{"owner_id": {"$bogus": 1}}')
    editor.locator(".role-save").click()
    expect(editor.locator('[data-error-for="filter"]')).to_contain_text("unknown operator '$bogus'")
    assert admin.get("/api/system/config/auth").json()["config"]["roles"][role] == original
    # a field the entity does not have: refused on the field, nothing saved
    editor.locator(".role-filter").fill('{"$or": [{"owner_id": 1}, {"ownr": "@user.id"}]}')
    editor.locator(".role-save").click()
    expect(editor.locator('[data-error-for="filter"]')).to_have_text(f"Unknown field on {name}: ownr")
    assert admin.get("/api/system/config/auth").json()["config"]["roles"][role] == original
    # the builder writes a valid filter on the entity's fields
    editor.locator(".role-cond-add").click()
    cond = editor.locator(".cond").first
    cond.locator(".cond-field").select_option("owner_id")
    cond.locator(".cond-op").select_option("$eq")
    cond.locator(".cond-value").fill("@user.id")
    expect(editor.locator(".role-filter")).to_have_value('{"owner_id":{"$eq":"@user.id"}}')
    editor.locator(".role-save").click()
    expect(page.locator("#auth-result")).to_have_text("Saved")
    expect(editor.locator('[data-error-for="filter"]')).to_have_text("")
    saved = admin.get("/api/system/config/auth").json()["config"]["roles"][role]["permissions"]
    policy = [{"condition": {"entity": name}, "effect": "filter", "filter": {"owner_id": {"$eq": "@user.id"}}}]
    assert saved == [{"permission": "data.entity.read", "effect": "allow", "policies": policy},
                     {"permission": "data.entity.update", "effect": "allow", "policies": policy}]
    ui.shot("auth-role-edit")


def test_api_key_is_shown_once_and_revoked(ui: UI, server: NodeServer, admin: httpx.Client, admin_login: tuple[str, str]) -> None:
    page = ui.page
    key_name = unique("deploy")
    ui.sign_in(*admin_login)
    ui.go("auth")
    page.fill("#key-name", key_name)
    page.select_option("#key-role", "admin")
    page.click("#key-create")
    key = page.locator("#new-key").inner_text()
    assert key.startswith("nbk_")
    assert httpx.get(server.url + "/api/system/config/auth", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    page.reload()
    expect(page.locator(f'#apikeys tr[data-key="{key_name}"]')).to_be_visible()
    assert key not in page.content()
    page.click(f'#apikeys tr[data-key="{key_name}"] .key-revoke')
    expect(page.locator(f'#apikeys tr[data-key="{key_name}"]')).to_contain_text("revoked")
    refused = httpx.get(server.url + "/api/system/config/auth", headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 403 and "refused" in refused.json()["description"]


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2210bc30000000049454e44ae426082"
)


def test_upload_with_progress_preview_and_delete(ui: UI, admin: httpx.Client, admin_login: tuple[str, str], tmp_path: Path) -> None:
    page = ui.page
    big = tmp_path / f"{unique('big')}.bin"
    big.write_bytes(b"x" * (3 * 1024 * 1024))
    image = tmp_path / f"{unique('dot')}.png"
    image.write_bytes(PNG)
    ui.sign_in(*admin_login)
    ui.go("media")
    page.set_input_files("#upload-input", str(big))
    page.click("#upload-start")
    expect(page.locator(f'#files tr[data-file="{big.name}"]')).to_be_visible()
    # the bar went through to 100 % (set by the XHR progress events)
    bar = page.locator("#upload-progress")
    assert bar.evaluate("el => el.value") == 1
    assert int(bar.get_attribute("data-steps")) >= 1
    assert page.locator("#upload-percent").inner_text() == "100%"
    page.set_input_files("#upload-input", str(image))
    page.click("#upload-start")
    page.click(f'#files tr[data-file="{image.name}"] .file-preview')
    img = page.locator("#preview-image")
    expect(img).to_be_visible()
    # the browser decoded it: wait for the load (or error) event if it is still loading
    width = img.evaluate("""el => el.complete ? el.naturalWidth : new Promise((done) => {
        el.addEventListener("load", () => done(el.naturalWidth));
        el.addEventListener("error", () => done(-1)); })""")
    assert width == 1
    ui.shot("media")
    names = [f["key"] for f in admin.get("/api/media/files").json()]
    assert big.name in names and image.name in names
    page.click(f'#files tr[data-file="{big.name}"] .file-delete')
    expect(page.locator(f'#files tr[data-file="{big.name}"]')).to_have_count(0)
    assert big.name not in [f["key"] for f in admin.get("/api/media/files").json()]


def test_run_a_flow_and_see_its_tasks_output(ui: UI, admin: httpx.Client, admin_login: tuple[str, str]) -> None:
    flow = unique("greet")
    definition = {
        "trigger": {"type": "manual", "config": {}},
        "tasks": {"hello": {"type": "render", "params": {"render": "hello {{ input.who }}"}},
                  "shout": {"type": "render", "params": {"render": "{{ hello.output | upper }}!"}}},
        "connections": {"c1": {"source": "hello", "target": "shout", "config": {"condition": {"type": "success"}}}},
        "start_task": "hello", "responding_task": "shout",
    }
    assert admin.put(f"/api/flows/flow/{flow}", json=definition).status_code in (200, 201)
    page = ui.page
    ui.sign_in(*admin_login)
    page.goto(f"{ui.base}/admin#/flows/{flow}")
    expect(page.locator("#flow-tasks li")).to_have_count(2)
    expect(page.locator("#flow-connections")).to_contain_text("hello → shout")
    # the graph: the start task in the first column, the next one to its right, one arrow
    graph = page.locator("#flow-graph")
    expect(graph.locator("g.graph-task")).to_have_count(2)
    assert graph.locator("line").count() == 1
    x = [float(graph.locator(f'g[data-task="{t}"] rect').get_attribute("x") or "nan") for t in ("hello", "shout")]
    assert x[0] < x[1]
    page.fill("#run-input", '{"who": "ada"}')
    page.click("#run-flow")
    expect(page.locator("#run-status")).to_have_text("success")
    expect(page.locator("#run-response")).to_contain_text("HELLO ADA!")
    page.locator("#runs tr[data-run]").first.click()
    expect(page.locator('#run-detail .task-log[data-task="hello"]')).to_contain_text("hello ada")
    ui.shot("flows")


def test_system_page(ui: UI, admin: httpx.Client, admin_login: tuple[str, str]) -> None:
    page = ui.page
    ui.sign_in(*admin_login)
    expect(page.locator("#nav-system")).to_be_visible()
    assert page.locator("#nav-apps").count() == 0  # this node runs no app
    ui.go("system")
    expect(page.locator("#health")).to_have_text("ok")
    expect(page.locator("#version")).to_contain_text("nodebase")
    assert page.get_attribute("#swagger-link", "href") == "/api/system/swagger"
    config = page.inner_text("#config")
    assert '"auth"' in config and '"secret"' not in config.replace('"secret": "********"', "")
    # metrics: two samples make the first point of each chart; the page's own requests are counted
    requests = page.locator("#chart-requests")
    expect(requests).to_have_attribute("data-points", re.compile(r"^([2-9]|\d\d+)$"), timeout=20_000)
    assert float(requests.get_attribute("data-max") or "0") > 0
    assert requests.locator("polyline").count() == 1
    assert len((requests.locator("polyline").get_attribute("points") or "").split()) >= 2
    assert float(page.locator("#chart-latency").get_attribute("data-max") or "0") > 0
    assert page.locator("#chart-errors").get_attribute("data-max") == "0"
    total = int(page.locator("#metrics-summary").get_attribute("data-requests") or "0")
    assert total > 0
    # the busiest routes: at most 10, by request count
    expect(page.locator("#metrics-routes tr[data-route]").first).to_be_visible()
    counts = [int(x) for x in page.locator("#metrics-routes tr[data-route] td:nth-child(2)").all_inner_texts()]
    assert 0 < len(counts) <= 10 and counts == sorted(counts, reverse=True) and counts[0] > 0
    # recent logs: the request lines of this process, newest first, this page's own among them
    expect(page.locator('#logs tr[data-logger="nodebase.request"]').first).to_be_visible()
    assert "GET /api/system/info → 200" in page.locator("#logs").inner_text()
    ui.shot("system")
    page.select_option("#logs-level", "warning")
    expect(page.locator('#logs tr[data-logger="nodebase.request"]')).to_have_count(0)


def test_language_follows_the_browser_and_switches(chromium: Any, server: NodeServer, admin_login: tuple[str, str], tmp_path: Path) -> None:
    context = chromium.new_context(locale="zh-CN")
    try:
        ui = UI(context.new_page(), f"http://localhost:{server.port}", tmp_path / "screenshots")
        ui.open()
        expect(ui.page.locator("#login-submit")).to_have_text("登录")
        ui.sign_in(*admin_login)
        expect(ui.page.locator("#nav-data")).to_have_text("数据")
        ui.shot("zh")
        ui.page.click("#lang-en")
        expect(ui.page.locator("#nav-data")).to_have_text("Data")
        ui.page.reload()  # the choice is kept
        expect(ui.page.locator("#nav-data")).to_have_text("Data")
        for section in ("schema", "auth", "media", "flows", "system"):
            ui.go(section)
            ui.page.click("#lang-zh")
            expect(ui.page.locator("#signout")).to_have_text("退出登录")
            ui.page.click("#lang-en")
            expect(ui.page.locator("#signout")).to_have_text("Sign out")
        assert re.search(r"nb_lang=en", ui.page.evaluate("document.cookie"))
        ui.page.click("#signout")
        expect(ui.page.locator("#login-form")).to_be_visible()
    finally:
        context.close()


AUTHENTICATOR = {"protocol": "ctap2", "ctap2Version": "ctap2_1", "transport": "internal",
                 "hasResidentKey": True, "hasUserVerification": True, "isUserVerified": True,
                 "automaticPresenceSimulation": True}


def test_sign_in_with_a_passkey(chromium: Any, server: NodeServer, admin_login: tuple[str, str], tmp_path: Path) -> None:
    context = chromium.new_context(locale="en-US")
    try:
        ui = UI(context.new_page(), f"http://localhost:{server.port}", tmp_path / "screenshots")
        cdp = context.new_cdp_session(ui.page)
        cdp.send("WebAuthn.enable", {"enableUI": False})
        authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})["authenticatorId"]
        # the admin adds a passkey on the Auth page, signs out, and signs in with it
        ui.sign_in(*admin_login)
        ui.go("auth")
        ui.page.fill("#passkey-name", "laptop")
        ui.page.click("#passkey-add")
        expect(ui.page.locator('#passkeys li[data-passkey="laptop"]')).to_be_visible()
        assert len(cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]) == 1
        ui.page.click("#signout")
        expect(ui.page.locator("#login-form")).to_be_visible()
        ui.page.click("#login-passkey")
        expect(ui.page.locator("#whoami")).to_have_text(admin_login[0])
        expect(ui.page.locator("#nav-data")).to_be_visible()
        # and removes it
        ui.go("auth")
        ui.page.click('#passkeys li[data-passkey="laptop"] .passkey-delete')
        expect(ui.page.locator("#passkeys li")).to_have_count(0)
    finally:
        context.close()
