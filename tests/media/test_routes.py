"""bknd's media routes and shapes (reference §2.4), on local and S3 storage, SQLite and Postgres."""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest

from tests.media.conftest import MediaNode
from tests.media.helpers import create_row, entity_with_media, gif, jpeg, png
from tests.support.services import S3Server


def _swift(node: MediaNode, request: pytest.FixtureRequest) -> S3Server | None:
    return request.getfixturevalue("swift") if node.storage == "s3" else None


def test_raw_upload_with_name_returns_bknd_shape(admin: httpx.Client) -> None:
    body = b"hello nodebase media"
    r = admin.post("/api/media/upload/hello-raw.txt", content=body,
                   headers={"Content-Type": "text/plain"})
    assert r.status_code == 201, r.text
    out = r.json()
    sha = hashlib.sha256(body).hexdigest()
    assert out["name"] == "hello-raw.txt"
    assert out["meta"] == {"size": len(body), "type": "text/plain"}
    assert out["etag"] == f'"{sha}"'
    assert out["state"] == {"name": "hello-raw.txt", "path": "hello-raw.txt"}
    assert out["file"] == {}
    row = out["data"]
    assert row["path"] == "hello-raw.txt"
    assert row["mime_type"] == "text/plain"
    assert row["size"] == len(body)
    assert row["etag"] == sha
    assert row["folder"] is False
    assert row["reference"] is None and row["entity_id"] is None
    assert row["modified_at"].endswith("Z")
    got = admin.get("/api/media/file/hello-raw.txt", headers={"Accept": "*/*"})
    assert got.status_code == 200
    assert got.content == body
    assert got.headers["content-type"].startswith("text/plain")
    assert got.headers["etag"] == f'"{sha}"'
    assert got.headers["accept-ranges"] == "bytes"
    assert got.headers["x-content-type-options"] == "nosniff"


def test_raw_upload_without_name_gets_random_name_with_extension(admin: httpx.Client) -> None:
    r = admin.post("/api/media/upload", content=png(4, 3), headers={"Content-Type": "image/png"})
    assert r.status_code == 201, r.text
    name = r.json()["name"]
    stem, ext = name.split(".")
    assert ext == "png" and len(stem) == 16 and stem.isalnum()
    assert admin.get(f"/api/media/file/{name}").content == png(4, 3)


def test_multipart_upload_with_and_without_name(admin: httpx.Client) -> None:
    data = os.urandom(70_000)
    files = {"file": ("photo.bin", data, "application/x-custom")}
    named = admin.post("/api/media/upload/multi-named.bin",
                       files=files, data={"note": "a text field is ignored"})
    assert named.status_code == 201, named.text
    assert named.json()["meta"] == {"size": len(data), "type": "application/x-custom"}
    assert admin.get("/api/media/file/multi-named.bin").content == data
    unnamed = admin.post("/api/media/upload", files={"upload": ("pic.gif", gif(9, 7), "image/gif")})
    assert unnamed.status_code == 201, unnamed.text
    out = unnamed.json()
    assert out["name"].endswith(".gif")
    assert out["data"]["metadata"] == {"width": 9, "height": 7}


