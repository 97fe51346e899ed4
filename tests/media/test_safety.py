"""No file name reaches outside the storage root, in any encoding (bknd's local adapter lets
``..%2F`` read and write anywhere: reference §8 item 1). Plus size limits (413)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from nodebase.media.names import InvalidFileName, check_name, check_traversal
from tests.conftest import admin_headers
from tests.media.conftest import MediaNode

MARKER = "TOP-SECRET-MARKER-7f3a"

# Each is sent as the raw last path segment(s), byte for byte, with no client normalisation.
VECTORS = [
    "../secret.txt",
    "..%2Fsecret.txt",
    "..%2fsecret.txt",
    "%2e%2e%2fsecret.txt",
    "%2E%2E%2Fsecret.txt",
    ".%2e/secret.txt",
    "%2e%2e/secret.txt",
    "..%5Csecret.txt",
    "%2e%2e%5csecret.txt",
    "..\\secret.txt",
    "..%252Fsecret.txt",
    "%252e%252e%252fsecret.txt",
    "%25252e%25252e%25252fsecret.txt",
    "..%c0%afsecret.txt",
    "%c0%ae%c0%ae%c0%afsecret.txt",
    "....//secret.txt",
    "..%2F..%2F..%2Fetc%2Fpasswd",
    "%2Fetc%2Fpasswd",
    "/etc/passwd",
    "%5Cetc%5Cpasswd",
    "C:%5Cwindows%5Cwin.ini",
    "secret.txt%00.png",
    "%00",
    "..%00",
    "..",
    "%2e%2e",
    ".",
    "%2e",
    "..%2Fdata.db",
    "..%2F.media-signing.key",
    "..%2Fmedia%2F..%2Fsecret.txt",
]


def raw_request(node: MediaNode, method: str, target: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Send exactly ``target`` as the request target (http clients would normalise it)."""
    all_headers = {"Host": f"127.0.0.1:{node.server.port}", "Connection": "close",
                   "Content-Length": str(len(body)), **admin_headers(node.server), **(headers or {})}
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in all_headers.items())
    with socket.create_connection(("127.0.0.1", node.server.port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n" + body)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    response = b"".join(chunks)
    status = int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/") else 0
    return status, response


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def planted(media_node: MediaNode) -> Path:
    secret = media_node.server.data_dir / "secret.txt"
    secret.write_text(MARKER)
    return secret


@pytest.mark.parametrize("vector", VECTORS)
def test_traversal_is_refused_everywhere(media_node: MediaNode, planted: Path, vector: str,
                                        request: pytest.FixtureRequest) -> None:
    data_dir = media_node.server.data_dir
    before = _tree(data_dir)
    attempts = [
        ("GET", f"/api/media/file/{vector}", b""),
        ("HEAD", f"/api/media/file/{vector}", b""),
        ("DELETE", f"/api/media/file/{vector}", b""),
        ("POST", f"/api/media/upload/{vector}", b"written by an attacker " + MARKER.encode()[::-1]),
        ("GET", f"/api/media/signed/{vector}?expires=9999999999&signature=x", b""),
        ("PUT", f"/api/media/signed/{vector}?expires=9999999999&signature=x", b"attack"),
    ]
    for method, target, body in attempts:
        status, response = raw_request(media_node, method, target, body,
                                       {"Content-Type": "text/plain"})
        assert status in (400, 403, 404), (method, target, status, response[:300])
        assert MARKER.encode() not in response, (method, target)
    assert planted.read_text() == MARKER
    after = _tree(data_dir)
    new = {p for p in after - before if not p.startswith(("media/", "server.log")) and
           not p.startswith("data.db")}
    assert new == set(), new
    stored = _stored_bodies(media_node, request)
    assert not [key for key, body in stored.items() if MARKER.encode()[::-1] in body], stored.keys()


def _stored_bodies(media_node: MediaNode, request: pytest.FixtureRequest) -> dict[str, bytes]:
    """Every object's bytes, read from the storage itself (the media dir or the bucket)."""
    if media_node.storage == "local":
        return {str(p.relative_to(media_node.media_dir)): p.read_bytes()
                for p in media_node.media_dir.rglob("*") if p.is_file()}
    swift = request.getfixturevalue("swift")
    bucket = media_node.env["NODEBASE_STORAGE_URL"].split("?")[0].removeprefix("s3://")
    s3 = swift.boto3_client()
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in media_node.objects(swift)}


def test_names_are_kept_exactly_on_upload(admin: httpx.Client) -> None:
    """Names are stored as given (tests/media/test_names.py has the refusals)."""
    for name in ["my file (1).txt", "résumé.pdf", "a%20b.txt", "quote\"and'more<>.txt", "-leading-dash.txt",
                 "___x.txt", "semi;colon.txt"]:
        r = admin.post("/api/media/upload/" + quote(name, safe=""),
                       content=b"x", headers={"Content-Type": "text/plain"})
        assert r.status_code == 201, (name, r.text)
        assert r.json()["name"] == name
        assert admin.get("/api/media/file/" + quote(name, safe="")).content == b"x"
    for name in [".media-signing.key", ".htaccess"]:
        r = admin.post(f"/api/media/upload/{name}", content=b"x", headers={"Content-Type": "text/plain"})
        assert r.status_code == 400, (name, r.text)
        assert r.json()["error"] == "Invalid file name: a name must not start with a dot"


def test_unsafe_download_names_are_400_not_500(admin: httpx.Client) -> None:
    r = admin.get("/api/media/file/..%2Fx")
    assert r.status_code == 400
    assert r.json()["type"] == "InvalidFileNameException"


@pytest.mark.parametrize("name", ["../a", "a/b", "a\\b", "/abs", "..%2Fa", "%2e%2e%2f", "%252e%252e%252f",
                                  "a\x00b", "\x7f", "..", ".", " ", "C:\\x", "%ZZ%2F"])
def test_check_name_rejects(name: str) -> None:
    with pytest.raises(InvalidFileName):
        check_name(name)


def test_check_traversal_accepts_plain_names() -> None:
    for name in ["a.txt", "a..b.txt", "100%25.txt", "x%2ex.txt", "~tmp.doc", "日本語.txt", "%"]:
        check_traversal(name)


def test_long_names_are_refused_not_cut(admin: httpx.Client) -> None:
    """Cutting long names made two of them one file: over 200 bytes of UTF-8 is a 400."""
    assert check_name("é" * 98 + ".txt") == "é" * 98 + ".txt"  # 200 bytes
    r = admin.post("/api/media/upload/" + "日" * 66 + ".txt", content=b"x",  # 202 bytes
                   headers={"Content-Type": "text/plain"})
    assert r.status_code == 400, r.text
    assert "longer than 200 bytes" in r.json()["error"]
    r = admin.post("/api/media/upload/" + "日" * 65 + ".txt", content=b"x",  # 199 bytes
                   headers={"Content-Type": "text/plain"})
    assert r.status_code == 201, r.text
    assert admin.get("/api/media/file/" + "日" * 65 + ".txt").content == b"x"


def test_size_limit_413_by_content_length_and_mid_stream(fresh_media_node: object,
                                                         request: pytest.FixtureRequest) -> None:
    for kind in ("local", "s3"):
        node: MediaNode = fresh_media_node(kind)  # type: ignore[operator]
        swift = request.getfixturevalue("swift") if kind == "s3" else None
        with node.admin() as admin:
            r = admin.patch("/api/system/config/patch/media/storage", json={"body_max_size": 1000})
            assert r.status_code in (200, 202), r.text
            assert admin.post("/api/media/upload/ok.bin", content=b"x" * 1000,
                              headers={"Content-Type": "application/octet-stream"}).status_code == 201
            big = admin.post("/api/media/upload/big.bin", content=b"x" * 1001,
                             headers={"Content-Type": "application/octet-stream"})
            assert big.status_code == 413
            assert big.json()["type"] == "PayloadTooLargeException"
            # the unread rest of a refused body must not be parsed as the next request
            assert big.headers.get("connection") == "close"

            def chunks() -> object:
                for _ in range(50):
                    yield b"y" * 100  # 5,000 bytes, no Content-Length: caught while streaming

            streamed = admin.post("/api/media/upload/streamed.bin", content=chunks(),  # type: ignore[arg-type]
                                  headers={"Content-Type": "application/octet-stream"})
            assert streamed.status_code == 413
            multipart = admin.post("/api/media/upload/mp.bin",
                                   files={"f": ("mp.bin", os.urandom(5000), "application/octet-stream")})
            assert multipart.status_code == 413
            objects = node.objects(swift)
            assert "big.bin" not in objects and "streamed.bin" not in objects and "mp.bin" not in objects
            rows = admin.get("/api/data/entity/media").json()["data"]
            assert [row["path"] for row in rows] == ["ok.bin"]
            if kind == "local":
                assert node.part_files() == []


def test_global_allowed_mime_types_415(fresh_media_node: object) -> None:
    node: MediaNode = fresh_media_node("local")  # type: ignore[operator]
    with node.admin() as admin:
        r = admin.post("/api/system/config/set/media", json={"allowed_mime_types": ["image/*"]})
        assert r.status_code in (200, 202), r.text
        assert admin.post("/api/media/upload/a.txt", content=b"t",
                          headers={"Content-Type": "text/plain"}).status_code == 415
        assert admin.post("/api/media/upload/a.png", content=b"p",
                          headers={"Content-Type": "image/png"}).status_code == 201
        bad = admin.post("/api/system/config/set/media", json={"allowed_mime_types": "nope"})
        assert bad.status_code == 400


def test_client_abort_mid_upload_leaves_nothing(media_node: MediaNode, request: pytest.FixtureRequest) -> None:
    """The client announces 10 MB, sends 3 MB and hangs up: no object, no row, no part file."""
    headers = {"Host": f"127.0.0.1:{media_node.server.port}", "Content-Length": str(10_000_000),
               "Content-Type": "application/octet-stream", **admin_headers(media_node.server)}
    head = "POST /api/media/upload/aborted.bin HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", media_node.server.port), timeout=10) as sock:
        sock.sendall(head.encode())
        for _ in range(3):
            sock.sendall(os.urandom(1_000_000))
    swift = request.getfixturevalue("swift") if media_node.storage == "s3" else None
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if media_node.storage != "local" or media_node.part_files() == []:
            break
        time.sleep(0.1)
    assert "aborted.bin" not in media_node.objects(swift)
    if media_node.storage == "local":
        assert media_node.part_files() == []
    else:
        assert swift is not None
        bucket = media_node.env["NODEBASE_STORAGE_URL"].split("?")[0].removeprefix("s3://")
        assert swift.boto3_client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with media_node.admin() as admin:
        rows = admin.get("/api/data/entity/media", params={"where": '{"path":"aborted.bin"}'})
        assert rows.json()["data"] == []
