"""The storage adapter interface every backend (local folder, S3-compatible) implements.

Adapters move bytes by key and know nothing of HTTP, permissions or the media entity.
Keys reach them already validated by :mod:`nodebase.media.names`; adapters check again
(defence in depth). Uploads arrive as an async iterator of chunks and are *atomic*: the
object becomes visible only when the whole stream was stored, and an exception while
reading the stream leaves nothing behind. Downloads are async iterators too, so no adapter
ever holds a whole file in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
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
