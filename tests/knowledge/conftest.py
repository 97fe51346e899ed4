"""Knowledge HTTP fixtures: real nodebase servers (SQLite; the service tests cover PostgreSQL)
with the real default embedder, users with a ``member`` role, a local page server and the
local OpenAI-protocol chat stub."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import admin_headers
from tests.nodeserver import NodeServer
from tests.support.services import free_port

MEMBER_PERMISSIONS = ["knowledge.read", "knowledge.write"]


@dataclass
class Stub:
    url: str

    def mode(self, mode: str) -> None:
        assert httpx.post(self.url + "/mode", json={"mode": mode}).status_code == 200

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(self.url + "/stats").json())


@pytest.fixture(scope="session")
def llm_stub() -> Iterator[Stub]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("llm_stub.py")), str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == b"ready", line
    try:
        yield Stub(f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(10)


def start_node(tmp: Path, env: dict[str, str] | None = None) -> NodeServer:
    return NodeServer(tmp, env=env).start()


def member(node: NodeServer, role: str = "member", permissions: list[str] | None = None) -> httpx.Client:
    """A signed-in user with a role granting ``permissions`` (the role is created if needed)."""
    with node.client(headers=admin_headers(node)) as admin:
        r = admin.post(f"/api/system/config/add/auth/roles.{role}",
                       json={"permissions": permissions if permissions is not None else MEMBER_PERMISSIONS})
        assert r.status_code in (200, 202, 409) or "already" in r.text, r.text
    email = f"{role}-{secrets.token_hex(4)}@nodebase.test"
    password = "P" + secrets.token_urlsafe(16)
    node.cli("user", "create", "--email", email, f"--password={password}", "--role", role)
    login = httpx.post(node.url + "/api/auth/password/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    return httpx.Client(base_url=node.url, headers={"Authorization": f"Bearer {login.json()['token']}"},
                        timeout=60)


def wait_ready(client: httpx.Client, doc_id: str, timeout: float = 60) -> dict[str, Any]:
    """Poll the document until it is ready or failed (``timeout`` is only an upper bound)."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/api/knowledge/documents/{doc_id}")
        assert r.status_code == 200, r.text
        doc: dict[str, Any] = r.json()["data"]
        if doc["state"] in ("ready", "failed"):
            return doc
        assert time.monotonic() < deadline, f"still {doc['state']}"
        time.sleep(0.05)


def sse_events(response: httpx.Response) -> list[dict[str, Any]]:
    """Parse a whole SSE body: each event's data JSON, checked against its ``event:`` line."""
    events = []
    for block in response.text.split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        data = json.loads(lines["data"])
        assert data["type"] == lines["event"]
        events.append(data)
    return events


class _Pages(BaseHTTPRequestHandler):
    pages: dict[str, tuple[str, bytes]] = {}

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/redirect-to-private"):
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:1/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        ctype, body = self.pages.get(self.path, ("text/plain", b"missing"))
        self.send_response(200 if self.path in self.pages else 404)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="session")
def page_server() -> Iterator[tuple[str, dict[str, tuple[str, bytes]]]]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", _Pages.pages
    finally:
        srv.shutdown()
        srv.server_close()
