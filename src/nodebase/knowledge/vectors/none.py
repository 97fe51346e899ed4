"""No vector store: keyword search only. Used when there is no embedder and the embedded
store's numpy (the ``knowledge`` extra) is not installed, so the default install serves the
Knowledge module without it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nodebase.knowledge.vectors.base import VectorHit, VectorRecord


class NoVectorStore:
    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def add(self, model: str, records: Sequence[VectorRecord]) -> None:
        raise RuntimeError("no vector store: dense retrieval is off (install nodebase[knowledge])")

    async def delete_document(self, document_id: str) -> None:
        return None

    async def delete_collection(self, collection_id: str) -> None:
        return None

    async def search(self, model: str, vector: Sequence[float], *, collection_ids: Sequence[str],
                     document_ids: Sequence[str] | None = None, k: int = 20) -> list[VectorHit]:
        return []

    async def count(self, collection_id: str | None = None) -> int:
        return 0

    def describe(self) -> dict[str, Any]:
        return {"type": "none", "reason": "no embedder and no numpy: keyword search only"}
