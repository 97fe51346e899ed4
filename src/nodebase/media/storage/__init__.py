"""Storage adapters and the factory that picks one from ``NODEBASE_STORAGE_URL``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from nodebase.media.storage.base import (
    ByteRange,
    ObjectInfo,
    PresignedRequest,
    StorageAdapter,
    StorageUnavailable,
)
from nodebase.media.storage.local import LocalStorage


def make_storage(url: str, data_dir: Path) -> StorageAdapter:
    """``""`` → ``<data_dir>/media``; ``file:///abs/dir`` or a plain path → that folder
    (relative paths are under the data dir); ``s3://bucket?...`` → S3-compatible storage."""
    if not url:
        return LocalStorage(data_dir / "media")
    parts = urlsplit(url)
    if parts.scheme == "s3":
        from nodebase.media.storage.s3 import S3Config, S3Storage

        return S3Storage(S3Config.from_url(url))
    if parts.scheme in ("file", "local"):
        raw = unquote(parts.netloc + parts.path) if parts.scheme == "local" else unquote(parts.path)
        path = Path(raw)
    elif parts.scheme == "" or (len(parts.scheme) == 1 and url[1:3] in (":\\", ":/")):
        path = Path(url)
    else:
        raise ValueError(f"Unsupported storage URL scheme {parts.scheme!r} (use file:// or s3://)")
    return LocalStorage(path if path.is_absolute() else data_dir / path)


__all__ = [
    "ByteRange",
    "LocalStorage",
    "ObjectInfo",
    "PresignedRequest",
    "StorageAdapter",
    "StorageUnavailable",
    "make_storage",
]
