"""The OpenAPI document tells the truth: schemathesis fuzzes a real node from its own document.

A real ``nodebase serve`` with a few entities (a relation, a unique field, a media field) and
some rows and files is fuzzed by schemathesis (the CLI, as a user would run it) from
``/api/system/openapi.json``, once as an admin and once anonymously. Any 5xx
(``not_a_server_error``) or any answer that its documented schema does not allow
(``response_schema_conformance``) fails the test, with schemathesis' report (and a curl line to
reproduce each failure) as the message. The run is bounded and reproducible: a fixed seed, a
fixed number of examples per operation, no example database, one worker.

The config write routes change the node itself (an admin could remove the entities under test
or its own role), so the admin run leaves them out and a last run fuzzes them alone.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import add_entity, add_relation, admin_headers
from tests.nodeserver import NodeServer

SEED = 20261201
EXAMPLES = 12
CONFIG_WRITES = r"^/api/system/config/(set|add|patch|overwrite|remove)/"


@pytest.fixture(scope="module")
def blog(node: NodeServer) -> Iterator[NodeServer]:
    """authors (name required, slug unique) <-(n:1)- posts (enum, number, media field)."""
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
    yield node


def schemathesis(node: NodeServer, *args: str) -> None:
    """Run schemathesis against ``node``; fail with its report unless every check passed."""
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", node.url + "/api/system/openapi.json",
        "--checks", "not_a_server_error,response_schema_conformance",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(EXAMPLES), "--seed", str(SEED), "--generation-database", "none",
        "--workers", "1", "--request-timeout", "20", "--no-color", "--output-truncate", "false",
        "--suppress-health-check", "all", "--warnings", "off",
        *args,
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-30_000:]
    assert "No issues found" in report or " passed" in report, report[-5_000:]


def test_the_document_matches_every_answer_to_an_admin(blog: NodeServer) -> None:
    token = admin_headers(blog)["Authorization"]
    schemathesis(blog, "--header", f"Authorization: {token}", "--exclude-path-regex", CONFIG_WRITES)


def test_the_document_matches_every_answer_to_an_anonymous_caller(blog: NodeServer) -> None:
    schemathesis(blog)


def test_the_document_matches_the_config_writes_of_an_admin(blog: NodeServer) -> None:
    token = admin_headers(blog)["Authorization"]
    schemathesis(blog, "--header", f"Authorization: {token}", "--include-path-regex", CONFIG_WRITES)
    # the node still answers after its configuration was fuzzed
    assert httpx.get(blog.url + "/api/system/ping", timeout=10).status_code == 200
