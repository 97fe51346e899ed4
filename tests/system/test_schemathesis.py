"""The OpenAPI document tells the truth: schemathesis fuzzes a real node from its own document.

A real ``nodebase serve`` (SQLite, to keep the run short) with a few entities (a relation, a
unique field, a media field) and some rows and files is fuzzed by schemathesis (the CLI, as a
user would run it) from ``/api/system/openapi.json``, as an admin and anonymously. Any 5xx
(``not_a_server_error``) or any answer that its documented schema does not allow
(``response_schema_conformance``) fails the test, with schemathesis' report (and a curl line to
reproduce each failure) as the message. The run is bounded and reproducible: a fixed seed, a
fixed number of examples per operation, no example database, no crash cache, one worker.

Both callers fuzz the whole document (fetched by the admin). The config write routes change
the node itself (an admin could remove the entities under test or its own role), so the admin
run leaves them out and a last run fuzzes them alone; the sign-in routes answer every caller
alike and hash a password per attempt, so only the anonymous run fuzzes them (and not their
short aliases ``/api/auth/login|register``: the same handlers, described alike).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import add_entity, add_relation, admin_headers
from tests.nodeserver import NodeServer

SEED = 20261201
EXAMPLES = 5
CONFIG_WRITES = r"^/api/system/config/(set|add|patch|overwrite|remove)/"
#: the same for every caller (and each attempt hashes a password): fuzzed anonymously only
SIGN_IN = r"^/api/auth/(password/)?(login|register)$"
#: short paths of the same handlers as /api/auth/password/login|register, described alike
ALIASES = r"^/api/auth/(login|register)$"
#: never-ending streams (an accepted SSE request only ends at the request timeout): each example
#: would wait it out. Their frames and errors are tested in tests/realtime/test_protocol.py.
STREAMS = r"^/api/realtime/sse$"


@pytest.fixture(scope="module")
def blog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeServer]:
    """A node on SQLite with authors (name required, slug unique) <-(n:1)- posts (enum,
    integer, media field), three rows each and two files; it must log no unhandled error."""
    node = NodeServer(tmp_path_factory.mktemp("schemathesis")).start()
    try:
        _fill(node)
        yield node
    finally:
        node.stop()
    errors = node.server_errors()
    assert not errors, f"the server logged unhandled errors:\n{errors}"


def _fill(node: NodeServer) -> None:
    with node.client(headers=admin_headers(node)) as api:
        add_entity(api, "authors", {
            "name": {"type": "text", "config": {"required": True}},
            "slug": {"type": "text", "config": {"unique": True}},
        })
        add_entity(api, "posts", {
            "title": {"type": "text", "config": {"required": True}},
            "views": {"type": "number", "config": {"integer": True}},
            "status": {"type": "enum", "config": {"options": ["draft", "live"]}},
            "cover": {"type": "media", "config": {"max_items": 1}},
        })
        add_relation(api, "posts_authors", {"type": "n:1", "source": "posts", "target": "authors"})
        for n in range(1, 4):
            r = api.post("/api/data/entity/authors", json={"name": f"Author {n}", "slug": f"a{n}"})
            assert r.status_code == 201, r.text
            r = api.post("/api/data/entity/posts",
                         json={"title": f"Post {n}", "views": n, "authors_id": n})
            assert r.status_code == 201, r.text
        r = api.post("/api/media/upload/hello.txt", content=b"hello",
                     headers={"Content-Type": "text/plain"})
        assert r.status_code == 201, r.text
        r = api.post("/api/media/entity/posts/1/cover", content=b"\x89PNG\r\n\x1a\n" + b"\0" * 64,
                     headers={"Content-Type": "image/png"})
        assert r.status_code == 201, r.text


def schemathesis(node: NodeServer, document: Path, *args: str) -> None:
    """Run schemathesis against ``node``; fail with its report unless every check passed."""
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", str(document), "--url", node.url,
        "--checks", "not_a_server_error,response_schema_conformance",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(EXAMPLES), "--seed", str(SEED), "--generation-database", "none",
        "--workers", "1", "--request-timeout", "20", "--no-color", "--output-truncate", "false",
        "--suppress-health-check", "all", "--warnings", "off",
        *args,
    ]
    # its cache of earlier crashes (replayed first) goes in a fresh folder: every run is alike
    run = subprocess.run(command, capture_output=True, text=True, timeout=300,
                         cwd=tempfile.mkdtemp(prefix="schemathesis-", dir=node.data_dir))
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-30_000:]
    tested = re.search(r"Tested: (\d+)", report)
    assert tested and int(tested.group(1)) > 0, report[-5_000:]


@pytest.fixture(scope="module")
def document(blog: NodeServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole document (as the admin sees it), so both callers fuzz every operation."""
    r = httpx.get(blog.url + "/api/system/openapi.json", headers=admin_headers(blog), timeout=30)
    assert r.status_code == 200, r.text
    path = tmp_path_factory.mktemp("openapi") / "openapi.json"
    path.write_bytes(r.content)
    return path