def test_multipart_without_file_part_is_400(admin: httpx.Client) -> None:
    boundary = "xyzBOUNDARY"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue\r\n"
            f"--{boundary}--\r\n").encode()
    r = admin.post("/api/media/upload/none.txt", content=body,
                   headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 400
    assert r.json()["type"] == "NoFileException"
    r = admin.post("/api/media/upload/broken.txt", content=b"garbage without boundary",
                   headers={"Content-Type": "multipart/form-data"})
    assert r.status_code == 400


def test_empty_body_is_400_and_stores_nothing(media_node: MediaNode, admin: httpx.Client,
                                              request: pytest.FixtureRequest) -> None:
    r = admin.post("/api/media/upload/empty.txt", content=b"", headers={"Content-Type": "text/plain"})
    assert r.status_code == 400
    assert "empty.txt" not in media_node.objects(_swift(media_node, request))
    assert admin.get("/api/media/file/empty.txt").status_code == 404


def test_image_metadata_width_height(admin: httpx.Client) -> None:
    for name, data, mime, dims in [
        ("m.png", png(33, 21), "image/png", (33, 21)),
        ("m.gif", gif(640, 480), "image/gif", (640, 480)),
        ("m.jpg", jpeg(1024, 768), "image/jpeg", (1024, 768)),
    ]:
        r = admin.post(f"/api/media/upload/{name}", content=data, headers={"Content-Type": mime})
        assert r.status_code == 201, r.text
        assert r.json()["data"]["metadata"] == {"width": dims[0], "height": dims[1]}, name
    tiny = admin.post("/api/media/upload/tiny.gif", content=gif(2, 2)[:60],
                      headers={"Content-Type": "image/gif"})
    assert tiny.json()["data"]["metadata"] == {}  # under 128 bytes: not measured (bknd's rule)


def test_list_files(admin: httpx.Client) -> None:
    admin.post("/api/media/upload/listed-a.txt", content=b"aaa", headers={"Content-Type": "text/plain"})
    admin.post("/api/media/upload/listed-b.txt", content=b"bbbb", headers={"Content-Type": "text/plain"})
    r = admin.get("/api/media/files")
    assert r.status_code == 200
    items = {i["key"]: i for i in r.json()}
    assert items["listed-a.txt"]["size"] == 3
    assert items["listed-b.txt"]["size"] == 4
    assert set(items["listed-a.txt"]) == {"key", "last_modified", "size"}
    assert items["listed-a.txt"]["last_modified"].endswith("Z")
    assert not any(k.startswith(".") for k in items)


def test_range_requests(admin: httpx.Client) -> None:
    data = bytes(range(256)) * 40  # 10,240 bytes
    admin.post("/api/media/upload/range.bin", content=data,
               headers={"Content-Type": "application/octet-stream"})
    r = admin.get("/api/media/file/range.bin", headers={"Range": "bytes=100-199"})
    assert r.status_code == 206
    assert r.content == data[100:200]
    assert r.headers["content-range"] == f"bytes 100-199/{len(data)}"
    assert r.headers["content-length"] == "100"
    r = admin.get("/api/media/file/range.bin", headers={"Range": "bytes=10000-"})
    assert r.status_code == 206 and r.content == data[10000:]
    r = admin.get("/api/media/file/range.bin", headers={"Range": "bytes=-40"})
    assert r.status_code == 206 and r.content == data[-40:]
    assert r.headers["content-range"] == f"bytes {len(data) - 40}-{len(data) - 1}/{len(data)}"
    r = admin.get("/api/media/file/range.bin", headers={"Range": "bytes=10000-99999"})
    assert r.status_code == 206 and r.content == data[10000:]
    r = admin.get("/api/media/file/range.bin", headers={"Range": "bytes=20000-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(data)}"
    # malformed or multi-range: the whole file (RFC 9110 lets a server ignore Range)
    for header in ("bytes=abc", "items=0-5", "bytes=0-1,5-6", "bytes=9-3"):
        r = admin.get("/api/media/file/range.bin", headers={"Range": header})
        assert r.status_code == 200 and r.content == data, header


def test_etag_if_none_match_and_if_range(admin: httpx.Client) -> None:
    admin.post("/api/media/upload/tagged.txt", content=b"version one", headers={"Content-Type": "text/plain"})
    first = admin.get("/api/media/file/tagged.txt")
    etag = first.headers["etag"]
    assert etag == f'"{hashlib.sha256(b"version one").hexdigest()}"'
    r = admin.get("/api/media/file/tagged.txt", headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b""
    assert r.headers["etag"] == etag
    assert admin.get("/api/media/file/tagged.txt", headers={"If-None-Match": '"other", ' + etag}).status_code == 304
    assert admin.get("/api/media/file/tagged.txt", headers={"If-None-Match": "*"}).status_code == 304
    assert admin.get("/api/media/file/tagged.txt", headers={"If-None-Match": '"nope"'}).status_code == 200
    r = admin.get("/api/media/file/tagged.txt", headers={"Range": "bytes=0-6", "If-Range": etag})
    assert r.status_code == 206 and r.content == b"version"
    r = admin.get("/api/media/file/tagged.txt", headers={"Range": "bytes=0-6", "If-Range": '"stale"'})
    assert r.status_code == 200 and r.content == b"version one"
    # overwriting changes the tag, so the old one no longer matches
    assert admin.post("/api/media/upload/tagged.txt?overwrite=1", content=b"version two",
                      headers={"Content-Type": "text/plain"}).status_code == 201
    r = admin.get("/api/media/file/tagged.txt", headers={"If-None-Match": etag})
    assert r.status_code == 200 and r.content == b"version two"
    assert r.headers["etag"] != etag


def test_head_request(admin: httpx.Client) -> None:
    admin.post("/api/media/upload/head.txt", content=b"0123456789", headers={"Content-Type": "text/plain"})
    r = admin.head("/api/media/file/head.txt")
    assert r.status_code == 200
    assert r.headers["content-length"] == "10"
    assert r.content == b""


def test_overwrite_by_name_updates_the_single_row(admin: httpx.Client) -> None:
    admin.post("/api/media/upload/same.txt", content=b"one", headers={"Content-Type": "text/plain"})
    r = admin.post("/api/media/upload/same.txt", content=b"second", headers={"Content-Type": "text/plain"})
    assert r.status_code == 409, r.text  # never silently (tests/media/test_names.py)
    r = admin.post("/api/media/upload/same.txt?overwrite=1", content=b"second",
                   headers={"Content-Type": "text/plain"})
    assert r.status_code == 201, r.text
    rows = admin.get("/api/data/entity/media", params={"where": '{"path":"same.txt"}'}).json()["data"]
    assert len(rows) == 1 and rows[0]["size"] == 6
    assert admin.get("/api/media/file/same.txt").content == b"second"


def test_delete_file_removes_object_and_row(media_node: MediaNode, admin: httpx.Client,
                                            request: pytest.FixtureRequest) -> None:
    admin.post("/api/media/upload/doomed.txt", content=b"bye", headers={"Content-Type": "text/plain"})
    assert "doomed.txt" in media_node.objects(_swift(media_node, request))
    r = admin.delete("/api/media/file/doomed.txt")
    assert r.status_code == 200
    assert r.json() == {"message": "File deleted"}
    assert "doomed.txt" not in media_node.objects(_swift(media_node, request))
    rows = admin.get("/api/data/entity/media", params={"where": '{"path":"doomed.txt"}'}).json()["data"]
    assert rows == []
    missing = admin.get("/api/media/file/doomed.txt")
    assert missing.status_code == 404
    assert admin.delete("/api/media/file/doomed.txt").status_code == 404


def test_media_rows_cannot_be_created_through_the_data_api(admin: httpx.Client) -> None:
    r = admin.post("/api/data/entity/media", json={"path": "sneaky.txt"})
    assert r.status_code == 400


def test_upload_to_entity_and_read_back_with(admin: httpx.Client) -> None:
    entity, field = entity_with_media(admin)
    pid = create_row(admin, entity)
    r = admin.post(f"/api/media/entity/{entity}/{pid}/{field}", content=png(8, 8),
                   headers={"Content-Type": "image/png"})
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["ok"] is True
    assert out["result"]["reference"] == f"{entity}.{field}"
    assert out["result"]["entity_id"] == str(pid)
    assert out["result"]["metadata"] == {"width": 8, "height": 8}
    assert out["name"].endswith(".png") and out["meta"]["type"] == "image/png"
    row = admin.get(f"/api/data/entity/{entity}/{pid}", params={"with": "cover"}).json()["data"]
    assert [m["path"] for m in row["cover"]] == [out["name"]]
    assert admin.get(f"/api/media/file/{out['name']}").content == png(8, 8)


def test_entity_upload_errors(admin: httpx.Client) -> None:
    entity, field = entity_with_media(admin)
    pid = create_row(admin, entity)
    ok = {"content": b"x" * 10, "headers": {"Content-Type": "text/plain"}}
    assert admin.post(f"/api/media/entity/{entity}/99999/{field}", **ok).status_code == 404
    assert admin.post(f"/api/media/entity/nosuchentity/{pid}/{field}", **ok).status_code == 404
    bad_field = admin.post(f"/api/media/entity/{entity}/{pid}/title", **ok)
    assert bad_field.status_code == 400
    assert bad_field.json()["context"]["valid"] == ["cover"]
    assert admin.post(f"/api/media/entity/{entity}/{pid}/nofield", **ok).status_code == 400


def test_max_items_is_enforced_and_overwrite_replaces(
        media_node: MediaNode, admin: httpx.Client, request: pytest.FixtureRequest) -> None:
    """bknd 0.20.0 does not enforce max_items (reference §8 item 7); nodebase does."""
    entity, field = entity_with_media(admin, max_items=1)
    pid = create_row(admin, entity)
    url = f"/api/media/entity/{entity}/{pid}/{field}"
    first = admin.post(url, content=b"first", headers={"Content-Type": "text/plain"})
    assert first.status_code == 201
    before = media_node.objects(_swift(media_node, request))
    second = admin.post(url, content=b"second", headers={"Content-Type": "text/plain"})
    assert second.status_code == 400
    assert second.json()["context"]["max_items"] == 1
    assert media_node.objects(_swift(media_node, request)) == before  # nothing stored
    # the id is compared as text: "5" and 5 are the same row (bknd's bug)
    third = admin.post(url, params={"overwrite": "1"}, content=b"third",
                       headers={"Content-Type": "text/plain"})
    assert third.status_code == 201, third.text
    rows = admin.get(f"/api/data/entity/{entity}/{pid}", params={"with": "cover"}).json()["data"]["cover"]
    assert [m["path"] for m in rows] == [third.json()["name"]]
    after = media_node.objects(_swift(media_node, request))
    assert first.json()["name"] not in after
    assert admin.get(f"/api/media/file/{first.json()['name']}").status_code == 404
    assert admin.get(f"/api/media/file/{third.json()['name']}").content == b"third"


def test_max_items_two(admin: httpx.Client) -> None:
    entity, field = entity_with_media(admin, max_items=2)
    pid = create_row(admin, entity)
    url = f"/api/media/entity/{entity}/{pid}/{field}"
    codes = [admin.post(url, content=f"f{i}".encode(), headers={"Content-Type": "text/plain"}).status_code
             for i in range(4)]
    assert codes == [201, 201, 400, 400]
    other = create_row(admin, entity)  # the limit is per row
    assert admin.post(f"/api/media/entity/{entity}/{other}/{field}", content=b"o",
                      headers={"Content-Type": "text/plain"}).status_code == 201


def test_field_mime_types_are_enforced_415(admin: httpx.Client) -> None:
    entity, field = entity_with_media(admin, mime_types=["image/*", "application/pdf"])
    pid = create_row(admin, entity)
    url = f"/api/media/entity/{entity}/{pid}/{field}"
    r = admin.post(url, content=b"plain text", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert r.json()["context"]["allowed"] == ["image/*", "application/pdf"]
    assert admin.post(url, content=png(2, 2), headers={"Content-Type": "image/png"}).status_code == 201
    assert admin.post(url, content=b"%PDF-1.4", headers={"Content-Type": "application/pdf"}).status_code == 201
    multipart = admin.post(url, files={"f": ("x.txt", b"text", "text/plain")})
    assert multipart.status_code == 415


def test_deleting_entity_row_removes_its_files(media_node: MediaNode, admin: httpx.Client,
                                                request: pytest.FixtureRequest) -> None:
    entity, field = entity_with_media(admin)
    keep = create_row(admin, entity)
    doomed = create_row(admin, entity)
    names = []
    for pid in (keep, doomed, doomed):
        r = admin.post(f"/api/media/entity/{entity}/{pid}/{field}", content=os.urandom(300),
                       headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 201
        names.append(r.json()["name"])
    assert admin.delete(f"/api/data/entity/{entity}/{doomed}").status_code == 200
    objects = media_node.objects(_swift(media_node, request))
    assert names[0] in objects
    assert names[1] not in objects and names[2] not in objects
    left = admin.get("/api/data/entity/media",
                     params={"where": f'{{"reference":"{entity}.{field}"}}'}).json()["data"]
    assert [m["path"] for m in left] == [names[0]]
    # bulk delete too
    r = admin.request("DELETE", f"/api/data/entity/{entity}", json={"id": keep})
    assert r.status_code == 200
    assert names[0] not in media_node.objects(_swift(media_node, request))


def test_missing_file_is_404(admin: httpx.Client) -> None:
    r = admin.get("/api/media/file/never-uploaded.txt")
    assert r.status_code == 404
    assert r.json()["type"] == "NotFoundException"


def test_concurrent_uploads_cannot_exceed_max_items(media_node: MediaNode, admin: httpx.Client,
                                                    request: pytest.FixtureRequest) -> None:
    from concurrent.futures import ThreadPoolExecutor

    entity, field = entity_with_media(admin, max_items=1)
    pid = create_row(admin, entity)
    url = f"{media_node.url}/api/media/entity/{entity}/{pid}/{field}"
    headers = {**admin.headers, "Content-Type": "application/octet-stream"}

    def send(i: int) -> int:
        return httpx.post(url, content=os.urandom(200_000), headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(send, range(8)))
    assert codes.count(201) == 1, codes
    assert set(codes) == {201, 400}, codes
    rows = admin.get("/api/data/entity/media",
                     params={"where": f'{{"reference":"{entity}.{field}"}}'}).json()["data"]
    assert len(rows) == 1
    objects = media_node.objects(_swift(media_node, request))
    assert rows[0]["path"] in objects


def test_disabled_media_answers_404(fresh_media_node: object) -> None:
    node: MediaNode = fresh_media_node("local")  # type: ignore[operator]
    with node.admin() as admin:
        assert admin.post("/api/system/config/set/media", json={"enabled": False}).status_code in (200, 202)
        assert admin.get("/api/media/files").status_code == 404
        assert admin.post("/api/media/upload/x.txt", content=b"x").status_code == 404
        assert admin.post("/api/upload/presigned-url", json={"fileName": "x"}).status_code == 404
        assert admin.post("/api/system/config/set/media", json={"enabled": True}).status_code in (200, 202)
        assert admin.get("/api/media/files").status_code == 200


def test_malformed_multipart_bodies_are_4xx(admin: httpx.Client) -> None:
    def send(ctype: str, body: bytes) -> int:
        return admin.post("/api/media/upload/mp.txt", content=body, headers={"Content-Type": ctype}).status_code

    long_b = "b" * 5000
    assert send(f"multipart/form-data; boundary={long_b}", f"--{long_b}\r\n".encode()) == 400
    many = b"--B\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(40)) + b"\r\nxx\r\n--B--\r\n"
    assert send("multipart/form-data; boundary=B", many) == 400
    truncated = b'--B\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\npartial'
    assert send("multipart/form-data; boundary=B", truncated) == 400
    garbage = b"--B\r\nContent-Disposition: \xff\xfe;;;filename\r\n\r\nxx\r\n--B--\r\n"
    # RFC 7578: every part is "Content-Disposition: form-data; ..."; bytes that are not say nothing
    r = admin.post("/api/media/upload/mp.txt", content=garbage, headers={"Content-Type": "multipart/form-data; boundary=B"})
    assert r.status_code == 400, r.text
    assert "Content-Disposition" in r.json()["error"] and "form-data" in r.json()["error"]
    assert admin.get("/api/media/file/mp.txt").status_code == 404
    assert send("multipart/form-data; boundary=B", b"no boundary at all") == 400
