"""Presigned upload and download URLs (Nano Studio's ``POST /api/upload/presigned-url``).

Local storage: node-signed HMAC URLs. S3: real S3 presigned PUT/GET against Swift, plus
``POST /api/upload/complete`` to record the row of an object that bypassed the node.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import pytest

from tests.media.conftest import MediaNode
from tests.media.helpers import png

#: node-signed URLs exist for local storage; S3's own signatures are checked in the adapter suite
LOCAL_ONLY = pytest.mark.parametrize("media_node", ["local"], indirect=True)


def _presign(admin: httpx.Client, name: str, ctype: str, **extra: object) -> dict[str, object]:
    r = admin.post("/api/upload/presigned-url", json={"fileName": name, "contentType": ctype, **extra})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _put(url: str, body: bytes, ctype: str) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=15) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=15) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_presign_upload_then_download(media_node: MediaNode, admin: httpx.Client) -> None:
    body = png(12, 10)
    out = _presign(admin, "holiday photo.png", "image/png")
    assert set(out) >= {"uploadUrl", "objectKey", "expiresIn", "expiresAt", "downloadUrl", "method",
                        "headers"}
    key = str(out["objectKey"])
    assert key.endswith("-holiday photo.png")  # the name is kept, after a random prefix
    assert out["method"] == "PUT" and out["headers"] == {"Content-Type": "image/png"}
    assert out["expiresIn"] == 3600
    upload_url = str(out["uploadUrl"])
    if media_node.storage == "local":
        assert upload_url.startswith(media_node.url + "/api/media/signed/")
    else:
        assert upload_url.startswith("http://127.0.0.1") and "X-Amz-Signature" in upload_url
        assert not upload_url.startswith(media_node.url)
    status, _ = _put(upload_url, body, "image/png")
    assert status in (200, 201)
    if media_node.storage == "s3":
        done = admin.post("/api/upload/complete", json={"objectKey": key})
        assert done.status_code == 201, done.text
        again = admin.post("/api/upload/complete", json={"objectKey": key})
        assert again.status_code == 200  # idempotent
    rows = admin.get("/api/data/entity/media", params={"where": f'{{"path":"{key}"}}'}).json()["data"]
    assert len(rows) == 1
    assert rows[0]["size"] == len(body) and rows[0]["mime_type"] == "image/png"
    assert rows[0]["metadata"] == {"width": 12, "height": 10}
    status, got = _get(str(out["downloadUrl"]))
    assert status == 200 and got == body
    # and through the normal route
    assert admin.get(f"/api/media/file/{quote(key)}").content == body


def test_presign_download_url_for_existing_file(media_node: MediaNode, admin: httpx.Client) -> None:
    admin.post("/api/media/upload/shared.txt", content=b"share me", headers={"Content-Type": "text/plain"})
    r = admin.post("/api/media/presigned-url", json={"name": "shared.txt", "expiresIn": 120})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["objectKey"] == "shared.txt" and out["expiresIn"] == 120
    status, got = _get(out["downloadUrl"])
    assert status == 200 and got == b"share me"
    status, got = _get(out["downloadUrl"], {"Range": "bytes=0-4"})
    assert status == 206 and got == b"share"
    missing = admin.post("/api/media/presigned-url", json={"name": "not-there.txt"})
    assert missing.status_code == 404


def _signed_local(media_node: MediaNode, admin: httpx.Client) -> str:
    admin.post("/api/media/upload/signed.txt", content=b"signed content", headers={"Content-Type": "text/plain"})
    return str(admin.post("/api/media/presigned-url", json={"name": "signed.txt"}).json()["downloadUrl"])


@LOCAL_ONLY
def test_local_tampered_signed_urls_are_403(media_node: MediaNode, admin: httpx.Client) -> None:
    url = _signed_local(media_node, admin)
    parts = urlsplit(url)
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    base = f"{parts.scheme}://{parts.netloc}"
    assert _get(url)[0] == 200
    cases = {
        "signature": {**q, "signature": q["signature"][:-2] + ("AA" if q["signature"][-2:] != "AA" else "BB")},
        "expires": {**q, "expires": str(int(q["expires"]) + 1000)},
        "missing signature": {"expires": q["expires"]},
        "missing expires": {"signature": q["signature"]},
        "garbage expires": {**q, "expires": "soon"},
    }
    for what, query in cases.items():
        status, body = _get(f"{base}{parts.path}?{urlencode(query)}")
        assert status == 403, what
        assert b"signed content" not in body
    # the signature of one key does not open another
    admin.post("/api/media/upload/other.txt", content=b"other", headers={"Content-Type": "text/plain"})
    assert _get(f"{base}/api/media/signed/other.txt?{parts.query}")[0] == 403


@LOCAL_ONLY
def test_local_expired_urls_are_403(media_node: MediaNode, admin: httpx.Client) -> None:
    out = _presign(admin, "late.txt", "text/plain", expiresIn=1)
    dl = admin.post("/api/media/upload/expiring.txt", content=b"e", headers={"Content-Type": "text/plain"})
    assert dl.status_code == 201
    down = admin.post("/api/media/presigned-url", json={"name": "expiring.txt", "expiresIn": 1}).json()
    time.sleep(2.1)
    status, body = _put(str(out["uploadUrl"]), b"too late", "text/plain")
    assert status == 403 and b"expired" in body
    assert _get(down["downloadUrl"])[0] == 403
    assert admin.get(f"/api/media/file/{out['objectKey']}").status_code == 404


@LOCAL_ONLY
def test_local_upload_url_binds_content_type_and_single_use(media_node: MediaNode,
                                                            admin: httpx.Client) -> None:
    out = _presign(admin, "typed.json", "application/json")
    url = str(out["uploadUrl"])
    status, _ = _put(url, b"<html>not json</html>", "text/html")
    assert status == 403
    forged = url.replace("type=application%2Fjson", "type=text%2Fhtml")
    assert _put(forged, b"<html></html>", "text/html")[0] == 403
    status, _ = _put(url, b'{"ok": true}', "application/json")
    assert status == 201
    assert _put(url, b'{"again": true}', "application/json")[0] == 409  # one upload per URL
    assert admin.get(f"/api/media/file/{out['objectKey']}").content == b'{"ok": true}'


def test_presign_validation(admin: httpx.Client) -> None:
    assert admin.post("/api/upload/presigned-url", json={"contentType": "text/plain"}).status_code == 400
    assert admin.post("/api/upload/presigned-url", json={"fileName": "../x", "contentType": "text/plain"}).status_code == 400
    assert admin.post("/api/upload/presigned-url", json={"fileName": "a.txt", "expiresIn": 0}).status_code == 400
    assert admin.post("/api/upload/presigned-url", json={"fileName": "a.txt", "expiresIn": 10**9}).status_code == 400
    assert admin.post("/api/upload/presigned-url", content=b"not json",
                      headers={"Content-Type": "application/json"}).status_code == 400
    assert admin.post("/api/upload/complete", json={}).status_code == 400
    assert admin.post("/api/upload/complete", json={"objectKey": "never-put.txt"}).status_code == 404


def test_signing_secret_is_never_echoed(media_node: MediaNode, admin: httpx.Client) -> None:
    secret = (media_node.server.data_dir / ".media-signing.key").read_bytes()
    assert len(secret) == 32
    config = admin.get("/api/system/config/media")
    assert config.status_code == 200
    assert secret.hex() not in config.text
    out = _presign(admin, "s.txt", "text/plain")
    import base64

    encodings = [secret.hex(), base64.b64encode(secret).decode(), base64.urlsafe_b64encode(secret).decode().rstrip("=")]
    for text in (config.text, str(out)):
        assert not any(e in text for e in encodings)
    if media_node.storage == "s3":
        assert "********" in config.text or "secret_key" not in config.text


def test_s3_completion_enforces_size_limit(fresh_media_node: object, request: pytest.FixtureRequest) -> None:
    node: MediaNode = fresh_media_node("s3")  # type: ignore[operator]
    swift = request.getfixturevalue("swift")
    with node.admin() as admin:
        assert admin.patch("/api/system/config/patch/media/storage",
                           json={"body_max_size": 100}).status_code in (200, 202)
        out = _presign(admin, "huge.bin", "application/octet-stream")
        assert _put(str(out["uploadUrl"]), b"z" * 500, "application/octet-stream")[0] == 200
        r = admin.post("/api/upload/complete", json={"objectKey": out["objectKey"]})
        assert r.status_code == 413
        assert out["objectKey"] not in node.objects(swift)
        assert admin.get("/api/data/entity/media").json()["data"] == []
        # S3 itself refuses a Content-Type other than the signed one
        typed = _presign(admin, "t.txt", "text/plain")
        assert _put(str(typed["uploadUrl"]), b"x", "text/html")[0] == 403


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_signed_urls_work_across_workers(fresh_media_node: object) -> None:
    """Two worker processes share the signing secret (one file in the data dir)."""
    node: MediaNode = fresh_media_node("local", workers=2)  # type: ignore[operator]
    assert node.server.proc is not None
    with node.admin() as admin:
        admin.post("/api/media/upload/w.txt", content=b"either worker", headers={"Content-Type": "text/plain"})
        for i in range(12):
            with httpx.Client(headers=admin.headers, base_url=node.url) as fresh:  # new connection
                url = fresh.post("/api/media/presigned-url", json={"name": "w.txt"}).json()["downloadUrl"]
            assert _get(url) == (200, b"either worker"), i
            up = _presign(admin, f"w{i}.txt", "text/plain")
            assert _put(str(up["uploadUrl"]), f"v{i}".encode(), "text/plain")[0] == 201, i
    import psutil

    workers = psutil.Process(node.server.proc.pid).children(recursive=True)
    assert len(workers) >= 2
