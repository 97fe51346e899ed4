"""The vector store interface: vectors keyed by chunk, grouped by document and collection.

Async only. A search is always scoped: the collections (already narrowed to what the caller
may read) and optionally the documents are part of the query, never applied afterwards.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class VectorRecord:
    chunk_id: str
    document_id: str
    collection_id: str
    owner_id: str | None
    vector: Sequence[float]


@dataclass(frozen=True)
class VectorHit:
    chunk_id: str
    score: float  # cosine similarity, higher is closer


class VectorStore(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def add(self, model: str, records: Sequence[VectorRecord]) -> None:
        """Insert or replace the vectors of these chunks."""
        ...

    async def delete_document(self, document_id: str) -> None: ...

    async def delete_collection(self, collection_id: str) -> None: ...

    async def search(self, model: str, vector: Sequence[float], *, collection_ids: Sequence[str],
                     document_ids: Sequence[str] | None = None, k: int = 20) -> list[VectorHit]: ...

    async def count(self, collection_id: str | None = None) -> int: ...

    def describe(self) -> dict[str, Any]: ...


# -- shared by the adapters -------------------------------------------------------------------
def model_key(model: str, dim: int) -> str:
    """The name part of the table/collection that holds one model's vectors of one size."""
    return hashlib.sha1(f"{model}:{dim}".encode()).hexdigest()[:12]


def out_of_scope(collection_ids: Sequence[str], document_ids: Sequence[str] | None) -> bool:
    """True when the scope selects nothing (no collections, or an empty document list)."""
    return not collection_ids or (document_ids is not None and not document_ids)


class DeleteByField:
    """``delete_document``/``delete_collection`` as one ``_delete(field, value)``."""

    async def _delete(self, field: str, value: str) -> None:
        raise NotImplementedError

    async def delete_document(self, document_id: str) -> None:
        await self._delete("document_id", document_id)

    async def delete_collection(self, collection_id: str) -> None:
        await self._delete("collection_id", collection_id)
