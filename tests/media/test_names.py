"""File names are kept as given or refused, never rewritten; an upload never replaces a file
unless the caller asked to (``?overwrite=1``) and may delete files.

Rewriting names made different names collapse onto one file (``..∕x``, ``..／x`` and ``x%20``
all became ``x`` and overwrote it). Runs on local storage and on S3 (a real Swift server),
on SQLite and PostgreSQL.
"""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import httpx
import pytest

from nodebase.media.names import InvalidFileName, check_name
from tests.media.conftest import MediaNode

SAFE = ["😀.txt", "日本語.txt", "x%20", "100%.txt", "my file (1).txt", "résumé.pdf", "-leading-dash.txt",
        "a..b.txt", "semi;colon.txt", "quote\"and'more<>.txt", "👨\u200d👩\u200d👧.png", "_x.txt", "~tmp.doc",
        "كتاب\u200c.txt", "x", "x.", "Ω"]

UNSAFE = {
    "..\u2215x": "looks like a path separator",  # DIVISION SLASH
    "..\uff0fx": "looks like a path separator",  # FULLWIDTH SOLIDUS
    "a\u2044b": "looks like a path separator",  # FRACTION SLASH
    "a\uff3cb": "looks like a path separator",  # FULLWIDTH REVERSE SOLIDUS
    "a\u29f8b": "looks like a path separator",  # BIG SOLIDUS
    "\uff0e\uff0e": "only dots",  # fullwidth dots: ".." once normalised
    ".uploads": "must not start with a dot",
    ".htaccess": "must not start with a dot",
    ".media-signing.key": "must not start with a dot",
    "x\u202etxt.exe": "invisible or control characters",  # RIGHT-TO-LEFT OVERRIDE
    "a\u200bb": "invisible or control characters",  # ZERO WIDTH SPACE
    "a\ufeffb": "invisible or control characters",
    "a\u2028b": "invisible or control characters",  # LINE SEPARATOR
    "a\x00b": "control characters",
    "tab\tname": "control characters",
    "a\x85b": "control characters",
    " x.txt": "start or end with white space",
    "x.txt ": "start or end with white space",
    "\u3000x": "start or end with white space",
    "é" * 101: "longer than 200 bytes",
    "../x": "path separators",
    "..%2Fx": "path separators",
    "a/b": "path separators",
    "..": "only dots",
    "": "empty",
}


@pytest.mark.parametrize("name", SAFE)
def test_safe_names_are_kept_exactly(name: str) -> None:
    assert check_name(name) == name


def test_names_are_unicode_normalised_not_rewritten() -> None:
    assert check_name("re\u0301sume\u0301.pdf") == "résumé.pdf"  # NFD → NFC: the same name


@pytest.mark.parametrize(("name", "why"), list(UNSAFE.items()))
def test_unsafe_names_are_refused_saying_why(name: str, why: str) -> None:
    with pytest.raises(InvalidFileName) as info:
        check_name(name)
    assert why in info.value.message, info.value.message


def _put(client: httpx.Client, name: str, body: bytes, overwrite: bool = False) -> httpx.Response:
    url = "/api/media/upload/" + quote(name, safe="") + ("?overwrite=1" if overwrite else "")
    return client.post(url, content=body, headers={"Content-Type": "text/plain"})


def _get(client: httpx.Client, name: str) -> httpx.Response:
    return client.get("/api/media/file/" + quote(name, safe=""))


def test_names_that_used_to_collapse_stay_apart(media_node: MediaNode, admin: httpx.Client,
                                               request: pytest.FixtureRequest) -> None:
    base = f"x{secrets.token_hex(3)}"
    assert _put(admin, base, b"the original").status_code == 201
    answers = {}
    for name in (f"..\u2215{base}", f"..\uff0f{base}", f"{base}%20", f"{base}.", "😀.txt", ".uploads",
                 f"\uff0e\uff0e\uff0f{base}"):
        answers[name] = _put(admin, name, b"from " + name.encode())
    for name, r in answers.items():
        if name in (f"{base}%20", f"{base}.", "😀.txt"):
            assert r.status_code == 201, (name, r.text)
            assert r.json()["name"] == name
            assert r.json()["data"]["path"] == name
            assert _get(admin, name).content == b"from " + name.encode()
        else:
            assert r.status_code == 400, (name, r.text)
            body = r.json()
            assert body["type"] == "InvalidFileNameException" and body["context"]["name"] == name
    assert _get(admin, base).content == b"the original"
    swift = request.getfixturevalue("swift") if media_node.storage == "s3" else None
    objects = media_node.objects(swift)
    assert {base, f"{base}%20", f"{base}.", "😀.txt"} <= set(objects)
    listed = {i["key"] for i in admin.get("/api/media/files").json()}
    assert {base, f"{base}%20", f"{base}.", "😀.txt"} <= listed


