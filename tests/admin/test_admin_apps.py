"""The admin UI's Apps page in real Chromium against a node running the chat and Studio
(`NODEBASE_APPS=chat,studio`): delete a chat message, retry a failed Studio source — by
clicks, checked through the apps' own HTTP routes — and a non-admin gets none of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.admin.test_admin_ui import PASSWORD, UI, expect
from tests.conftest import admin_headers, unique
from tests.knowledge.conftest import page_server  # noqa: F401  (a local page server)
from tests.nodeserver import NodeServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeServer]:
    s = NodeServer(tmp_path_factory.mktemp("admin-apps-node"), env={
        "NODEBASE_APPS": "chat,studio", "NODEBASE_GRPC_PORT": "0", "NODEBASE_EMBEDDING_URL": "hashing:64",
        "NODEBASE_FETCH_ALLOW_PRIVATE": "true"}).start()
    yield s
    s.stop()
    errors = s.server_errors()
    assert not errors, f"the server logged unhandled errors:\n{errors}"


@pytest.fixture(scope="module")
def admin_login(server: NodeServer) -> tuple[str, str]:
    address = f"{unique('root')}@nodebase.test"
    server.cli("user", "create", "--email", address, f"--password={PASSWORD}", "--role", "admin")
    return address, PASSWORD


@pytest.fixture(scope="module")
def alice(server: NodeServer) -> Iterator[tuple[httpx.Client, str]]:
    """A plain chat and Studio user (no role)."""
    name = unique("alice")
    email = f"{name}@nodebase.test"
    with server.client() as c:
        r = c.post("/users/register", json={"username": name, "email": email, "password": PASSWORD})
        assert r.status_code == 201, r.text
        c.headers["Authorization"] = f"Bearer {r.json()['token']}"
        yield c, email


@pytest.fixture
def ui(chromium: Any, server: NodeServer, tmp_path: Path) -> Iterator[UI]:  # noqa: F811
    context = chromium.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    try:
        yield UI(context.new_page(), f"http://localhost:{server.port}", tmp_path / "screenshots")
    finally:
        context.close()


def test_delete_a_chat_message_on_the_apps_page(ui: UI, alice: tuple[httpx.Client, str], admin_login: tuple[str, str]) -> None:
    client, email = alice
    room = unique("team")
    assert client.post("/chat/rooms", json={"id": room, "name": "Team", "is_public": False}).status_code == 201
    sent = [client.post("/chat/messages", json={"room_id": room, "content": text}).json()["message"]
            for text in ("first words", "second words")]
    page = ui.page
    ui.sign_in(*admin_login)
    ui.go("apps")
    page.click(f'#chat-rooms tr[data-room="{room}"]')
    expect(page.locator("#chat-messages tr[data-message]")).to_have_count(2)
    expect(page.locator("#chat-members")).to_contain_text(email)
    expect(page.locator("#chat-stats")).to_contain_text("messages")
    ui.shot("apps-chat")
    page.on("dialog", lambda d: d.accept())
    page.click(f'#chat-messages tr[data-message="{sent[0]["id"]}"] .message-delete')
    expect(page.locator("#chat-messages tr[data-message]")).to_have_count(1)
    expect(page.locator(f'#chat-messages tr[data-message="{sent[1]["id"]}"] .message-content')).to_have_text("second words")
    # gone for the room's members too, through the chat's own route
    left = client.get(f"/chat/rooms/{room}/messages").json()["messages"]
    assert [m["content"] for m in left] == ["second words"]
    # in Chinese too
    page.click("#lang-zh")
    expect(page.locator("#nav-apps")).to_have_text("应用")
    expect(page.locator("#apps h2").first).to_have_text("应用")
    page.click("#lang-en")


def test_retry_a_failed_studio_source(ui: UI, server: NodeServer, alice: tuple[httpx.Client, str],
                                      admin_login: tuple[str, str], page_server: tuple[str, dict[str, Any]]) -> None:  # noqa: F811
    client, email = alice
    base, pages = page_server
    path = f"/{unique('later')}"
    pages[path] = ("text/html", b"<html><body></body></html>")  # nothing to read yet: the source fails
    r = client.post("/api/sessions/from-url", json={"url": base + path, "title": "Rivers"})
    assert r.status_code in (200, 201, 202), r.text
    session, source = r.json()["data"]["session"]["id"], r.json()["data"]["source"]["id"]
    page = ui.page
    ui.sign_in(*admin_login)
    page.goto(f"{ui.base}/admin#/apps/studio/{session}")
    expect(page.locator(f'.owner[data-owner] tr[data-session="{session}"]')).to_be_visible()
    assert email in page.locator(".owner", has=page.locator(f'tr[data-session="{session}"]')).inner_text()
    row = page.locator(f'#studio-sources tr[data-source="{source}"]')
    expect(row.locator(".source-state")).to_have_text("failed", timeout=60_000)  # ingestion ends: an upper bound
    assert row.locator(".source-error").inner_text() != ""
    ui.shot("apps-studio")
    # the page has text now: a retry makes the source ready
    pages[path] = ("text/html", b"<html><body><p>Rivers carry water from the hills to the sea.</p></body></html>")
    row.locator(".source-retry").click()
    expect(row.locator(".source-state")).to_have_text("ready", timeout=60_000)
    status = client.get(f"/api/sources/{source}/rag-status").json()["data"]
    assert status["status"] == "ready" and status["progress"] == 1.0


def test_a_non_admin_gets_no_apps_data(ui: UI, server: NodeServer, alice: tuple[httpx.Client, str]) -> None:
    client, email = alice
    room = unique("own")
    assert client.post("/chat/rooms", json={"id": room, "name": "Own"}).status_code == 201
    message = client.post("/chat/messages", json={"room_id": room, "content": "mine"}).json()["message"]
    ui.sign_in(email, PASSWORD)
    expect(ui.page.locator("#denied-title")).to_have_text("Not an admin")
    assert ui.page.locator("#nav-apps").count() == 0
    # the routes the Apps page uses refuse that user's cookie
    for path in ("/chat/stats", "/api/data/entity/studio_sessions", "/api/data/entity/chat_members"):
        assert ui.page.evaluate(f"async () => (await fetch('{path}')).status") == 403, path
    status = ui.page.evaluate(f"async () => (await fetch('/chat/rooms/{room}/messages/{message['id']}', "
                              "{method: 'DELETE'})).status")
    assert status == 403
    assert [m["id"] for m in client.get(f"/chat/rooms/{room}/messages").json()["messages"]] == [message["id"]]
    with httpx.Client(base_url=server.url, headers=admin_headers(server)) as admin:
        assert admin.get("/chat/stats").status_code == 200
