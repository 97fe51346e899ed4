"""MediaService in-process: a row that cannot be written takes its new object with it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from nodebase.kernel.caller import ANONYMOUS, OpenGuard
from nodebase.kernel.events import EventBus
from nodebase.media.bodies import IncomingFile
from nodebase.media.presign import UrlSigner
from nodebase.media.service import MediaService
from nodebase.media.storage import LocalStorage


class DatabaseDown(Exception):
    pass


class FailingData:
    """Reads find nothing; every write fails like a lost database connection."""

    async def read_many(self, name: str, query: Any, caller: Any) -> tuple[list[Any], dict[str, Any]]:
        return [], {}

    async def create(self, name: str, body: Any, caller: Any) -> Any:
        raise DatabaseDown("connection lost")


async def _body(*chunks: bytes) -> AsyncIterator[bytes]:
    for c in chunks:
        yield c


def test_row_failure_removes_the_new_object(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "media")
    service = MediaService(FailingData(), EventBus(), OpenGuard(), storage,  # type: ignore[arg-type]
                           UrlSigner(b"k" * 32))

    async def go() -> None:
        await storage.start()
        try:
            incoming = IncomingFile(_body(b"a" * 1000, b"b" * 1000), "text/plain")
            await service.upload(ANONYMOUS, incoming, "lost.txt")
        finally:
            await storage.close()

    with pytest.raises(DatabaseDown):
        asyncio.run(go())
    assert sorted(p.name for p in (tmp_path / "media").iterdir()) == [".uploads"]
    assert list((tmp_path / "media" / ".uploads").iterdir()) == []
