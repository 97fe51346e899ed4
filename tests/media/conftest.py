"""Media fixtures: one real Swift (S3 API) server per session, and nodes on local or S3 storage.

``media_node`` is parametrised over the storage (``local``, ``s3``) and — through ``backend`` —
over the database (SQLite, PostgreSQL), so every route test runs on all four combinations.
The S3 combination talks to a real OpenStack Swift proxy with its s3api middleware, started
from the Debian packages (scripts/install-test-deps.sh), each node in its own bucket.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import _database_url, admin_headers
from tests.nodeserver import NodeServer
from tests.support.services import S3Server, start_swift

_buckets = itertools.count(1)
STORAGES = ["local", "s3"]


@pytest.fixture(scope="session")
def swift(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with start_swift(tmp_path_factory.mktemp("swift")) as server:
        yield server


def new_bucket(swift: S3Server) -> str:
    name = f"nb-media-{os.getpid()}-{next(_buckets)}"
    swift.create_bucket(name)
    return name


def storage_env(kind: str, request: pytest.FixtureRequest) -> dict[str, str]:
    if kind == "local":
        return {}
    server: S3Server = request.getfixturevalue("swift")
    return {"NODEBASE_STORAGE_URL": server.url(new_bucket(server))}


@dataclass
class MediaNode:
    """A running node, its storage kind, and where its files land."""

    server: NodeServer
    storage: str
    env: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def media_dir(self) -> Path:
        return self.server.data_dir / "media"

    def admin(self, **kw: Any) -> httpx.Client:
        return self.server.client(headers=admin_headers(self.server), **kw)

    def anonymous(self, **kw: Any) -> httpx.Client:
        return self.server.client(**kw)

    def objects(self, swift: S3Server | None = None) -> list[str]:
        """Every object key in the storage, bypassing nodebase (for leak checks)."""
        if self.storage == "local":
            return sorted(p.name for p in self.media_dir.iterdir() if p.is_file())
        assert swift is not None
        bucket = self.env["NODEBASE_STORAGE_URL"].split("?")[0].removeprefix("s3://")
        s3 = swift.boto3_client()
        out: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            out.extend(o["Key"] for o in page.get("Contents", []))
        return sorted(out)

    def part_files(self) -> list[str]:
        tmp = self.media_dir / ".uploads"
        return sorted(p.name for p in tmp.iterdir()) if tmp.exists() else []


def start_media_node(kind: str, backend: str, request: pytest.FixtureRequest,
                     tmp_path_factory: pytest.TempPathFactory, workers: int = 1) -> MediaNode:
    env = storage_env(kind, request)
    data_dir = tmp_path_factory.mktemp(f"media-{kind}-{backend}")
    server = NodeServer(data_dir, database_url=_database_url(backend, request), env=env,
                        workers=workers).start()
    return MediaNode(server, kind, env)


def _stop(node: MediaNode) -> None:
    node.server.stop()
    errors = node.server.server_errors()
    assert not errors, f"the server logged unhandled errors:\n{errors}"


@pytest.fixture(scope="module", params=STORAGES)
def media_node(request: pytest.FixtureRequest, backend: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaNode]:
    node = start_media_node(str(request.param), backend, request, tmp_path_factory)
    yield node
    _stop(node)


@pytest.fixture
def fresh_media_node(request: pytest.FixtureRequest, backend: str,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Factory for a node of its own (tests that change the media config)."""
    started: list[MediaNode] = []

    def make(kind: str, workers: int = 1) -> MediaNode:
        node = start_media_node(kind, backend, request, tmp_path_factory, workers)
        started.append(node)
        return node

    yield make
    for node in started:
        _stop(node)


@pytest.fixture
def admin(media_node: MediaNode) -> Iterator[httpx.Client]:
    with media_node.admin() as client:
        yield client
