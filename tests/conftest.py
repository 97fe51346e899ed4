"""Test fixtures: real nodebase servers over real sockets, on SQLite and on PostgreSQL.

``backend`` is parametrised over ``sqlite`` and ``postgres``; every test that uses ``node`` or
``api`` runs against both. PostgreSQL is a real server started once per session from the
Debian packages (scripts/install-test-deps.sh).
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.nodeserver import NodeServer
from tests.support.services import CHROMIUM_ARGS, PostgresServer, chromium_path, start_postgres

_db_counter = itertools.count(1)
BACKENDS = [b for b in os.environ.get("NODEBASE_TEST_BACKENDS", "sqlite,postgres").split(",") if b]


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    with start_postgres(tmp_path_factory.mktemp("pg")) as server:
        yield server


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _database_url(backend: str, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return ""
    pg: PostgresServer = request.getfixturevalue("postgres")
    return pg.create_database(f"nb_{os.getpid()}_{next(_db_counter)}")


@pytest.fixture
def make_node(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., NodeServer]]:
    """Factory: a fresh nodebase server (own data dir and database) for this test."""
    started: list[NodeServer] = []

    def make(start: bool = True, **kw: Any) -> NodeServer:
        data_dir = tmp_path_factory.mktemp(f"node-{backend}")
        url = kw.pop("database_url", None)
        if url is None:
            url = _database_url(backend, request)
        server = NodeServer(data_dir, database_url=url, **kw)
        started.append(server)
        return server.start() if start else server

    yield make
    for s in started:
        s.stop()
        errors = s.server_errors()
        assert not errors, f"the server logged unhandled errors:\n{errors}"


@pytest.fixture(scope="module")
def node(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeServer]:
    """One server per test module and backend (tests use their own entity names)."""
    data_dir = tmp_path_factory.mktemp(f"node-{backend}")
    server = NodeServer(data_dir, database_url=_database_url(backend, request)).start()
    yield server
    server.stop()
    errors = server.server_errors()
    assert not errors, f"the server logged unhandled errors:\n{errors}"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Headless Chromium (Debian's, driven by Playwright's sync API): one browser per test
    module, shared by its tests; each test opens its own context (``chromium.new_context()``:
    its own cookies and storage) and closes it. Not one per session: while Playwright's sync
    API is running it marks an asyncio loop as running in the main thread, so every later test
    calling ``asyncio.run`` would fail."""
    from playwright.sync_api import expect, sync_playwright

    # expect() waits up to 15 s, an upper bound (Playwright's 5 s default is too short for a
    # page on a loaded 2-core machine; a passing assertion returns as soon as it holds)
    expect.set_options(timeout=15_000)
    executable = chromium_path()  # raises, naming the install script, when it is missing
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def api(node: NodeServer) -> Iterator[httpx.Client]:
    with node.client(headers=admin_headers(node)) as client:
        yield client


def admin_headers(node: NodeServer) -> dict[str, str]:
    """Headers of an admin caller: the first call creates an admin with the CLI (against the
    server's data dir and database) and signs in; the token is cached on the NodeServer."""
    cached = getattr(node, "admin_headers", None)
    if cached:
        return dict(cached)
    email = f"admin-{node.port}-{secrets.token_hex(4)}@nodebase.test"
    password = secrets.token_urlsafe(18)
    # "--password=..." form: a token_urlsafe password may start with "-" (argparse option)
    node.cli("user", "create", "--email", email, f"--password={password}", "--role", "admin")
    r = httpx.post(node.url + "/api/auth/password/login", json={"email": email, "password": password},
                   timeout=30)
    assert r.status_code == 200, r.text
    node.admin_headers = {"Authorization": f"Bearer {r.json()['token']}"}  # type: ignore[attr-defined]
    return dict(node.admin_headers)  # type: ignore[attr-defined]


_names = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_names)}_{os.getpid() % 10000}"


def add_entity(client: httpx.Client, name: str, fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {"name": name, "fields": fields, **extra}
    r = client.post(f"/api/system/config/add/data/entities.{name}", json=body)
    assert r.status_code == 202, r.text
    return r.json()


def add_relation(client: httpx.Client, name: str, spec: dict[str, Any]) -> None:
    r = client.post(f"/api/system/config/add/data/relations.{name}", json=spec)
    assert r.status_code == 202, r.text


@pytest.fixture
def tmp_project(tmp_path: Path) -> Path:
    return tmp_path
