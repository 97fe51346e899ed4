"""SQL of the Knowledge module: collections, documents (which are also the durable ingestion
jobs), chunks and the keyword index. Knows SQL, nothing of HTTP or permissions: callers pass
the collection ids a caller may see, and every query is scoped by them.

Jobs: a document row carries its job state (``pending → processing → ready | failed``),
``attempts`` and a lease (``lease_until``). :meth:`claim` takes one pending (or abandoned:
lease expired) document in one statement — ``UPDATE … WHERE id = (SELECT … LIMIT 1) AND
state = … RETURNING`` on SQLite (one writer), ``… FOR UPDATE SKIP LOCKED`` on PostgreSQL — so
with several processes each job is taken exactly once; a worker that dies leaves a lease that
expires, and the job is retried (or failed after ``MAX_ATTEMPTS``).

Keyword index: SQLite FTS5 (``unicode61`` over the encoded terms of
:mod:`nodebase.knowledge.keywords`, BM25 ranking); PostgreSQL a ``tsvector`` column with a
GIN index (``simple`` configuration, ``ts_rank``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nodebase.kernel import jsonutil
from nodebase.kernel.database import Database
from nodebase.knowledge.models import Collection, Document, DocumentState

COLLECTIONS = "__nodebase_knowledge_collections"
DOCUMENTS = "__nodebase_knowledge_documents"
CHUNKS = "__nodebase_knowledge_chunks"
FTS = "__nodebase_knowledge_fts"
FTS_VOCAB = "__nodebase_knowledge_fts_vocab"
#: a query term found in more than this share of the chunks is left out of the keyword query
#: (BM25's IDF is ≤ 0 there: it adds no ranking information, only rows to score)
COMMON_TERM_SHARE = 0.5
#: below this many chunks every term is kept (scoring is cheap; small corpora keep exact BM25)
PRUNE_FROM_CHUNKS = 1000

MAX_ATTEMPTS = 3
#: chunk rows per INSERT (10 parameters each: far below both databases' limits)
INSERT_ROWS = 200
LEASE_SECONDS = 60.0

_DOC_COLS = ("id", "collection_id", "owner_id", "kind", "title", "source", "state", "error",
             "progress", "attempts", "chunk_count", "char_count", "page_count", "metadata",
             "created_at", "updated_at")


@dataclass(frozen=True)
class ChunkRow:
    id: str
    document_id: str
    collection_id: str
    ordinal: int
    text: str
    start: int
    end: int
    page: int | None
    hash: str
    terms: str


@dataclass(frozen=True)
class StoredChunk:
    id: str
    document_id: str
    collection_id: str
    text: str
    start: int
    end: int
    page: int | None
    document_title: str


class _P:
    """Placeholders in order for the current dialect."""

    def __init__(self, db: Database) -> None:
        self.d = db.dialect
        self.params: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.params.append(value)
        return self.d.placeholder(len(self.params))

    def many(self, values: Sequence[Any]) -> str:
        return ", ".join(self(v) for v in values)


class KnowledgeRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.pg = db.dialect.name == "postgresql"

    # -- schema ------------------------------------------------------------------------------
    async def ensure(self) -> None:
        real = "DOUBLE PRECISION" if self.pg else "REAL"
        seq = "BIGSERIAL PRIMARY KEY" if self.pg else "INTEGER PRIMARY KEY AUTOINCREMENT"
        stmts = [
            f"CREATE TABLE IF NOT EXISTS {COLLECTIONS} (id TEXT PRIMARY KEY, name TEXT NOT NULL, "
            f"description TEXT NOT NULL DEFAULT '', owner_id TEXT, created_at {real} NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {COLLECTIONS}_owner ON {COLLECTIONS} (owner_id)",
            f"CREATE TABLE IF NOT EXISTS {DOCUMENTS} (id TEXT PRIMARY KEY, collection_id TEXT NOT NULL, "
            "owner_id TEXT, kind TEXT NOT NULL, title TEXT NOT NULL DEFAULT '', "
            "source TEXT NOT NULL DEFAULT '', content_type TEXT NOT NULL DEFAULT '', "
            "blob_key TEXT, body TEXT, state TEXT NOT NULL, error TEXT, "
            f"progress {real} NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, "
            "chunk_count INTEGER NOT NULL DEFAULT 0, char_count INTEGER NOT NULL DEFAULT 0, "
            "page_count INTEGER, metadata TEXT NOT NULL DEFAULT '{}', "
            f"worker TEXT, lease_until {real}, created_at {real} NOT NULL, updated_at {real} NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {DOCUMENTS}_collection ON {DOCUMENTS} (collection_id)",
            f"CREATE INDEX IF NOT EXISTS {DOCUMENTS}_state ON {DOCUMENTS} (state, created_at)",
            f"CREATE TABLE IF NOT EXISTS {CHUNKS} (seq {seq}, id TEXT NOT NULL UNIQUE, "
            "document_id TEXT NOT NULL, collection_id TEXT NOT NULL, ordinal INTEGER NOT NULL, "
            "text TEXT NOT NULL, start_offset INTEGER NOT NULL, end_offset INTEGER NOT NULL, "
            "page INTEGER, hash TEXT NOT NULL"
            + (", terms TSVECTOR NOT NULL" if self.pg else "") + ")",
            f"CREATE INDEX IF NOT EXISTS {CHUNKS}_document ON {CHUNKS} (document_id, ordinal)",
            f"CREATE INDEX IF NOT EXISTS {CHUNKS}_collection ON {CHUNKS} (collection_id)",
        ]
        if self.pg:
            stmts.append(f"CREATE INDEX IF NOT EXISTS {CHUNKS}_terms ON {CHUNKS} USING GIN (terms)")
        else:
            stmts.append(f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS} USING fts5(terms, "
                         "tokenize = 'unicode61 remove_diacritics 0')")
            stmts.append(f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_VOCAB} USING fts5vocab({FTS}, 'row')")
        if self.pg:
            # several workers may start at once: serialise the DDL
            async with self.db.transaction() as tx:
                await tx.execute("SELECT pg_advisory_xact_lock(727274)")
                for s in stmts:
                    await tx.execute(s)
        else:
            await self.db.execute_script(stmts)

    # -- collections -------------------------------------------------------------------------
    def _collection(self, r: Sequence[Any]) -> Collection:
        return Collection(id=r[0], name=r[1], description=r[2], owner_id=r[3],
                          created_at=float(r[4]), document_count=int(r[5] or 0),
                          chunk_count=int(r[6] or 0))

    def _collection_select(self) -> str:
        return (f"SELECT c.id, c.name, c.description, c.owner_id, c.created_at, "
                f"(SELECT count(*) FROM {DOCUMENTS} d WHERE d.collection_id = c.id), "
                f"(SELECT count(*) FROM {CHUNKS} k WHERE k.collection_id = c.id) "
                f"FROM {COLLECTIONS} c")

    async def add_collection(self, id: str, name: str, description: str, owner_id: str | None) -> None:
        p = _P(self.db)
        await self.db.execute(
            f"INSERT INTO {COLLECTIONS} (id, name, description, owner_id, created_at) "
            f"VALUES ({p.many([id, name, description, owner_id, time.time()])})", p.params)

    async def get_collection(self, id: str) -> Collection | None:
        p = _P(self.db)
        row = await self.db.fetch_one(f"{self._collection_select()} WHERE c.id = {p(id)}", p.params)
        return self._collection(row) if row else None

    async def list_collections(self, owner_id: str | None, *, everyone: bool) -> list[Collection]:
        p = _P(self.db)
        where = "" if everyone else (f" WHERE c.owner_id = {p(owner_id)}" if owner_id is not None
                                      else " WHERE c.owner_id IS NULL")
        rows = await self.db.fetch_all(f"{self._collection_select()}{where} ORDER BY c.created_at",
                                       p.params)
        return [self._collection(r) for r in rows]

    async def update_collection(self, id: str, name: str, description: str) -> None:
        p = _P(self.db)
        await self.db.execute(f"UPDATE {COLLECTIONS} SET name = {p(name)}, description = {p(description)} "
                              f"WHERE id = {p(id)}", p.params)

    async def delete_collection(self, id: str) -> list[str | None]:
        """Remove the collection, its documents and chunks; returns the documents' blob keys."""
        async with self.db.transaction() as tx:
            p = _P(self.db)
            keys = [r[0] for r in await tx.fetch_all(
                f"SELECT blob_key FROM {DOCUMENTS} WHERE collection_id = {p(id)}", p.params)]
            await self._delete_chunks(tx, "collection_id", id)
            p = _P(self.db)
            await tx.execute(f"DELETE FROM {DOCUMENTS} WHERE collection_id = {p(id)}", p.params)
            p = _P(self.db)
            await tx.execute(f"DELETE FROM {COLLECTIONS} WHERE id = {p(id)}", p.params)
        return keys

    # -- documents ---------------------------------------------------------------------------
    def _document(self, r: Sequence[Any]) -> Document:
        return Document(
            id=r[0], collection_id=r[1], owner_id=r[2], kind=r[3], title=r[4], source=r[5],
            state=DocumentState(r[6]), error=r[7], progress=float(r[8]), attempts=int(r[9]),
            chunk_count=int(r[10]), char_count=int(r[11]),
            page_count=int(r[12]) if r[12] is not None else None,
            metadata=jsonutil.loads(r[13], what="metadata") if r[13] else {},
            created_at=float(r[14]), updated_at=float(r[15]))

    def _doc_select(self) -> str:
        return f"SELECT {', '.join(_DOC_COLS)} FROM {DOCUMENTS}"

    async def add_document(self, *, id: str, collection_id: str, owner_id: str | None, kind: str,
                           title: str, source: str, content_type: str, blob_key: str | None,
                           body: str | None, metadata: dict[str, Any]) -> None:
        now = time.time()
        p = _P(self.db)
        values = [id, collection_id, owner_id, kind, title, source, content_type, blob_key, body,
                  DocumentState.PENDING.value, jsonutil.dumps_str(metadata), now, now]
        await self.db.execute(
            f"INSERT INTO {DOCUMENTS} (id, collection_id, owner_id, kind, title, source, content_type, "
            f"blob_key, body, state, metadata, created_at, updated_at) VALUES ({p.many(values)})",
            p.params)

    async def get_document(self, id: str) -> Document | None:
        p = _P(self.db)
        row = await self.db.fetch_one(f"{self._doc_select()} WHERE id = {p(id)}", p.params)
        return self._document(row) if row else None

    async def list_documents(self, collection_id: str) -> list[Document]:
        p = _P(self.db)
        rows = await self.db.fetch_all(
            f"{self._doc_select()} WHERE collection_id = {p(collection_id)} ORDER BY created_at, id",
            p.params)
        return [self._document(r) for r in rows]

    async def document_source(self, id: str) -> tuple[str, str, str | None, str | None] | None:
        """(kind, content_type, blob_key, body) of a document, for the worker."""
        p = _P(self.db)
        row = await self.db.fetch_one(
            f"SELECT kind, content_type, blob_key, body FROM {DOCUMENTS} WHERE id = {p(id)}", p.params)
        return (row[0], row[1], row[2], row[3]) if row else None

    async def delete_document(self, id: str) -> str | None:
        """Remove the document and its chunks; returns its blob key."""
        async with self.db.transaction() as tx:
            p = _P(self.db)
            key = await tx.fetch_val(f"SELECT blob_key FROM {DOCUMENTS} WHERE id = {p(id)}", p.params)
            await self._delete_chunks(tx, "document_id", id)
            p = _P(self.db)
            await tx.execute(f"DELETE FROM {DOCUMENTS} WHERE id = {p(id)}", p.params)
        return str(key) if key else None

    async def retry(self, id: str) -> bool:
        """A failed document goes back to pending (attempts start again)."""
        p = _P(self.db)
        n = await self.db.execute(
            f"UPDATE {DOCUMENTS} SET state = {p('pending')}, error = NULL, progress = 0, attempts = 0, "
            f"worker = NULL, lease_until = NULL, updated_at = {p(time.time())} "
            f"WHERE id = {p(id)} AND state = {p('failed')}", p.params)
        return n > 0

    # -- jobs --------------------------------------------------------------------------------
    async def fail_abandoned(self) -> int:
        """Documents whose worker vanished ``MAX_ATTEMPTS`` times become failed."""
        now = time.time()
        p = _P(self.db)
        return await self.db.execute(
            f"UPDATE {DOCUMENTS} SET state = {p('failed')}, "
            f"error = {p(f'processing was interrupted {MAX_ATTEMPTS} times')}, worker = NULL, "
            f"lease_until = NULL, updated_at = {p(now)} WHERE state = {p('processing')} "
            f"AND lease_until < {p(now)} AND attempts >= {p(MAX_ATTEMPTS)}", p.params)

    async def claim(self, worker: str, lease: float = LEASE_SECONDS) -> str | None:
        """Take one pending or abandoned document for ``worker``; its id, or None."""
        now = time.time()
        p = _P(self.db)  # placeholders in textual order (SQLite's are positional)
        sets = (f"UPDATE {DOCUMENTS} SET state = {p('processing')}, worker = {p(worker)}, "
                f"lease_until = {p(now + lease)}, attempts = attempts + 1, progress = 0, "
                f"updated_at = {p(now)} ")
        pick = (f"SELECT id FROM {DOCUMENTS} WHERE state = {p('pending')} OR "
                f"(state = {p('processing')} AND lease_until < {p(now)} AND attempts < {p(MAX_ATTEMPTS)}) "
                f"ORDER BY created_at, id LIMIT 1" + (" FOR UPDATE SKIP LOCKED" if self.pg else ""))
        sql = (f"{sets}WHERE id = ({pick}) AND (state = {p('pending')} OR "
               f"lease_until < {p(now)}) RETURNING id")
        rows = await self.db.fetch_all(sql, p.params)
        return str(rows[0][0]) if rows else None

    async def heartbeat(self, id: str, worker: str, progress: float,
                        lease: float = LEASE_SECONDS) -> bool:
        """Record progress and extend the lease; False when the job is no longer ours."""
        now = time.time()
        p = _P(self.db)
        n = await self.db.execute(
            f"UPDATE {DOCUMENTS} SET progress = {p(progress)}, lease_until = {p(now + lease)}, "
            f"updated_at = {p(now)} WHERE id = {p(id)} AND worker = {p(worker)} "
            f"AND state = {p('processing')}", p.params)
        return n > 0

    async def release(self, id: str, worker: str) -> None:
        """A stopping worker hands its job back (it does not count as an attempt)."""
        p = _P(self.db)
        await self.db.execute(
            f"UPDATE {DOCUMENTS} SET state = {p('pending')}, worker = NULL, lease_until = NULL, "
            f"attempts = attempts - 1, progress = 0, updated_at = {p(time.time())} "
            f"WHERE id = {p(id)} AND worker = {p(worker)} AND state = {p('processing')}", p.params)

    async def fail(self, id: str, worker: str, error: str) -> None:
        p = _P(self.db)
        await self.db.execute(
            f"UPDATE {DOCUMENTS} SET state = {p('failed')}, error = {p(error)}, worker = NULL, "
            f"lease_until = NULL, updated_at = {p(time.time())} WHERE id = {p(id)} "
            f"AND worker = {p(worker)}", p.params)

    async def finish(self, id: str, worker: str, *, title: str, chunks: Sequence[ChunkRow],
                     char_count: int, page_count: int | None, metadata: dict[str, Any]) -> bool:
        """Replace the document's chunks and mark it ready, in one transaction."""
        async with self.db.transaction() as tx:
            p = _P(self.db)
            still = await tx.fetch_val(
                f"SELECT count(*) FROM {DOCUMENTS} WHERE id = {p(id)} AND worker = {p(worker)} "
                f"AND state = {p('processing')}", p.params)
            if not still:
                return False
            await self._delete_chunks(tx, "document_id", id)
            for i in range(0, len(chunks), INSERT_ROWS):
                await self._insert_chunks(tx, chunks[i:i + INSERT_ROWS])
            p = _P(self.db)
            await tx.execute(
                f"UPDATE {DOCUMENTS} SET state = {p('ready')}, error = NULL, progress = 1, "
                f"title = {p(title)}, chunk_count = {p(len(chunks))}, char_count = {p(char_count)}, "
                f"page_count = {p(page_count)}, metadata = {p(jsonutil.dumps_str(metadata))}, "
                f"worker = NULL, lease_until = NULL, body = NULL, updated_at = {p(time.time())} "
                f"WHERE id = {p(id)}", p.params)
        return True

    async def _insert_chunks(self, tx: Any, chunks: Sequence[ChunkRow]) -> None:
        """The chunks and their keyword terms in one multi-row INSERT each (not a statement
        per row: a 300-page PDF has ~700 chunks)."""
        p = _P(self.db)
        cols = (f"INSERT INTO {CHUNKS} (id, document_id, collection_id, ordinal, text, start_offset, "
                "end_offset, page, hash")
        if self.pg:
            rows = ", ".join(
                f"({p.many([c.id, c.document_id, c.collection_id, c.ordinal, c.text, c.start, c.end, c.page, c.hash])}, "
                f"to_tsvector('simple', {p(c.terms)}))" for c in chunks)
            await tx.execute(f"{cols}, terms) VALUES {rows}", p.params)
            return
        rows = ", ".join(
            f"({p.many([c.id, c.document_id, c.collection_id, c.ordinal, c.text, c.start, c.end, c.page, c.hash])})"
            for c in chunks)
        seqs = {r[0]: r[1] for r in await tx.fetch_all(f"{cols}) VALUES {rows} RETURNING id, seq", p.params)}
        params: list[Any] = []
        for c in chunks:
            params += [seqs[c.id], c.terms]
        await tx.execute(f"INSERT INTO {FTS} (rowid, terms) VALUES "
                         + ", ".join("(?, ?)" for _ in chunks), params)

    async def _delete_chunks(self, tx: Any, column: str, value: str) -> None:
        if not self.pg:
            await tx.execute(f"DELETE FROM {FTS} WHERE rowid IN "
                             f"(SELECT seq FROM {CHUNKS} WHERE {column} = ?)", [value])
        p = _P(self.db)
        await tx.execute(f"DELETE FROM {CHUNKS} WHERE {column} = {p(value)}", p.params)

    # -- chunks ------------------------------------------------------------------------------
    async def chunks(self, ids: Sequence[str]) -> dict[str, StoredChunk]:
        if not ids:
            return {}
        p = _P(self.db)
        rows = await self.db.fetch_all(
            f"SELECT c.id, c.document_id, c.collection_id, c.text, c.start_offset, c.end_offset, "
            f"c.page, d.title FROM {CHUNKS} c JOIN {DOCUMENTS} d ON d.id = c.document_id "
            f"WHERE c.id IN ({p.many(list(ids))})", p.params)
        return {r[0]: StoredChunk(r[0], r[1], r[2], r[3], int(r[4]), int(r[5]),
                                  int(r[6]) if r[6] is not None else None, r[7]) for r in rows}

    async def chunks_of_collections(self, collection_ids: Sequence[str], limit: int) -> list[StoredChunk]:
        """The first chunks of each document, in order (for summaries and outlines)."""
        if not collection_ids:
            return []
        p = _P(self.db)
        rows = await self.db.fetch_all(
            f"SELECT c.id, c.document_id, c.collection_id, c.text, c.start_offset, c.end_offset, "
            f"c.page, d.title FROM {CHUNKS} c JOIN {DOCUMENTS} d ON d.id = c.document_id "
            f"WHERE c.collection_id IN ({p.many(list(collection_ids))}) "
            f"ORDER BY d.created_at, d.id, c.ordinal LIMIT {int(limit)}", p.params)
        return [StoredChunk(r[0], r[1], r[2], r[3], int(r[4]), int(r[5]),
                            int(r[6]) if r[6] is not None else None, r[7]) for r in rows]

    async def keyword_search(self, terms: Sequence[str], collection_ids: Sequence[str],
                             document_ids: Sequence[str] | None, k: int) -> list[tuple[str, float]]:
        """(chunk id, score — higher is better) of chunks matching any term, best first."""
        if not terms or not collection_ids:
            return []
        p = _P(self.db)
        if self.pg:
            query = " | ".join(terms)
            scope = f"c.collection_id IN ({p.many(list(collection_ids))})"
            if document_ids is not None:
                scope += f" AND c.document_id IN ({p.many(list(document_ids))})" if document_ids else " AND FALSE"
            q = p(query)
            sql = (f"SELECT c.id, ts_rank(c.terms, to_tsquery('simple', {q})) AS score FROM {CHUNKS} c "
                   f"WHERE c.terms @@ to_tsquery('simple', {q}) AND {scope} "
                   f"ORDER BY score DESC, c.seq LIMIT {int(k)}")
            rows = await self.db.fetch_all(sql, p.params)
            return [(r[0], float(r[1])) for r in rows]
        terms = await self._informative_terms(terms)
        match = " OR ".join(f'"{t}"' for t in terms)
        m = p(match)
        scope = f"c.collection_id IN ({p.many(list(collection_ids))})"
        if document_ids is not None:
            scope += f" AND c.document_id IN ({p.many(list(document_ids))})" if document_ids else " AND 0"
        sql = (f"SELECT c.id, bm25({FTS}) AS score FROM {FTS} JOIN {CHUNKS} c ON c.seq = {FTS}.rowid "
               f"WHERE {FTS} MATCH {m} AND {scope} ORDER BY score, c.seq LIMIT {int(k)}")
        rows = await self.db.fetch_all(sql, p.params)
        return [(r[0], -float(r[1])) for r in rows]

    async def _informative_terms(self, terms: Sequence[str]) -> list[str]:
        """The query terms without those in more than half of all chunks (FTS5 would score every
        row they match for no ranking gain); if all are that common, the rarest one."""
        total = int(await self.db.fetch_val(f"SELECT count(*) FROM {CHUNKS}", []) or 0)
        if total < PRUNE_FROM_CHUNKS:
            return list(terms)
        p = _P(self.db)
        rows = await self.db.fetch_all(
            f"SELECT term, doc FROM {FTS_VOCAB} WHERE term IN ({p.many(list(terms))})", p.params)
        df = {r[0]: int(r[1]) for r in rows}
        kept = [t for t in terms if df.get(t, 0) <= COMMON_TERM_SHARE * total]
        if kept or not terms:
            return kept
        return [min(terms, key=lambda t: (df.get(t, 0), t))]
