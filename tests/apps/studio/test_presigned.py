"""The presigned upload flow of seed 003: presign → PUT the PDF → from-pdf with its
``object_key``, on local storage and against the real S3-protocol server (Swift). Only the
uploader can use the key; deleting the session deletes the stored file."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.apps.studio.conftest import register, studio_node, wait_source
from tests.knowledge.pdfs import make_pdf
from tests.media.conftest import storage_env, swift  # noqa: F401  (fixture)
from tests.nodeserver import NodeServer


def _http(method: str, url: str, body: bytes | None = None, ctype: str = "") -> int:
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": ctype} if ctype else {})
    try:
        with urllib.request.urlopen(req, timeout=15) as res:
            return int(res.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


@pytest.fixture(scope="module", params=["local", "s3"])
def storage_node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeServer]:
    server = studio_node(tmp_path_factory.mktemp(f"studio-{request.param}"), "sqlite", request,
                         env=storage_env(request.param, request))
    server.storage = request.param  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.stop()
        assert not server.server_errors()


def test_presigned_pdf_session(storage_node: NodeServer) -> None:
    alice, bob = register(storage_node), register(storage_node)
    pdf = make_pdf(["Lighthouses guide ships along rocky coasts at night."] * 3)
    r = alice.post("/api/upload/presigned-url", json={"filename": "coast.pdf", "contentType": "application/pdf"})
    assert r.status_code == 200, r.text
    up: dict[str, Any] = r.json()
    assert set(up) >= {"uploadUrl", "method", "headers", "objectKey", "expiresIn"}
    if storage_node.storage == "s3":  # type: ignore[attr-defined]
        assert "X-Amz-Signature" in up["uploadUrl"] and not up["uploadUrl"].startswith(storage_node.url)
    assert _http(up["method"], up["uploadUrl"], pdf, up["headers"]["Content-Type"]) in (200, 201)
    key = up["objectKey"]
    # another user cannot use the key
    r = bob.post("/api/sessions/from-pdf", json={"object_key": key})
    assert r.status_code == 404, r.text
    assert bob.get("/api/sessions").json()["meta"]["total"] == 0
    r = alice.post("/api/sessions/from-pdf", json={"object_key": key, "title": "Coasts"})
    assert r.status_code == 202, r.text
    data = r.json()["data"]
    assert data["source"]["object_key"] == key and data["source"]["kind"] == "pdf"
    assert wait_source(alice, data["source"]["id"])["status"] == "ready"
    sid = data["session"]["id"]
    (src,) = alice.get(f"/api/sessions/{sid}").json()["data"]["sources"]
    assert src["object_key"] == key
    answer = alice.post("/api/chat/completions", json={
        "session_id": sid, "stream": False, "messages": [{"role": "user", "content": "What guides ships?"}]})
    assert "Lighthouses" in answer.json()["choices"][0]["message"]["content"]
    # one key makes one source
    assert alice.post("/api/sessions/from-pdf", json={"object_key": key}).status_code == 404
    assert _http("GET", up["downloadUrl"]) == 200
    assert alice.delete(f"/api/sessions/{sid}").json() == {"ok": True}
    assert _http("GET", up["downloadUrl"]) == 404  # the stored file went with the session


def test_presign_without_upload_is_not_a_source(storage_node: NodeServer) -> None:
    alice = register(storage_node)
    up = alice.post("/api/upload/presigned-url", json={"filename": "never.pdf",
                                                       "contentType": "application/pdf"}).json()
    r = alice.post("/api/sessions/from-pdf", json={"object_key": up["objectKey"]})
    assert r.status_code == 404 and "arrived" in r.json()["error"]
    assert httpx.post(storage_node.url + "/api/upload/presigned-url",
                      json={"filename": "a.pdf", "contentType": "application/pdf"}).status_code in (401, 403)
