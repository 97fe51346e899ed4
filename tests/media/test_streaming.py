"""Uploads and downloads stream: 200 MB through the server while its memory stays flat.

The server's RSS is the summed RSS of its process tree (granian's parent and worker),
sampled every 50 ms with psutil from before the upload until after the download. The bound
is on the growth over the idle baseline (RSS_BOUND_MB: 16 MB on local storage, 64 MB on S3,
whose multipart upload holds one 8 MiB part and its copy), far below the 200 MB moved: a
server that buffered the file would grow by at least 200 MB. Measured on the 2-vCPU dev box:
local +5 MB, S3 (Swift) +30 MB.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest

from tests.media.conftest import MediaNode

SIZE_MB = 200
CHUNK = 1024 * 1024
#: allowed growth of the server's RSS over its idle baseline while moving SIZE_MB
RSS_BOUND_MB = {"local": 16, "s3": 64}


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        total = 0
        for p in [self.root, *self.root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += p.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.05)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def _chunks(digest: hashlib._Hash) -> Iterator[bytes]:
    """SIZE_MB of varied bytes, made as they are sent (the test client stays small too)."""
    block = hashlib.sha256(b"seed").digest() * (CHUNK // 32)
    for i in range(SIZE_MB):
        chunk = i.to_bytes(4, "big") + block[4:]
        digest.update(chunk)
        yield chunk


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("kind", ["local", "s3"])
def test_200mb_round_trip_keeps_server_rss_bounded(fresh_media_node: object, kind: str) -> None:
    node: MediaNode = fresh_media_node(kind)  # type: ignore[operator]
    assert node.server.proc is not None
    with node.admin() as admin:
        admin.timeout = httpx.Timeout(300)
        r = admin.patch("/api/system/config/patch/media/storage",
                        json={"body_max_size": (SIZE_MB + 10) * CHUNK})
        assert r.status_code in (200, 202), r.text
        # warm up every code path once, so the baseline includes imports and pools
        admin.post("/api/media/upload/warm.bin", content=b"w" * (3 * CHUNK),
                   headers={"Content-Type": "application/octet-stream"})
        admin.get("/api/media/file/warm.bin")
        sampler = RssSampler(node.server.proc.pid)
        time.sleep(0.3)
        baseline = sampler.rss()
        sent = hashlib.sha256()
        with sampler:
            up = admin.post("/api/media/upload/big.bin", content=_chunks(sent),
                            headers={"Content-Type": "application/octet-stream"})
            assert up.status_code == 201, up.text
            assert up.json()["meta"]["size"] == SIZE_MB * CHUNK
            assert up.json()["data"]["etag"] == sent.hexdigest()
            received = hashlib.sha256()
            size = 0
            with admin.stream("GET", "/api/media/file/big.bin") as res:
                assert res.status_code == 200
                assert res.headers["content-length"] == str(SIZE_MB * CHUNK)
                for chunk in res.iter_raw(CHUNK):
                    received.update(chunk)
                    size += len(chunk)
        assert size == SIZE_MB * CHUNK
        assert received.hexdigest() == sent.hexdigest()
        growth_mb = (sampler.peak - baseline) / CHUNK
        print(f"\n[{kind}] server RSS baseline {baseline / CHUNK:.1f} MB, peak {sampler.peak / CHUNK:.1f} MB, "
              f"growth {growth_mb:.1f} MB while moving {2 * SIZE_MB} MB")
        assert growth_mb < RSS_BOUND_MB[kind], f"server RSS grew by {growth_mb:.1f} MB"