def test_an_upload_never_replaces_a_file_silently(media_node: MediaNode, admin: httpx.Client) -> None:
    name = f"dup-{secrets.token_hex(3)}.txt"
    first = _put(admin, name, b"first")
    assert first.status_code == 201, first.text
    again = _put(admin, name, b"second")
    assert again.status_code == 409, again.text
    body = again.json()
    assert body["type"] == "ConflictException" and body["context"]["name"] == name
    assert name in body["error"] and "overwrite=1" in body["error"]
    assert _get(admin, name).content == b"first"
    # the same name in another Unicode form (composed / decomposed) is the same name
    assert _put(admin, "café-" + name, b"nfc").status_code == 201
    clash = _put(admin, "cafe\u0301-" + name, b"nfd")
    assert clash.status_code == 409, clash.text
    assert _get(admin, "café-" + name).content == b"nfc"
    # asked for: replaced, same row
    replaced = _put(admin, name, b"second", overwrite=True)
    assert replaced.status_code == 201, replaced.text
    assert replaced.json()["data"]["id"] == first.json()["data"]["id"]
    assert replaced.json()["meta"]["size"] == 6
    assert _get(admin, name).content == b"second"
    rows = admin.get("/api/data/entity/media", params={"where": f'{{"path": "{name}"}}'}).json()["data"]
    assert len(rows) == 1 and rows[0]["size"] == 6


def test_an_object_without_a_row_is_not_replaced_either(media_node: MediaNode, admin: httpx.Client,
                                                        request: pytest.FixtureRequest) -> None:
    """A file put into the storage by other means (no media row) is protected too."""
    name = f"outside-{secrets.token_hex(3)}.txt"
    if media_node.storage == "local":
        (media_node.media_dir / name).write_bytes(b"put there by hand")
    else:
        swift = request.getfixturevalue("swift")
        bucket = media_node.env["NODEBASE_STORAGE_URL"].split("?")[0].removeprefix("s3://")
        swift.boto3_client().put_object(Bucket=bucket, Key=name, Body=b"put there by hand")
    r = _put(admin, name, b"upload")
    assert r.status_code == 409, r.text
    assert _get(admin, name).content == b"put there by hand"
    assert _put(admin, name, b"upload", overwrite=True).status_code == 201
    assert _get(admin, name).content == b"upload"


def test_concurrent_uploads_of_one_new_name_let_exactly_one_win(media_node: MediaNode,
                                                                admin: httpx.Client) -> None:
    name = f"race-{secrets.token_hex(3)}.bin"
    url = f"{media_node.url}/api/media/upload/{name}"
    headers = {**admin.headers, "Content-Type": "application/octet-stream"}
    bodies = [bytes([i]) * 100_000 for i in range(8)]

    def send(i: int) -> httpx.Response:
        return httpx.post(url, content=bodies[i], headers=headers, timeout=60)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(8)))
    codes = [r.status_code for r in answers]
    assert sorted(codes) == [201] + [409] * 7, codes
    winner = codes.index(201)
    assert _get(admin, name).content == bodies[winner]
    rows = admin.get("/api/data/entity/media", params={"where": f'{{"path": "{name}"}}'}).json()["data"]
    assert len(rows) == 1 and rows[0]["etag"] == answers[winner].json()["etag"].strip('"')


def test_overwrite_needs_the_delete_permission(media_node: MediaNode, admin: httpx.Client) -> None:
    from tests.media.test_permissions import _user

    name = f"guarded-{secrets.token_hex(3)}.txt"
    assert _put(admin, name, b"keep me").status_code == 201
    role = f"uploader{secrets.token_hex(3)}"
    with _user(media_node, admin, role, ["media.file.upload", "media.file.read"]) as uploader:
        assert _put(uploader, name, b"mine now").status_code == 409
        denied = _put(uploader, name, b"mine now", overwrite=True)
        assert denied.status_code == 403, denied.text
        assert denied.json()["permission"] == "media.file.delete"
        # a new name needs no delete permission, with or without the flag
        assert _put(uploader, f"new-{name}", b"fresh", overwrite=True).status_code == 201
    assert _get(admin, name).content == b"keep me"
