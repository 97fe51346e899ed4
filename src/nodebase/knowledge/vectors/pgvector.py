"""Vectors in PostgreSQL with the pgvector extension (``NODEBASE_VECTOR_URL=postgresql://…``).

One table per embedding model (``__nodebase_knowledge_vectors_<model hash>``, ``vector(dim)``
column, HNSW index for cosine distance), keyed by chunk and grouped by document and
collection. A search filters by collection (and document) in the same ``WHERE`` as the
distance ordering, so the scope is part of the query; ``hnsw.iterative_scan`` (pgvector ≥
0.8) keeps filtered searches from coming back short.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from nodebase.kernel.config import redact_url
from nodebase.knowledge.vectors.base import (
    DeleteByField,
    VectorHit,
    VectorRecord,
    model_key,
    out_of_scope,
)


def _literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(f"{float(x):.7g}" for x in vector) + "]"


class PgVectorStore(DeleteByField):
    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: asyncpg.Pool | None = None
        self._tables: dict[str, str] = {}

    def describe(self) -> dict[str, Any]:
        return {"type": "pgvector", "url": redact_url(self.url), "search": "HNSW (cosine)"}

    async def start(self) -> None:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=4)
            async with self._pool.acquire() as conn:
                await conn.execute("SELECT pg_advisory_lock(727275)")
                try:
                    await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                finally:
                    await conn.execute("SELECT pg_advisory_unlock(727275)")

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "vector store not started"
        return self._pool

    async def _table(self, model: str, dim: int) -> str:
        key = f"{model}:{dim}"
        if key in self._tables:
            return self._tables[key]
        name = "__nodebase_knowledge_vectors_" + model_key(model, dim)
        async with self.pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock(727275)")
            try:
                await conn.execute(
                    f'CREATE TABLE IF NOT EXISTS "{name}" (chunk_id TEXT PRIMARY KEY, '
                    f"document_id TEXT NOT NULL, collection_id TEXT NOT NULL, owner_id TEXT, "
                    f"embedding vector({int(dim)}) NOT NULL)")
                await conn.execute(f'CREATE INDEX IF NOT EXISTS "{name}_collection" ON "{name}" (collection_id)')
                await conn.execute(f'CREATE INDEX IF NOT EXISTS "{name}_document" ON "{name}" (document_id)')
                await conn.execute(f'CREATE INDEX IF NOT EXISTS "{name}_hnsw" ON "{name}" '
                                   "USING hnsw (embedding vector_cosine_ops)")
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS __nodebase_knowledge_vector_tables (name TEXT PRIMARY KEY)")
                await conn.execute("INSERT INTO __nodebase_knowledge_vector_tables (name) VALUES ($1) "
                                   "ON CONFLICT DO NOTHING", name)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(727275)")
        self._tables[key] = name
        return name

    async def _all_tables(self) -> list[str]:
        async with self.pool.acquire() as conn:
            exists = await conn.fetchval("SELECT to_regclass('__nodebase_knowledge_vector_tables')")
            if exists is None:
                return []
            return [r[0] for r in await conn.fetch("SELECT name FROM __nodebase_knowledge_vector_tables")]

    async def add(self, model: str, records: Sequence[VectorRecord]) -> None:
        if not records:
            return
        table = await self._table(model, len(records[0].vector))
        async with self.pool.acquire() as conn:
            await conn.executemany(
                f'INSERT INTO "{table}" (chunk_id, document_id, collection_id, owner_id, embedding) '
                "VALUES ($1, $2, $3, $4, $5::vector) ON CONFLICT (chunk_id) DO UPDATE SET "
                "document_id = EXCLUDED.document_id, collection_id = EXCLUDED.collection_id, "
                "owner_id = EXCLUDED.owner_id, embedding = EXCLUDED.embedding",
                [(r.chunk_id, r.document_id, r.collection_id, r.owner_id, _literal(r.vector))
                 for r in records])

    async def _delete(self, column: str, value: str) -> None:
        for table in await self._all_tables():
            async with self.pool.acquire() as conn:
                await conn.execute(f'DELETE FROM "{table}" WHERE {column} = $1', value)

    async def search(self, model: str, vector: Sequence[float], *, collection_ids: Sequence[str],
                     document_ids: Sequence[str] | None = None, k: int = 20) -> list[VectorHit]:
        if out_of_scope(collection_ids, document_ids):
            return []
        table = await self._table(model, len(vector))
        args: list[Any] = [_literal(vector), list(collection_ids)]
        where = "collection_id = ANY($2::text[])"
        if document_ids is not None:
            args.append(list(document_ids))
            where += " AND document_id = ANY($3::text[])"
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            await conn.execute(f"SET LOCAL hnsw.ef_search = {max(40, int(k) * 2)}")
            rows = await conn.fetch(
                f'SELECT chunk_id, 1 - (embedding <=> $1::vector) AS score FROM "{table}" '
                f"WHERE {where} ORDER BY embedding <=> $1::vector LIMIT {int(k)}", *args)
        return sorted((VectorHit(r[0], float(r[1])) for r in rows), key=lambda h: -h.score)

    async def count(self, collection_id: str | None = None) -> int:
        total = 0
        for table in await self._all_tables():
            async with self.pool.acquire() as conn:
                if collection_id is None:
                    total += int(await conn.fetchval(f'SELECT count(*) FROM "{table}"'))
                else:
                    total += int(await conn.fetchval(
                        f'SELECT count(*) FROM "{table}" WHERE collection_id = $1', collection_id))
        return total
