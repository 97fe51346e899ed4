"""One adapter suite, run against the local folder adapter and a real S3 server (Swift s3api)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from nodebase.media.names import InvalidFileName
from nodebase.media.storage import ByteRange, LocalStorage, StorageAdapter, make_storage
from nodebase.media.storage.s3 import PART_SIZE, S3Config, S3Storage
from tests.media.conftest import new_bucket
from tests.support.services import S3Server

T = TypeVar("T")


class Harness:
    """Runs the async adapter on one event loop for the whole test."""

    def __init__(self, adapter: StorageAdapter, kind: str, swift: S3Server | None,
                 bucket: str | None) -> None:
        self.adapter = adapter
        self.kind = kind
        self.swift = swift
        self.bucket = bucket
        self.loop = asyncio.new_event_loop()

    def run(self, fn: Callable[[], Awaitable[T]]) -> T:
        return self.loop.run_until_complete(fn())

    def put(self, key: str, *chunks: bytes) -> Any:
        async def go() -> Any:
            return await self.adapter.put(key, _stream(chunks), content_type="application/octet-stream")

        return self.run(go)

    def read(self, key: str, byte_range: ByteRange | None = None) -> bytes:
        async def go() -> bytes:
            out = bytearray()
            async for chunk in await self.adapter.open(key, byte_range):
                out += chunk
            return bytes(out)

        return self.run(go)

    def object_keys(self) -> list[str]:
        return [i.key for i in self.run(self.adapter.list)]

    def pending_multipart(self) -> int:
        if self.swift is None:
            return 0
        s3 = self.swift.boto3_client()
        return len(s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", []))


async def _stream(chunks: tuple[bytes, ...] | list[bytes]) -> AsyncIterator[bytes]:
    for c in chunks:
        await asyncio.sleep(0)
        yield c


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    swift: S3Server | None = None
    bucket: str | None = None
    if request.param == "local":
        adapter: StorageAdapter = LocalStorage(tmp_path / "media")
    else:
        swift = request.getfixturevalue("swift")
        assert swift is not None
        bucket = new_bucket(swift)
        adapter = make_storage(swift.url(bucket), tmp_path)
        assert isinstance(adapter, S3Storage)
    h = Harness(adapter, str(request.param), swift, bucket)
    h.run(adapter.start)
    yield h
    h.run(adapter.close)
    h.loop.close()


def test_put_head_open_roundtrip(store: Harness) -> None:
    data = os.urandom(300_000)
    info = store.put("a.bin", data[:100_000], data[100_000:])
    assert info.key == "a.bin" and info.size == len(data)
    head = store.run(lambda: store.adapter.head("a.bin"))
    assert head is not None and head.size == len(data) and head.etag
    assert store.read("a.bin") == data
    assert store.object_keys() == ["a.bin"]


def test_ranges(store: Harness) -> None:
    data = bytes(range(256)) * 1000
    store.put("r.bin", data)
    assert store.read("r.bin", ByteRange(0, 0)) == data[:1]
    assert store.read("r.bin", ByteRange(1000, 1999)) == data[1000:2000]
    assert store.read("r.bin", ByteRange(len(data) - 10, len(data) - 1)) == data[-10:]


def test_missing_keys(store: Harness) -> None:
    assert store.run(lambda: store.adapter.head("nope.txt")) is None
    with pytest.raises(FileNotFoundError):
        store.read("nope.txt")
    assert store.run(lambda: store.adapter.delete("nope.txt")) is False


def test_overwrite_and_delete(store: Harness) -> None:
    store.put("o.txt", b"first")
    store.put("o.txt", b"second version")
    assert store.read("o.txt") == b"second version"
    assert store.run(lambda: store.adapter.delete("o.txt")) is True
    assert store.object_keys() == []


def test_multipart_sized_upload_streams_and_is_intact(store: Harness) -> None:
    """Bigger than one S3 part: the S3 adapter goes multipart; both must keep every byte."""
    block = os.urandom(1024 * 1024)
    chunks = [block] * (PART_SIZE // len(block) * 2 + 3)  # 2 full parts + a 3 MiB tail
    info = store.put("big.bin", *chunks)
    total = len(block) * len(chunks)
    assert info.size == total
    digest = hashlib.sha256()
    for c in chunks:
        digest.update(c)
    assert hashlib.sha256(store.read("big.bin")).hexdigest() == digest.hexdigest()
    assert store.pending_multipart() == 0


def test_failed_stream_leaves_nothing(store: Harness) -> None:
    class Boom(Exception):
        pass

    async def failing() -> AsyncIterator[bytes]:
        for _ in range(PART_SIZE // (1024 * 1024) + 2):  # past one part: multipart started on S3
            yield os.urandom(1024 * 1024)
        raise Boom()

    async def go() -> None:
        await store.adapter.put("failed.bin", failing(), content_type="application/octet-stream")

    with pytest.raises(Boom):
        store.run(go)
    assert "failed.bin" not in store.object_keys()
    assert store.run(lambda: store.adapter.head("failed.bin")) is None
    assert store.pending_multipart() == 0
    if store.kind == "local":
        assert isinstance(store.adapter, LocalStorage)
        assert list((store.adapter.root / ".uploads").iterdir()) == []


def test_failed_overwrite_keeps_previous_object(store: Harness) -> None:
    store.put("keep.txt", b"original")

    async def failing() -> AsyncIterator[bytes]:
        yield b"partial new content"
        raise RuntimeError("client went away")

    async def go() -> None:
        await store.adapter.put("keep.txt", failing(), content_type="text/plain")

    with pytest.raises(RuntimeError):
        store.run(go)
    assert store.read("keep.txt") == b"original"


@pytest.mark.parametrize("key", ["../x", "..", "a/b", "a\\b", "/etc/passwd", "..%2Fx", "%2e%2e%2fx",
                                 "%252e%252e%252fx", "x\x00.txt", ".hidden", ".uploads", "C:evil",
                                 "a%2Fb", "%2F", "..\\x"])
def test_adapter_refuses_unsafe_keys(store: Harness, key: str) -> None:
    with pytest.raises(InvalidFileName):
        store.put(key, b"x")
    with pytest.raises(InvalidFileName):
        store.run(lambda: store.adapter.head(key))
    with pytest.raises(InvalidFileName):
        store.read(key)
    with pytest.raises(InvalidFileName):
        store.run(lambda: store.adapter.delete(key))


def test_listing_skips_internal_and_foreign_entries(store: Harness) -> None:
    store.put("visible.txt", b"v")
    if store.kind == "local":
        assert isinstance(store.adapter, LocalStorage)
        root = store.adapter.root
        (root / ".secret").write_text("hidden")
        (root / "subdir").mkdir()
        (root / "link.txt").symlink_to("/etc/hostname")
    else:
        assert store.swift is not None
        store.swift.boto3_client().put_object(Bucket=store.bucket, Key="folder/inner.txt", Body=b"x")
    assert store.object_keys() == ["visible.txt"]


def test_local_symlink_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret outside the root")
    adapter = LocalStorage(tmp_path / "media")
    h = Harness(adapter, "local", None, None)
    h.run(adapter.start)
    (adapter.root / "link.txt").symlink_to(outside)
    assert h.run(lambda: adapter.head("link.txt")) is None
    with pytest.raises(FileNotFoundError):
        h.read("link.txt")
    h.put("link.txt", b"replaced the link, not the target")
    assert outside.read_text() == "secret outside the root"
    h.run(adapter.close)
    h.loop.close()


def test_s3_presigned_put_and_get_are_real_s3_signatures(swift: S3Server, tmp_path: Path) -> None:
    bucket = new_bucket(swift)
    adapter = S3Storage(S3Config.from_url(swift.url(bucket)))
    put = adapter.presign_put("direct.txt", "text/plain", 60)
    assert put is not None and put.url.startswith(swift.endpoint)
    req = urllib.request.Request(put.url, data=b"sent straight to S3", method="PUT",
                                 headers=put.headers)
    with urllib.request.urlopen(req, timeout=10) as res:
        assert res.status == 200
    url = adapter.presign_get("direct.txt", 60)
    assert url is not None
    with urllib.request.urlopen(url, timeout=10) as res:
        assert res.read() == b"sent straight to S3"
    # a tampered signature is refused by the S3 server itself
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url[:-4] + "0000", timeout=10)
    assert err.value.code == 403


def test_storage_url_parsing(tmp_path: Path) -> None:
    assert isinstance(make_storage("", tmp_path), LocalStorage)
    local = make_storage(f"file://{tmp_path}/files", tmp_path)
    assert isinstance(local, LocalStorage) and local.root == (tmp_path / "files").resolve()
    rel = make_storage("uploads", tmp_path)
    assert isinstance(rel, LocalStorage) and rel.root == (tmp_path / "uploads").resolve()
    cfg = S3Config.from_url("s3://bkt?endpoint=http://h:1&region=eu-west-1&access_key=A&secret_key=B"
                            "&prefix=media")
    assert (cfg.bucket, cfg.endpoint, cfg.region, cfg.access_key, cfg.secret_key, cfg.prefix,
            cfg.path_style) == ("bkt", "http://h:1", "eu-west-1", "A", "B", "media/", True)
    aws = S3Config.from_url("s3://AK:SK@bucket-2?region=us-west-2")
    assert (aws.access_key, aws.secret_key, aws.endpoint, aws.path_style) == ("AK", "SK", None, False)
    with pytest.raises(ValueError):
        make_storage("ftp://nope", tmp_path)


def test_s3_prefix_keeps_keys_apart(swift: S3Server, tmp_path: Path) -> None:
    bucket = new_bucket(swift)
    a = make_storage(swift.url(bucket) + "&prefix=a", tmp_path)
    b = make_storage(swift.url(bucket) + "&prefix=b", tmp_path)
    ha, hb = Harness(a, "s3", swift, bucket), Harness(b, "s3", swift, bucket)
    ha.put("same.txt", b"from a")
    hb.put("same.txt", b"from b")
    assert ha.read("same.txt") == b"from a" and hb.read("same.txt") == b"from b"
    assert ha.object_keys() == ["same.txt"] and hb.object_keys() == ["same.txt"]
    ha.loop.close()
    hb.loop.close()
