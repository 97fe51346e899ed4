"""Studio fixtures: one nodebase server with ``apps = ["studio"]`` per backend (SQLite and
PostgreSQL), two users registered through studio.md's own route, and helpers."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from tests.nodeserver import NodeServer
from tests.support.services import PostgresServer

STUDIO_ENV = {"NODEBASE_APPS": "studio", "NODEBASE_EMBEDDING_URL": "hashing:64",
              "NODEBASE_FETCH_ALLOW_PRIVATE": "true"}


def studio_node(tmp: Path, backend: str, request: pytest.FixtureRequest, env: dict[str, str] | None = None,
                database_url: str | None = None) -> NodeServer:
    if database_url is None:
        database_url = ""
        if backend == "postgres":
            pg: PostgresServer = request.getfixturevalue("postgres")
            database_url = pg.create_database(f"studio_{secrets.token_hex(4)}")
    return NodeServer(tmp, database_url=database_url, env={**STUDIO_ENV, **(env or {})}).start()


def register(node: NodeServer, username: str = "") -> httpx.Client:
    email = f"u-{secrets.token_hex(5)}@studio.test"
    r = httpx.post(node.url + "/api/auth/register",
                   json={"email": email, "password": "P" + secrets.token_urlsafe(14), "username": username})
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"user", "token"} and body["user"]["email"] == email
    return httpx.Client(base_url=node.url, headers={"Authorization": f"Bearer {body['token']}"}, timeout=60)


@pytest.fixture(scope="module")
def node(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeServer]:
    server = studio_node(tmp_path_factory.mktemp(f"studio-{backend}"), backend, request)
    try:
        yield server
    finally:
        server.stop()
        errors = server.server_errors()
        assert not errors, f"the server logged unhandled errors:\n{errors}"


@pytest.fixture(scope="module")
def alice(node: NodeServer) -> Iterator[httpx.Client]:
    with register(node, "alice") as c:
        yield c


@pytest.fixture(scope="module")
def bob(node: NodeServer) -> Iterator[httpx.Client]:
    with register(node, "bob") as c:
        yield c


def wait_source(client: httpx.Client, source_id: str, timeout: float = 60) -> dict[str, Any]:
    """Poll rag-status until ready or failed (``timeout`` only an upper bound); every answer
    on the way is checked against studio.md's shape."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/api/sources/{source_id}/rag-status")
        assert r.status_code == 200, r.text
        st: dict[str, Any] = r.json()["data"]
        assert st["id"] == source_id and 0.0 <= st["progress"] <= 1.0
        assert st["status"] in ("pending", "processing", "ready", "failed")
        if st["status"] in ("ready", "failed"):
            return st
        assert time.monotonic() < deadline, f"still {st['status']}"
        time.sleep(0.05)


def text_session(client: httpx.Client, text: str, title: str = "") -> tuple[str, str]:
    r = client.post("/api/sessions/from-text", json={"text": text, "title": title})
    assert r.status_code == 202, r.text
    data = r.json()["data"]
    return data["session"]["id"], data["source"]["id"]


def chat_stream(client: httpx.Client, body: dict[str, Any]) -> tuple[str, list[dict[str, Any]], list[str]]:
    """Read chat/completions with an SSE client → (answer text, frames, raw data lines)."""
    frames: list[dict[str, Any]] = []
    raw: list[str] = []
    with connect_sse(client, "POST", "/api/chat/completions", json=body) as source:
        assert source.response.status_code == 200, source.response.read()
        assert source.response.headers["content-type"].startswith("text/event-stream")
        for event in source.iter_sse():
            raw.append(event.data)
            if event.data != "[DONE]":
                frames.append(json.loads(event.data))
    text = "".join(f["choices"][0]["delta"].get("content", "") for f in frames if "choices" in f)
    return text, frames, raw


from tests.knowledge.conftest import llm_stub, page_server  # noqa: E402,F401  (shared fixtures)