def test_the_document_describes_the_knowledge_routes(document: Path) -> None:
    """The Knowledge routes are in the fuzzed document (so the runs below cover them)."""
    import json

    paths = json.loads(document.read_bytes())["paths"]
    knowledge = sorted(p for p in paths if p.startswith("/api/knowledge"))
    assert knowledge == [
        "/api/knowledge", "/api/knowledge/ask", "/api/knowledge/collections",
        "/api/knowledge/collections/{id}", "/api/knowledge/collections/{id}/documents",
        "/api/knowledge/collections/{id}/mindmap", "/api/knowledge/collections/{id}/summary",
        "/api/knowledge/documents/{id}", "/api/knowledge/documents/{id}/retry",
        "/api/knowledge/search"]


def test_the_document_matches_every_answer_to_an_admin(blog: NodeServer, document: Path) -> None:
    token = admin_headers(blog)["Authorization"]
    schemathesis(blog, document, "--header", f"Authorization: {token}",
                 "--exclude-path-regex", f"{CONFIG_WRITES}|{SIGN_IN}|{STREAMS}")


def test_the_document_matches_every_answer_to_an_anonymous_caller(
        blog: NodeServer, document: Path) -> None:
    schemathesis(blog, document, "--exclude-path-regex", f"{ALIASES}|{STREAMS}")


def test_the_document_matches_the_config_writes_of_an_admin(
        blog: NodeServer, document: Path) -> None:
    token = admin_headers(blog)["Authorization"]
    schemathesis(blog, document, "--header", f"Authorization: {token}",
                 "--include-path-regex", CONFIG_WRITES)
    # the node still answers after its configuration was fuzzed
    assert httpx.get(blog.url + "/api/system/ping", timeout=10).status_code == 200


#: the routes Nano Studio adds (apps = ["studio"]); register/login/logout are Auth's
STUDIO = r"^/(api/(user|sessions|sources|chat)/.*|api/sessions|api/upload/presigned-url|db-test|qdrant-test)$"


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeServer, str, Path]]:
    """A node with Nano Studio enabled (SQLite, the hashing embedder), a signed-in user with a
    session whose text source is ready, and the document as that user sees it; it must log no
    unhandled error."""
    node = NodeServer(tmp_path_factory.mktemp("schemathesis-studio"),
                      env={"NODEBASE_APPS": "studio", "NODEBASE_EMBEDDING_URL": "hashing:64"}).start()
    try:
        r = httpx.post(node.url + "/api/auth/register", timeout=30,
                       json={"email": "fuzz@studio.test", "password": "a-long-password", "username": "fuzz"})
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        with node.client(headers={"Authorization": f"Bearer {token}"}) as api:
            r = api.post("/api/sessions/from-text", json={"title": "Pandas", "text": "Giant pandas eat bamboo."})
            assert r.status_code == 202, r.text
            src = r.json()["data"]["source"]["id"]
            for _ in range(600):  # an upper bound: the source turns ready in well under a second
                status = api.get(f"/api/sources/{src}/rag-status").json()["data"]["status"]
                if status in ("ready", "failed"):
                    break
                time.sleep(0.05)
            assert status == "ready"
            r = api.get("/api/system/openapi.json")
            assert r.status_code == 200, r.text
        path = node.data_dir / "openapi-studio.json"
        path.write_bytes(r.content)
        yield node, token, path
    finally:
        node.stop()
    errors = node.server_errors()
    assert not errors, f"the server logged unhandled errors:\n{errors}"


def test_studio_routes_are_described(studio: tuple[NodeServer, str, Path]) -> None:
    paths = json.loads(studio[2].read_text())["paths"]
    assert paths["/api/chat/completions"]["post"]["operationId"] == "studio_chat"
    assert paths["/api/upload/presigned-url"]["post"]["operationId"] == "studio_presign_upload"
    for path in ("/api/user/check-in", "/api/sessions/from-pdf", "/api/sessions/{id}/notes",
                 "/api/sources/{id}/rag-status", "/db-test", "/qdrant-test"):
        assert all(op["tags"] == ["Nano Studio"] for op in paths[path].values()), path


def test_the_document_matches_every_studio_answer_to_a_signed_in_user(
        studio: tuple[NodeServer, str, Path]) -> None:
    node, token, document = studio
    schemathesis(node, document, "--header", f"Authorization: Bearer {token}",
                 "--include-path-regex", STUDIO)


def test_the_document_matches_every_studio_answer_to_an_anonymous_caller(
        studio: tuple[NodeServer, str, Path]) -> None:
    node, _, document = studio
    schemathesis(node, document, "--include-path-regex", STUDIO)
