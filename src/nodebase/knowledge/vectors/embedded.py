"""The embedded vector store (the default): vectors in ``<data_dir>/knowledge/vectors.db``
(SQLite), searched exactly in memory with numpy.

Each collection is one matrix, loaded on first search and reloaded when its generation
number changes (every add/delete bumps it, so other processes' writes are seen on the next
search). A query computes cosine scores only over the requested collections' rows (and
documents), then takes the top k: exact search, so recall is 1.0 by construction. All file
and numpy work runs on one dedicated thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nodebase.knowledge.vectors.base import VectorHit, VectorRecord

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS vectors (chunk_id TEXT PRIMARY KEY, document_id TEXT NOT NULL, "
    "collection_id TEXT NOT NULL, owner_id TEXT, model TEXT NOT NULL, vector BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS vectors_collection ON vectors (collection_id, model)",
    "CREATE INDEX IF NOT EXISTS vectors_document ON vectors (document_id)",
    "CREATE TABLE IF NOT EXISTS generations (collection_id TEXT PRIMARY KEY, gen INTEGER NOT NULL)",
]


@dataclass
class _Matrix:
    gen: int
    model: str
    chunk_ids: list[str]
    document_ids: np.ndarray
    vectors: np.ndarray  # (n, dim) float32, rows L2-normalised


class EmbeddedVectorStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="nodebase-vectors")
        self._conn: sqlite3.Connection | None = None
        self._cache: dict[str, _Matrix] = {}
        self._lock = threading.Lock()

    def describe(self) -> dict[str, Any]:
        return {"type": "embedded", "path": str(self.path), "search": "exact (numpy)"}

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            for stmt in _SCHEMA:
                conn.execute(stmt)
            conn.commit()
            self._conn = conn
        return self._conn

    async def start(self) -> None:
        await self._run(self._db)

    async def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        await self._run(_close)
        self._pool.shutdown(wait=False)

    @staticmethod
    def _bump(conn: sqlite3.Connection, collection_ids: set[str]) -> None:
        for cid in collection_ids:
            conn.execute("INSERT INTO generations (collection_id, gen) VALUES (?, 1) "
                         "ON CONFLICT (collection_id) DO UPDATE SET gen = gen + 1", (cid,))

    def _add(self, model: str, records: Sequence[VectorRecord]) -> None:
        conn = self._db()
        with conn:
            conn.executemany(
                "INSERT OR REPLACE INTO vectors (chunk_id, document_id, collection_id, owner_id, "
                "model, vector) VALUES (?, ?, ?, ?, ?, ?)",
                [(r.chunk_id, r.document_id, r.collection_id, r.owner_id, model,
                  np.asarray(r.vector, dtype=np.float32).tobytes()) for r in records])
            self._bump(conn, {r.collection_id for r in records})

    async def add(self, model: str, records: Sequence[VectorRecord]) -> None:
        if records:
            await self._run(self._add, model, records)

    def _delete(self, column: str, value: str) -> None:
        conn = self._db()
        with conn:
            cids = {r[0] for r in conn.execute(
                f"SELECT DISTINCT collection_id FROM vectors WHERE {column} = ?", (value,))}
            conn.execute(f"DELETE FROM vectors WHERE {column} = ?", (value,))
            self._bump(conn, cids | ({value} if column == "collection_id" else set()))

    async def delete_document(self, document_id: str) -> None:
        await self._run(self._delete, "document_id", document_id)

    async def delete_collection(self, collection_id: str) -> None:
        await self._run(self._delete, "collection_id", collection_id)

    def _matrix(self, conn: sqlite3.Connection, cid: str, gen: int, model: str) -> _Matrix:
        cached = self._cache.get(cid)
        if cached is not None and cached.gen == gen and cached.model == model:
            return cached
        rows = conn.execute("SELECT chunk_id, document_id, vector FROM vectors "
                            "WHERE collection_id = ? AND model = ?", (cid, model)).fetchall()
        if rows:
            vectors = np.vstack([np.frombuffer(r[2], dtype=np.float32) for r in rows])
        else:
            vectors = np.zeros((0, 1), dtype=np.float32)
        m = _Matrix(gen, model, [r[0] for r in rows], np.array([r[1] for r in rows], dtype=object),
                    vectors)
        self._cache[cid] = m
        return m

    def _search(self, model: str, vector: Sequence[float], collection_ids: Sequence[str],
                document_ids: Sequence[str] | None, k: int) -> list[VectorHit]:
        conn = self._db()
        q = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(q))
        if norm == 0.0 or not collection_ids:
            return []
        q = q / norm
        marks = ",".join("?" * len(collection_ids))
        gens = dict(conn.execute(f"SELECT collection_id, gen FROM generations "
                                 f"WHERE collection_id IN ({marks})", list(collection_ids)).fetchall())
        wanted = list(set(document_ids)) if document_ids is not None else None
        best: list[tuple[float, str]] = []  # per collection: its own top k, then merged
        for cid in collection_ids:
            if cid not in gens:
                continue
            m = self._matrix(conn, cid, gens[cid], model)
            if not m.chunk_ids or m.vectors.shape[1] != q.shape[0]:
                continue
            if wanted is not None:
                rows = np.nonzero(np.isin(m.document_ids, wanted))[0]
                if not len(rows):
                    continue
                scores = m.vectors[rows] @ q
            else:
                rows = None
                scores = m.vectors @ q
            top = min(k, len(scores))
            idx = np.argpartition(scores, len(scores) - top)[len(scores) - top:]
            for i in idx:
                row = int(rows[i]) if rows is not None else int(i)
                best.append((float(scores[i]), m.chunk_ids[row]))
        best.sort(key=lambda t: (-t[0], t[1]))
        return [VectorHit(chunk_id, score) for score, chunk_id in best[:k]]

    async def search(self, model: str, vector: Sequence[float], *, collection_ids: Sequence[str],
                     document_ids: Sequence[str] | None = None, k: int = 20) -> list[VectorHit]:
        result: list[VectorHit] = await self._run(self._search, model, vector, list(collection_ids),
                                                  list(document_ids) if document_ids is not None else None, k)
        return result

    def _count(self, collection_id: str | None) -> int:
        conn = self._db()
        if collection_id is None:
            return int(conn.execute("SELECT count(*) FROM vectors").fetchone()[0])
        return int(conn.execute("SELECT count(*) FROM vectors WHERE collection_id = ?",
                                (collection_id,)).fetchone()[0])

    async def count(self, collection_id: str | None = None) -> int:
        result: int = await self._run(self._count, collection_id)
        return result
