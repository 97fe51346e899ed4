"""Two nodebase processes on one PostgreSQL database, one S3 bucket (Swift) and one pgvector
store serve one Studio: what is created on one is used on the other."""

from __future__ import annotations

import shutil
import urllib.request
from collections.abc import Iterator

import httpx
import pytest

from tests.apps.studio.conftest import register, studio_node, text_session, wait_source
from tests.conftest import admin_headers
from tests.knowledge.pdfs import make_pdf
from tests.knowledge.test_vector_stores import pgvector_url  # noqa: F401  (fixture)
from tests.media.conftest import storage_env, swift  # noqa: F401  (fixture)
from tests.nodeserver import NodeServer
from tests.support.services import PostgresServer


@pytest.fixture(scope="module")
def pair(request: pytest.FixtureRequest, postgres: PostgresServer, pgvector_url: str,  # noqa: F811
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeServer, NodeServer]]:
    db = postgres.create_database("studio_pair")
    env = {**storage_env("s3", request), "NODEBASE_VECTOR_URL": pgvector_url}
    a = studio_node(tmp_path_factory.mktemp("studio-a"), "postgres", request, env=env, database_url=db)
    b_dir = tmp_path_factory.mktemp("studio-b")
    # processes of one deployment share the token secret (else a token works on one only)
    shutil.copy(a.data_dir / "auth_secret", b_dir / "auth_secret")
    b = studio_node(b_dir, "postgres", request, env=env, database_url=db)
    try:
        yield a, b
    finally:
        for s in (a, b):
            s.stop()
            assert not s.server_errors()


def _signed_in(node: NodeServer, token: str) -> httpx.Client:
    return httpx.Client(base_url=node.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def test_one_studio_on_two_processes(pair: tuple[NodeServer, NodeServer]) -> None:
    a, b = pair
    on_a = register(a)
    on_b = _signed_in(b, on_a.headers["Authorization"].split()[1])  # the same user on B
    other_on_b = register(b)
    # a presigned upload made through A, turned into a session on B
    up = on_a.post("/api/upload/presigned-url", json={"filename": "tides.pdf",
                                                      "contentType": "application/pdf"}).json()
    pdf = make_pdf(["Tides rise and fall twice a day because of the moon."] * 3)
    req = urllib.request.Request(up["uploadUrl"], data=pdf, method="PUT", headers=up["headers"])
    with urllib.request.urlopen(req, timeout=15) as res:
        assert res.status == 200
    r = on_b.post("/api/sessions/from-pdf", json={"object_key": up["objectKey"]})
    assert r.status_code == 202, r.text
    sid, src = r.json()["data"]["session"]["id"], r.json()["data"]["source"]["id"]
    ready = wait_source(on_a, src)  # watched on A, ingested by whichever process took the job
    assert ready["status"] == "ready" and ready["chunk_count"] >= 1
    assert wait_source(on_b, src)["chunk_count"] == ready["chunk_count"]
    # a session chatted with on the other process, citing the passage retrieved there
    for client in (on_a, on_b):
        obj = client.post("/api/chat/completions", json={
            "session_id": sid, "stream": False,
            "messages": [{"role": "user", "content": "Why do tides rise?"}]}).json()
        assert "moon" in obj["choices"][0]["message"]["content"]
        assert {c["source_id"] for c in obj["citations"]} == {src}
        assert len({c["chunk_id"] for c in obj["citations"]}) == len(obj["citations"])
    assert other_on_b.get(f"/api/sessions/{sid}").status_code == 404
    # a delete on A is seen on B
    assert on_a.delete(f"/api/sessions/{sid}").json() == {"ok": True}
    assert on_b.get(f"/api/sessions/{sid}").status_code == 404
    assert on_b.get(f"/api/sources/{src}/rag-status").status_code == 404


def test_each_ingest_job_is_claimed_once_across_the_two_processes(pair: tuple[NodeServer, NodeServer]) -> None:
    """Sixteen sources added alternately through A and B (one session) are raced for by both
    processes' ingest workers. Each job's claim is counted in the document's ``attempts``
    (Knowledge's public document view; a second claim would make it 2) and every source ends
    ready with the chunk count of its text. The claiming worker's identity is not part of
    Knowledge's public interface, so which process took which job is not asserted."""
    a, b = pair
    on_a = register(a)
    on_b = _signed_in(b, on_a.headers["Authorization"].split()[1])
    sid, _ = text_session(on_a, "The first source. Tides follow the moon.")
    sources = []
    for n in range(16):
        client = on_a if n % 2 else on_b
        r = client.post(f"/api/sessions/{sid}/sources",
                        json={"kind": "text", "text": f"Source number {n}. " + "Pandas eat bamboo. " * 40})
        assert r.status_code == 202, r.text
        sources.append(r.json()["data"]["id"])
    ready = [wait_source(on_b if n % 2 else on_a, src) for n, src in enumerate(sources)]
    assert {s["status"] for s in ready} == {"ready"}
    admin = httpx.Client(base_url=a.url, headers=admin_headers(a), timeout=60)
    for src, st in zip(sources, ready, strict=True):
        doc = admin.get(f"/api/knowledge/documents/{src}").json()["data"]
        assert (doc["state"], doc["attempts"], doc["chunk_count"]) == ("ready", 1, st["chunk_count"])
    # the session sees each source once, with one set of chunks: no double ingestion
    view = on_b.get(f"/api/sessions/{sid}").json()["data"]
    assert sorted(s["id"] for s in view["sources"] if s["id"] in sources) == sorted(sources)
    assert view["source_count"] == 17
