"""Local folder storage (the zero-configuration default: ``<data_dir>/media``).

Every key maps to exactly one regular file directly inside the root: the key is checked
by :mod:`nodebase.media.names`, the joined path is resolved and compared with the root,
and files are opened with ``O_NOFOLLOW`` so a symlink planted in the folder cannot point
a read or write elsewhere. Uploads go to ``<root>/.uploads/<random>.part`` and are renamed
into place when complete (atomic on one filesystem); a failed upload removes its part file.
Blocking file calls run on a small dedicated thread pool, never on anyio's default one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from nodebase.media import names
from nodebase.media.storage.base import (
    CHUNK,
    ByteRange,
    ChunkStream,
    ObjectInfo,
    PresignedRequest,
)

T = TypeVar("T")

WRITE_BUFFER = 1024 * 1024
TMP_DIR = ".uploads"
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class LocalStorage:
    type = "local"

    def __init__(self, root: Path, *, threads: int = 4) -> None:
        self.root = root.resolve()
        self.tmp = self.root / TMP_DIR
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="nodebase-files")

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def start(self) -> None:
        await self._run(self._prepare)

    def _prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(exist_ok=True)
        # part files left by a crash are never valid objects
        for leftover in self.tmp.glob("*.part"):
            with contextlib.suppress(OSError):
                leftover.unlink()

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def path(self, key: str) -> Path:
        """The file for ``key``; raises InvalidFileName for anything but a plain name."""
        names.check_traversal(key)
        if not names.is_canonical(key):
            raise names.InvalidFileName("Invalid file name", context={"name": key[:300]})
        candidate = self.root / key
        if candidate.parent != self.root or os.path.realpath(candidate.parent) != str(self.root):
            raise names.InvalidFileName("Invalid file name", context={"name": key[:300]})
        return candidate

    # -- writes --------------------------------------------------------------------------
    async def put(self, key: str, chunks: AsyncIterator[bytes], *, content_type: str) -> ObjectInfo:
        target = self.path(key)
        part = self.tmp / f"{uuid.uuid4().hex}.part"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC
        fd = await self._run(os.open, str(part), flags, 0o644)
        done = False
        try:
            buf = bytearray()
            async for chunk in chunks:
                buf += chunk
                if len(buf) >= WRITE_BUFFER:
                    out, buf = buf, bytearray()
                    await self._run(_write_all, fd, out)
            if buf:
                await self._run(_write_all, fd, buf)
            await self._run(os.close, fd)
            fd = -1
            await self._run(os.replace, str(part), str(target))
            done = True
        finally:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
            if not done:
                with contextlib.suppress(OSError):
                    os.unlink(part)
        info = await self.head(key)
        assert info is not None
        return info

    async def delete(self, key: str) -> bool:
        target = self.path(key)

        def unlink() -> bool:
            try:
                st = os.lstat(target)
            except FileNotFoundError:
                return False
            if not stat.S_ISREG(st.st_mode) and not stat.S_ISLNK(st.st_mode):
                return False
            try:
                os.unlink(target)
            except FileNotFoundError:
                return False
            return True

        return await self._run(unlink)

    # -- reads ---------------------------------------------------------------------------
    def _info(self, key: str, st: os.stat_result) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            size=st.st_size,
            last_modified=datetime.fromtimestamp(st.st_mtime, UTC),
            etag=f"{st.st_size:x}-{st.st_mtime_ns:x}",
        )

    async def head(self, key: str) -> ObjectInfo | None:
        target = self.path(key)

        def lstat() -> os.stat_result | None:
            try:
                st = os.lstat(target)
            except (FileNotFoundError, NotADirectoryError):
                return None
            return st if stat.S_ISREG(st.st_mode) else None

        st = await self._run(lstat)
        return None if st is None else self._info(key, st)

    async def open(self, key: str, byte_range: ByteRange | None = None) -> AsyncIterator[bytes]:
        target = self.path(key)
        try:
            fd = await self._run(os.open, str(target), os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise FileNotFoundError(key) from None
        except OSError as exc:  # ELOOP: a symlink where a file should be
            raise FileNotFoundError(key) from exc
        start = byte_range.start if byte_range else 0
        remaining = [byte_range.length if byte_range else -1]
        positioned = [start == 0]

        async def read() -> bytes:
            if not positioned[0]:
                await self._run(os.lseek, fd, start, os.SEEK_SET)
                positioned[0] = True
            if remaining[0] == 0:
                return b""
            n = CHUNK if remaining[0] < 0 else min(CHUNK, remaining[0])
            data = await self._run(os.read, fd, n)
            if remaining[0] > 0:
                remaining[0] -= len(data)
            return data

        def release() -> None:
            with contextlib.suppress(OSError):
                os.close(fd)

        return ChunkStream(read, release)

    async def list(self) -> list[ObjectInfo]:
        def scan() -> list[ObjectInfo]:
            out = []
            with os.scandir(self.root) as it:
                for entry in it:
                    if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                        continue
                    out.append(self._info(entry.name, entry.stat(follow_symlinks=False)))
            out.sort(key=lambda i: i.key)
            return out

        return await self._run(scan)

    # -- presigning: the node signs its own URLs for local storage --------------------------
    def presign_put(self, key: str, content_type: str, expires_in: int) -> PresignedRequest | None:
        return None

    def presign_get(self, key: str, expires_in: int) -> str | None:
        return None

    def describe(self) -> dict[str, object]:
        return {"type": "local", "config": {"path": str(self.root)}}


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
