"""Vectors in Qdrant through qdrant-client (``NODEBASE_VECTOR_URL``):

* ``qdrant://host:6333`` (``qdrants://`` for TLS; ``?api_key=…``) — a Qdrant server;
* ``qdrant+local:///absolute/path`` — qdrant-client's local mode, persisted in that folder;
* ``qdrant+memory:`` — local mode in memory.

Local mode is qdrant-client's pure-Python implementation of the Qdrant API (brute force): it is
what the test suite runs, because no Qdrant server can be installed on the test machines. The
same calls go to a real server. One Qdrant collection per embedding model; the chunk's
document, collection and owner are payload fields, indexed and used as a ``must`` filter in
the query itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from nodebase.kernel.config import redact_url
from nodebase.knowledge.vectors.base import (
    DeleteByField,
    VectorHit,
    VectorRecord,
    model_key,
    out_of_scope,
)

_NS = uuid.UUID("5b0f8a52-7f43-4c1e-9a53-0d3e6c1f7a10")


class QdrantVectorStore(DeleteByField):
    def __init__(self, url: str) -> None:
        self.url = url
        self._client: Any = None
        self._collections: dict[str, str] = {}

    def describe(self) -> dict[str, Any]:
        mode = "server" if self.url.startswith(("qdrant://", "qdrants://")) else "local"
        return {"type": "qdrant", "mode": mode, "url": redact_url(self.url)}

    def _make_client(self) -> Any:
        from qdrant_client import AsyncQdrantClient

        parts = urlsplit(self.url)
        if parts.scheme == "qdrant+memory":
            return AsyncQdrantClient(location=":memory:")
        if parts.scheme == "qdrant+local":
            return AsyncQdrantClient(path=parts.path)
        query = parse_qs(parts.query)
        return AsyncQdrantClient(host=parts.hostname or "127.0.0.1", port=parts.port or 6333,
                                 https=parts.scheme == "qdrants",
                                 api_key=query["api_key"][0] if query.get("api_key") else None)

    async def start(self) -> None:
        if self._client is None:
            self._client = self._make_client()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _collection(self, model: str, dim: int) -> str:
        from qdrant_client import models

        key = f"{model}:{dim}"
        if key in self._collections:
            return self._collections[key]
        name = "nodebase_" + model_key(model, dim)
        if not await self._client.collection_exists(name):
            await self._client.create_collection(
                name, vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE))
            for field in ("collection_id", "document_id", "owner_id"):
                await self._client.create_payload_index(name, field, models.PayloadSchemaType.KEYWORD)
        self._collections[key] = name
        return name

    async def _names(self) -> list[str]:
        listed = await self._client.get_collections()
        return [c.name for c in listed.collections if c.name.startswith("nodebase_")]

    async def add(self, model: str, records: Sequence[VectorRecord]) -> None:
        from qdrant_client import models

        if not records:
            return
        name = await self._collection(model, len(records[0].vector))
        points = [models.PointStruct(
            id=str(uuid.uuid5(_NS, r.chunk_id)), vector=[float(x) for x in r.vector],
            payload={"chunk_id": r.chunk_id, "document_id": r.document_id,
                     "collection_id": r.collection_id, "owner_id": r.owner_id})
            for r in records]
        await self._client.upsert(name, points=points, wait=True)

    async def _delete(self, field: str, value: str) -> None:
        from qdrant_client import models

        selector = models.FilterSelector(filter=models.Filter(must=[
            models.FieldCondition(key=field, match=models.MatchValue(value=value))]))
        for name in await self._names():
            await self._client.delete(name, points_selector=selector, wait=True)

    async def search(self, model: str, vector: Sequence[float], *, collection_ids: Sequence[str],
                     document_ids: Sequence[str] | None = None, k: int = 20) -> list[VectorHit]:
        from qdrant_client import models

        if out_of_scope(collection_ids, document_ids):
            return []
        name = await self._collection(model, len(vector))
        must: list[Any] = [models.FieldCondition(key="collection_id",
                                                 match=models.MatchAny(any=list(collection_ids)))]
        if document_ids is not None:
            must.append(models.FieldCondition(key="document_id", match=models.MatchAny(any=list(document_ids))))
        result = await self._client.query_points(name, query=[float(x) for x in vector],
                                                 query_filter=models.Filter(must=must), limit=int(k),
                                                 with_payload=["chunk_id"])
        return [VectorHit(str(p.payload["chunk_id"]), float(p.score)) for p in result.points]

    async def count(self, collection_id: str | None = None) -> int:
        from qdrant_client import models

        flt = None
        if collection_id is not None:
            flt = models.Filter(must=[models.FieldCondition(key="collection_id",
                                                            match=models.MatchValue(value=collection_id))])
        total = 0
        for name in await self._names():
            total += (await self._client.count(name, count_filter=flt, exact=True)).count
        return int(total)
