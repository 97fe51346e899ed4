"""``nodebase export`` → ``nodebase import`` across databases: SQLite → PostgreSQL → SQLite,
every row (users with their password hashes), relation and media file identical."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path
from typing import Any

import httpx

from tests.auth.helpers import PASSWORD, email
from tests.conftest import add_entity, add_relation
from tests.nodeserver import NodeServer
from tests.support.services import PostgresServer

FILE_BYTES = bytes(range(256)) * 40


def _all_rows(api: httpx.Client, entity: str, **params: Any) -> list[dict[str, Any]]:
    r = api.get(f"/api/data/entity/{entity}", params={"sort": "id", "limit": 1000, **params})
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


def _snapshot(node: NodeServer, headers: dict[str, str]) -> dict[str, Any]:
    with node.client(headers=headers) as api:
        return {
            "authors": _all_rows(api, "authors"),
            "posts": _all_rows(api, "posts", **{"with": json.dumps({"tags": {}, "author": {}})}),
            "tags": _all_rows(api, "tags"),
            "users": _all_rows(api, "users"),
            "media": [{k: v for k, v in m.items() if k != "id"} for m in _all_rows(api, "media")],
            "file": api.get("/api/media/file/report.bin").content,
        }


def _login(node: NodeServer, address: str) -> int:
    with node.client() as c:
        return c.post("/api/auth/login", json={"email": address, "password": PASSWORD}).status_code


ADMIN = "archive-admin@example.com"


def _admin(node: NodeServer) -> dict[str, str]:
    """Sign in as the admin that travels with the archive (created on the first node)."""
    r = httpx.post(node.url + "/api/auth/login", json={"email": ADMIN, "password": PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_sqlite_to_postgres_to_sqlite(tmp_path: Path, postgres: PostgresServer) -> None:
    for name in "abc":
        (tmp_path / name).mkdir()
    a = NodeServer(tmp_path / "a")
    a.cli("user", "create", "--email", ADMIN, f"--password={PASSWORD}", "--role", "admin")
    a.start()
    try:
        admin = _admin(a)
        with a.client(headers=admin) as api:
            add_entity(api, "authors", {"name": {"type": "text"}, "born": {"type": "datetime"}})
            add_entity(api, "posts", {"title": {"type": "text"}, "views": {"type": "number"},
                                      "ratio": {"type": "number"}, "published": {"type": "boolean"},
                                      "day": {"type": "date"}, "extra": {"type": "json"}})
            add_entity(api, "tags", {"label": {"type": "text"}})
            add_relation(api, "posts_authors", {"type": "n:1", "source": "posts", "target": "authors",
                                                 "config": {"mappedBy": "author"}})
            add_relation(api, "posts_tags", {"type": "m:n", "source": "posts", "target": "tags"})
            ann, bob = api.post("/api/data/entity/authors", json=[
                {"name": "Ann", "born": "1990-05-01T10:20:30.000Z"}, {"name": "Bob"}]).json()["data"]
            tags = api.post("/api/data/entity/tags", json=[{"label": "x"}, {"label": "y"}]).json()["data"]
            api.delete(f"/api/data/entity/tags/{tags[0]['id']}")  # a gap in the ids
            tag_y = api.post("/api/data/entity/tags", json={"label": "z"}).json()["data"]
            for i, (author, published) in enumerate([(ann, True), (bob, False), (None, None)]):
                body: dict[str, Any] = {"title": f"post {i} ünïcode ✓", "views": i * 10, "ratio": i + 0.25,
                                        "published": published, "day": f"2026-0{i + 1}-01",
                                        "extra": {"n": i, "list": [1, "two", None]},
                                        "tags": {"$attach": [tags[1]["id"], tag_y["id"]][: i + 1]}}
                if author:
                    body["author_id"] = author["id"]
                r = api.post("/api/data/entity/posts", json=body)
                assert r.status_code == 201, r.text
            addresses = [email("exp") for _ in range(3)]
            for address in addresses:
                assert api.post("/api/users", json={"email": address, "username": address[:8],
                                                    "password": PASSWORD}).status_code == 201
            r = api.post("/api/media/upload/report.bin", content=FILE_BYTES,
                         headers={"Content-Type": "application/octet-stream"})
            assert r.status_code == 201, r.text
        before = _snapshot(a, admin)
    finally:
        a.stop()
    archive = tmp_path / "a.tar.gz"
    made = json.loads(a.cli("export", "--out", str(archive)).stdout)
    assert made["database"] == "sqlite" and made["rows"]["posts"] == 3 and made["files"] == 1
    with tarfile.open(archive) as tar:
        users = [json.loads(line) for line in tar.extractfile("rows/users.jsonl").read().splitlines()]  # type: ignore[union-attr]
    assert all(u["strategy_value"].startswith("$argon2") for u in users)  # hashes travel

    # into PostgreSQL
    b = NodeServer(tmp_path / "b", database_url=postgres.create_database(f"nb_exp_{os.getpid()}"))
    done = json.loads(b.cli("import", str(archive)).stdout)
    assert done["rows"] == made["rows"]
    again = b.cli("import", str(archive), check=False)  # not into a node that has rows
    assert again.returncode == 1 and "empty node" in again.stderr
    b.start()
    try:
        assert _snapshot(b, _admin(b)) == before
        assert all(_login(b, address) == 200 for address in addresses)
        with b.client(headers=_admin(b)) as api:  # the sequences moved past the kept ids
            r = api.post("/api/data/entity/tags", json={"label": "new"})
            assert r.status_code == 201 and r.json()["data"]["id"] > tag_y["id"]
            api.delete(f"/api/data/entity/tags/{r.json()['data']['id']}")
    finally:
        b.stop()
    archive_b = tmp_path / "b.tar.gz"
    made_b = json.loads(b.cli("export", "--out", str(archive_b)).stdout)
    assert made_b["database"] == "postgresql" and made_b["rows"] == made["rows"]

    # and back into SQLite
    c = NodeServer(tmp_path / "c")
    c.cli("import", str(archive_b))
    c.start()
    try:
        assert _snapshot(c, _admin(c)) == before
        assert all(_login(c, address) == 200 for address in addresses)
    finally:
        c.stop()


def test_import_refuses_what_is_not_an_archive(tmp_path: Path) -> None:
    bogus = tmp_path / "x.tar.gz"
    bogus.write_bytes(b"not a tarball")
    (tmp_path / "n").mkdir()
    node = NodeServer(tmp_path / "n")
    r = node.cli("import", str(bogus), check=False)
    assert r.returncode == 1 and "not a nodebase export archive" in r.stderr


