"""media.file.read / list / upload / delete through the Auth module's guard and roles.

Anonymous callers have no role by default, so they can do nothing with media; an admin can
do everything; a role gets exactly the media permissions it lists. A signed URL is its own
permission (anyone holding it may use it until it expires).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest

from tests.media.conftest import MediaNode
from tests.media.helpers import create_row, entity_with_media

pytestmark = pytest.mark.parametrize("media_node", ["local"], indirect=True)


def _user(node: MediaNode, admin: httpx.Client, role: str, permissions: list[str]) -> httpx.Client:
    r = admin.post(f"/api/system/config/add/auth/roles.{role}", json={"permissions": permissions})
    assert r.status_code in (200, 202), r.text
    email = f"{role}-{secrets.token_hex(4)}@nodebase.test"
    password = "P" + secrets.token_urlsafe(16)  # never starts with "-" (argparse)
    node.server.cli("user", "create", "--email", email, f"--password={password}", "--role", role)
    login = httpx.post(node.url + "/api/auth/password/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    return node.server.client(headers={"Authorization": f"Bearer {login.json()['token']}"})


@pytest.fixture
def anonymous(media_node: MediaNode) -> Iterator[httpx.Client]:
    with media_node.anonymous() as client:
        yield client


def _denied(r: httpx.Response, permission: str) -> None:
    assert r.status_code == 403, r.text
    assert r.json()["permission"] == permission


def test_anonymous_can_do_nothing_by_default(media_node: MediaNode, admin: httpx.Client,
                                             anonymous: httpx.Client) -> None:
    admin.post("/api/media/upload/guarded.txt", content=b"guarded", headers={"Content-Type": "text/plain"})
    _denied(anonymous.post("/api/media/upload/anon.txt", content=b"x",
                           headers={"Content-Type": "text/plain"}), "media.file.upload")
    _denied(anonymous.post("/api/media/upload", files={"f": ("a.txt", b"x", "text/plain")}),
            "media.file.upload")
    _denied(anonymous.get("/api/media/files"), "media.file.list")
    _denied(anonymous.get("/api/media/file/guarded.txt"), "media.file.read")
    _denied(anonymous.delete("/api/media/file/guarded.txt"), "media.file.delete")
    _denied(anonymous.post("/api/upload/presigned-url", json={"fileName": "a.txt"}), "media.file.upload")
    _denied(anonymous.post("/api/media/presigned-url", json={"name": "guarded.txt"}), "media.file.read")
    _denied(anonymous.post("/api/upload/complete", json={"objectKey": "guarded.txt"}), "media.file.upload")
    assert "anon.txt" not in media_node.objects()
    assert admin.get("/api/media/file/guarded.txt").content == b"guarded"


def test_roles_get_exactly_their_media_permissions(media_node: MediaNode, admin: httpx.Client) -> None:
    admin.post("/api/media/upload/for-readers.txt", content=b"read me", headers={"Content-Type": "text/plain"})
    with _user(media_node, admin, "mediareader", ["media.file.read"]) as reader:
        assert reader.get("/api/media/file/for-readers.txt").content == b"read me"
        _denied(reader.get("/api/media/files"), "media.file.list")
        _denied(reader.post("/api/media/upload/r.txt", content=b"x", headers={"Content-Type": "text/plain"}),
                "media.file.upload")
        _denied(reader.delete("/api/media/file/for-readers.txt"), "media.file.delete")
    with _user(media_node, admin, "mediawriter",
               ["media.file.upload", "media.file.list", "media.file.delete"]) as writer:
        r = writer.post("/api/media/upload/w.txt", content=b"written", headers={"Content-Type": "text/plain"})
        assert r.status_code == 201, r.text
        assert "w.txt" in [i["key"] for i in writer.get("/api/media/files").json()]
        _denied(writer.get("/api/media/file/w.txt"), "media.file.read")
        assert writer.delete("/api/media/file/w.txt").status_code == 200


def test_entity_upload_needs_update_permission_on_the_row(media_node: MediaNode,
                                                          admin: httpx.Client) -> None:
    entity, field = entity_with_media(admin)
    pid = create_row(admin, entity)
    before = media_node.objects()
    with _user(media_node, admin, "uploaderonly", ["media.file.upload", "data.entity.read"]) as user:
        r = user.post(f"/api/media/entity/{entity}/{pid}/{field}", content=b"x",
                      headers={"Content-Type": "text/plain"})
        _denied(r, "data.entity.update")
    assert media_node.objects() == before
    with _user(media_node, admin, "rowupdater",
               ["media.file.upload", "data.entity.read", "data.entity.update"]) as user:
        r = user.post(f"/api/media/entity/{entity}/{pid}/{field}", content=b"x",
                      headers={"Content-Type": "text/plain"})
        assert r.status_code == 201, r.text


def test_signed_urls_need_no_login(admin: httpx.Client, anonymous: httpx.Client) -> None:
    admin.post("/api/media/upload/by-link.txt", content=b"linked", headers={"Content-Type": "text/plain"})
    url = admin.post("/api/media/presigned-url", json={"name": "by-link.txt"}).json()["downloadUrl"]
    assert anonymous.get(url).content == b"linked"
    up = admin.post("/api/upload/presigned-url", json={"fileName": "anon-put.txt",
                                                       "contentType": "text/plain"}).json()
    r = anonymous.put(up["uploadUrl"], content=b"via link", headers={"Content-Type": "text/plain"})
    assert r.status_code == 201
    assert admin.get(f"/api/media/file/{up['objectKey']}").content == b"via link"
