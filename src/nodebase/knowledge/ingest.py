"""The background ingestion worker: claims documents (the durable job rows), reads their
source, extracts, chunks, indexes keywords, embeds, stores vectors, and marks them ready —
or failed with the reason. Any number of workers in any number of processes share the work
through :meth:`KnowledgeRepository.claim` (each job is taken once).

A worker that stops puts its unfinished job back to ``pending`` (a restart resumes it); one
that dies leaves a lease that expires after ``LEASE_SECONDS`` and another worker retries it,
at most ``MAX_ATTEMPTS`` times before it is failed. Extraction runs on a worker thread so a
big PDF never blocks the event loop; no exception from a source ever stops the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from nodebase.kernel import metrics
from nodebase.knowledge import chunking
from nodebase.knowledge.embedding import Embedder, EmbeddingUnavailable
from nodebase.knowledge.extract import Extracted, ExtractionFailed, extract
from nodebase.knowledge.extract.text import extract_text
from nodebase.knowledge.keywords import document_terms
from nodebase.knowledge.repository import ChunkRow, KnowledgeRepository
from nodebase.knowledge.vectors import VectorRecord, VectorStore

log = logging.getLogger("nodebase.knowledge")

POLL_SECONDS = 2.0
EMBED_BATCH = 64
MAX_URL_BYTES = 20_000_000
URL_TIMEOUT = 20.0

#: reads a stored file: key → its bytes
BlobReader = Callable[[str], Awaitable[bytes]]


async def _read_all(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in chunks])


class Ingestor:
    def __init__(self, repo: KnowledgeRepository, vectors: VectorStore, embedder: Embedder | None,
                 read_blob: BlobReader, *, allow_private: bool | None = None) -> None:
        self.repo = repo
        self.vectors = vectors
        self.embedder = embedder
        self.read_blob = read_blob
        self.allow_private = allow_private
        self.worker_id = f"{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._current: str | None = None
        #: set after each finished job (tests and ``wait_for`` listen to it)
        self.finished = asyncio.Condition()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="nodebase-knowledge-ingest")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._current is not None:
            with contextlib.suppress(Exception):
                await self.repo.release(self._current, self.worker_id)
            self._current = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.repo.fail_abandoned()
                doc_id = await self.repo.claim(self.worker_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("claiming an ingestion job failed")
                doc_id = None
            if doc_id is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
                continue
            self._current = doc_id
            try:
                await self.process(doc_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug, not a bad source: the job fails, the loop goes on
                log.exception("ingesting document %s failed", doc_id)
                with contextlib.suppress(Exception):
                    await self.repo.fail(doc_id, self.worker_id, "internal error while ingesting")
            self._current = None
            async with self.finished:
                self.finished.notify_all()

    async def run_once(self) -> bool:
        """Claim and process one job in the caller's task (for tests); False if none."""
        doc_id = await self.repo.claim(self.worker_id)
        if doc_id is None:
            return False
        await self.process(doc_id)
        return True

    # -- one job -----------------------------------------------------------------------------
    async def _source(self, kind: str, content_type: str, blob_key: str | None,
                      body: str | None) -> Extracted:
        loop = asyncio.get_running_loop()
        if kind == "text" and blob_key is None:
            return extract_text(body or "")
        if kind == "url":
            # httpx is slow to import: on first use
            from nodebase.kernel.outbound import OutboundRefused, fetch

            url = body or ""
            try:
                r = await fetch("GET", url, headers={"Accept": "text/html,application/pdf,text/plain;q=0.9,*/*;q=0.5"},
                                timeout=URL_TIMEOUT, max_bytes=MAX_URL_BYTES,
                                allow_private=self.allow_private)
            except OutboundRefused as exc:
                raise ExtractionFailed(f"fetching the URL was refused: {exc.message}") from None
            if r.status >= 400:
                raise ExtractionFailed(f"the URL answered HTTP {r.status}")
            ctype = r.headers.get("content-type", "")
            result = await loop.run_in_executor(None, lambda: extract(r.body, ctype, url=r.url))
            meta = {**result.metadata, "url": r.url}
            return Extracted(result.text, result.title or r.url, result.page_starts, meta)
        if blob_key is None:
            raise ExtractionFailed("the document's file is missing")
        try:
            data = await self.read_blob(blob_key)
        except Exception as exc:
            raise ExtractionFailed(f"the document's file cannot be read ({type(exc).__name__})") from None
        return await loop.run_in_executor(None, lambda: extract(data, content_type, name=blob_key))

    async def process(self, doc_id: str) -> None:
        doc = await self.repo.get_document(doc_id)
        src = await self.repo.document_source(doc_id)
        if doc is None or src is None:
            return
        kind, content_type, blob_key, body = src
        try:
            extracted = await self._source(kind, content_type, blob_key, body)
            await self.repo.heartbeat(doc_id, self.worker_id, 0.2)
            # CPU work (chunking, keyword terms) off the event loop
            rows = await asyncio.get_running_loop().run_in_executor(
                None, _chunk_rows, doc_id, doc.collection_id, extracted)
            if not rows:
                raise ExtractionFailed("the source has no text to index")
            if self.embedder is not None:
                for i in range(0, len(rows), EMBED_BATCH):
                    batch = rows[i:i + EMBED_BATCH]
                    vecs = await self.embedder.embed_documents([r.text for r in batch])
                    await self.vectors.add(self.embedder.name, [
                        VectorRecord(r.id, doc_id, doc.collection_id, doc.owner_id, v)
                        for r, v in zip(batch, vecs, strict=True)])
                    progress = 0.2 + 0.75 * min(1.0, (i + len(batch)) / len(rows))
                    if not await self.repo.heartbeat(doc_id, self.worker_id, progress):
                        await self.vectors.delete_document(doc_id)
                        return  # deleted (or taken over) meanwhile
            title = doc.title or extracted.title or doc.source or "Untitled"
            meta: dict[str, Any] = {**doc.metadata, **extracted.metadata}
            ok = await self.repo.finish(
                doc_id, self.worker_id, title=title[:300], chunks=rows,
                char_count=len(extracted.text),
                page_count=len(extracted.page_starts) if extracted.page_starts else None,
                metadata=meta)
            if not ok:
                await self.vectors.delete_document(doc_id)
            else:
                metrics.INGESTION_JOBS.labels("ready").inc()
        except ExtractionFailed as exc:
            metrics.INGESTION_JOBS.labels("failed").inc()
            await self.repo.fail(doc_id, self.worker_id, exc.reason)
        except EmbeddingUnavailable as exc:
            metrics.INGESTION_JOBS.labels("failed").inc()
            await self.vectors.delete_document(doc_id)
            await self.repo.fail(doc_id, self.worker_id, f"embedding failed: {exc.message}")


def _chunk_rows(doc_id: str, collection_id: str, extracted: Extracted) -> list[ChunkRow]:
    return [ChunkRow(id=f"{doc_id}:{c.ordinal}", document_id=doc_id, collection_id=collection_id,
                     ordinal=c.ordinal, text=c.text, start=c.start, end=c.end,
                     page=chunking.page_at(extracted.page_starts, c.start),
                     hash=hashlib.sha256(c.text.encode()).hexdigest()[:32],
                     terms=document_terms(c.text)) for c in chunking.split(extracted.text)]
