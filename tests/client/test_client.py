"""nodebase.client against a real server: API-key and password auth, data CRUD with the
query language, media, realtime, typed errors; sync and async."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodebase.client import (
    AsyncClient,
    BadRequest,
    Client,
    Forbidden,
    NotFound,
    Page,
    RealtimeError,
    Unauthorized,
)
from tests.conftest import add_entity, admin_headers, unique
from tests.nodeserver import NodeServer

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeServer]:
    node = NodeServer(tmp_path_factory.mktemp("client") / "data").start()
    yield node
    node.stop()
    assert not node.server_errors()


@pytest.fixture(scope="module")
def api_key(server: NodeServer) -> str:
    out = server.cli("apikey", "create", "--name", "client-tests", "--role", "admin")
    return str(json.loads(out.stdout)["key"])


@pytest.fixture(scope="module")
def posts(server: NodeServer) -> str:
    name = unique("posts")
    with server.client(headers=admin_headers(server)) as admin:
        add_entity(admin, name, {"title": {"type": "text", "required": True}, "views": {"type": "number"}})
    return name


def test_crud_and_the_query_language_with_an_api_key(server: NodeServer, api_key: str, posts: str) -> None:
    with Client(server.url, api_key=api_key) as c:
        made = c.data.create_many(posts, [{"title": f"p{i}", "views": i * 10} for i in range(5)])
        assert [r["title"] for r in made] == ["p0", "p1", "p2", "p3", "p4"]
        one = c.data.create(posts, {"title": "solo", "views": 7})
        assert c.data.read(posts, one["id"]) == one
        page = c.data.query(posts, where={"views": {"$gte": 20}}, sort="-views", limit=2, select=["id", "title"])
        assert isinstance(page, Page)
        assert [r["title"] for r in page] == ["p4", "p3"] and set(page.data[0]) == {"id", "title"}
        assert page.meta["count"] == 3 and page.meta["total"] == 6 and page.meta["items"] == 2
        assert c.data.count(posts, {"title": {"$like": "p*"}}) == 5
        assert c.data.update(posts, one["id"], {"views": 8})["views"] == 8
        assert len(c.data.update_where(posts, {"title": {"$in": ["p0", "p1"]}}, {"views": 1})) == 2
        assert c.data.delete(posts, one["id"])["id"] == one["id"]
        with pytest.raises(NotFound) as missing:
            c.data.read(posts, one["id"])
        assert missing.value.status == 404 and missing.value.type
        with pytest.raises(BadRequest) as bad:
            c.data.query(posts, where={"views": {"$nope": 1}})
        assert bad.value.status == 422 and "$nope" in json.dumps(bad.value.body)
        assert len(c.data.delete_where(posts, {"title": {"$like": "p*"}})) == 5
        types = c.data.types()
        assert posts in types and "interface" in types


def test_password_auth_and_permissions(server: NodeServer, posts: str) -> None:
    email = f"client-{secrets.token_hex(4)}@example.com"
    with Client(server.url) as c:
        with pytest.raises(Forbidden):  # anonymous callers may not write by default
            c.data.create(posts, {"title": "nope"})
        doc = c.auth.register(email, PASSWORD)
        assert doc["user"]["email"] == email and c.token == doc["token"]
        assert c.auth.me()["user"]["email"] == email
        c.auth.logout()
        with pytest.raises(Unauthorized) as wrong:
            c.auth.login(email, "not the password")
        assert wrong.value.status == 401 and c.token is None
        c.auth.login(email, PASSWORD)
        assert c.auth.me()["user"]["email"] == email


def test_media_upload_and_download(server: NodeServer, api_key: str, tmp_path: Path) -> None:
    content = secrets.token_bytes(70_000)
    with Client(server.url, api_key=api_key) as c:
        up = c.media.upload("client-blob.bin", content)
        name = up["name"]
        assert up["meta"]["size"] == len(content)
        assert c.media.download(name) == content
        c.media.delete(name)
        with pytest.raises(NotFound):
            c.media.download(name)


def test_async_client_and_realtime(server: NodeServer, api_key: str, posts: str) -> None:
    async def main() -> None:
        async with AsyncClient(server.url, api_key=api_key) as c, c.realtime() as rt, c.realtime() as other:
            sub = await rt.subscribe(f"data:{posts}")
            assert sub["op"] == "subscribed" and sub["channel"] == f"data:{posts}"
            row = await c.data.create(posts, {"title": "live", "views": 1})
            frame = await rt.next(timeout=20)
            assert frame["op"] == "event" and frame["channel"] == f"data:{posts}"
            assert frame["data"]["id"] == row["id"] and frame["seq"] == sub["seq"] + 1
            room = unique("room")
            await rt.subscribe(room)
            seq = await other.publish(room, {"text": "hi"})
            assert seq >= 1
            got = await rt.next(timeout=20)
            while got["op"] != "event":  # join/leave of the other connection may come first
                got = await rt.next(timeout=20)
            assert got["data"] == {"text": "hi"} and got["seq"] == seq
            with pytest.raises(RealtimeError) as bad:
                await rt.subscribe("bad channel!")
            assert bad.value.code == "bad_request"
            page = await c.data.query(posts, where={"title": "live"})
            assert [r["id"] for r in page] == [row["id"]]
            await c.data.delete(posts, row["id"])
            with pytest.raises(NotFound):
                await c.data.read(posts, row["id"])

    asyncio.run(main())


def test_a_non_json_error_answer_is_typed() -> None:
    """A proxy's 502 HTML page (a real HTTP server on 127.0.0.1) still becomes a typed error."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from nodebase.client import ServerError

    class Gateway(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>bad gateway</html>"
            self.send_response(502)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        with Client(f"http://127.0.0.1:{proxy.server_address[1]}") as c, pytest.raises(ServerError) as err:
            c.data.read("posts", 1)
    finally:
        proxy.shutdown()
        thread.join()
    assert err.value.status == 502 and "bad gateway" in str(err.value.body)
