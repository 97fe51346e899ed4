"""The storage adapter interface every backend (local folder, S3-compatible) implements.

Adapters move bytes by key and know nothing of HTTP, permissions or the media entity.
Keys reach them already validated by :mod:`nodebase.media.names`; adapters check again
(defence in depth). Uploads arrive as an async iterator of chunks and are *atomic*: the
object becomes visible only when the whole stream was stored, and an exception while
reading the stream leaves nothing behind. Downloads are async iterators too, so no adapter
ever holds a whole file in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from nodebase.kernel.errors import NodebaseError

CHUNK = 256 * 1024


class StorageUnavailable(NodebaseError):
    """The storage backend did not answer or refused our credentials (not a client error)."""

    status = 503
    type = "StorageUnavailableException"


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime
    #: the backend's own tag (S3: its ETag; local: size and mtime), quoted-free
    etag: str = ""
    content_type: str | None = None

    def listing(self) -> dict[str, object]:
        """bknd's ``GET /api/media/files`` item."""
        return {
            "key": self.key,
            "last_modified": self.last_modified.isoformat().replace("+00:00", "Z"),
            "size": self.size,
        }


@dataclass(frozen=True)
class ByteRange:
    """Inclusive ``start``..``end`` of an object of ``size`` bytes."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True)
class PresignedRequest:
    url: str
    method: str
    headers: dict[str, str]


class ChunkStream:
    """An async iterator over ``read()`` that releases its resource exactly once: at the end,
    on ``aclose()``, or when dropped unread (a client that hung up before the body started).
    A plain async generator would never run its ``finally`` if it was never started."""

    def __init__(self, read: Callable[[], Awaitable[bytes]], release: Callable[[], None]) -> None:
        self._read = read
        self._release: Callable[[], None] | None = release

    def __aiter__(self) -> ChunkStream:
        return self

    async def __anext__(self) -> bytes:
        if self._release is None:
            raise StopAsyncIteration
        try:
            data = await self._read()
        except BaseException:
            self.close()
            raise
        if not data:
            self.close()
            raise StopAsyncIteration
        return data

    def close(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()

    async def aclose(self) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


class StorageAdapter(Protocol):
    #: ``local`` or ``s3``
    type: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def put(self, key: str, chunks: AsyncIterator[bytes], *, content_type: str) -> ObjectInfo:
        """Store the stream under ``key`` (replacing it) atomically; return what was stored."""
        ...

    async def head(self, key: str) -> ObjectInfo | None: ...

    async def open(self, key: str, byte_range: ByteRange | None = None) -> AsyncIterator[bytes]:
        """The object's bytes (or one range of them), read lazily in chunks."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove ``key``; False when there was nothing to remove."""
        ...

    async def list(self) -> list[ObjectInfo]: ...

    def presign_put(self, key: str, content_type: str, expires_in: int) -> PresignedRequest | None:
        """A URL the client can PUT the bytes to directly, or None (the node signs its own)."""
        ...

    def presign_get(self, key: str, expires_in: int) -> str | None: ...

    def describe(self) -> dict[str, object]:
        """The adapter's config for ``GET /api/system/config/media`` (no secrets)."""
        ...
