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
#: jobs one worker runs at once (their I/O and thread hand-offs overlap; measured with
#: bench/knowledge.py part 3)
CONCURRENCY = 4
MAX_URL_BYTES = 20_000_000
URL_TIMEOUT = 20.0

#: reads a stored file: key → its bytes
BlobReader = Callable[[str], Awaitable[bytes]]


async def _read_all(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in chunks])


class Ingestor:
    def __init__(self, repo: KnowledgeRepository, vectors: VectorStore, embedder: Embedder | None,
                 read_blob: BlobReader, *, allow_private: bool | None = None,
                 concurrency: int = CONCURRENCY) -> None:
        self.repo = repo
        self.vectors = vectors
        self.embedder = embedder
        self.read_blob = read_blob
        self.allow_private = allow_private
        self.concurrency = max(1, concurrency)
        self.worker_id = f"{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: the jobs this worker holds (claimed, not finished): handed back by :meth:`stop`
        self._current: set[str] = set()
        self._jobs: set[asyncio.Task[None]] = set()
        #: set after each finished job (tests and ``wait_for`` listen to it)
        self.finished = asyncio.Condition()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="nodebase-knowledge-ingest")

    async def stop(self) -> None:
        task, self._task = self._task, None
        jobs, self._jobs = list(self._jobs), set()
        for t in ([task] if task is not None else []) + jobs:
            t.cancel()
        for t in ([task] if task is not None else []) + jobs:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for doc_id in list(self._current):
            with contextlib.suppress(Exception):
                await self.repo.release(doc_id, self.worker_id)
        self._current.clear()

    async def _claim(self) -> str | None:
        try:
            await self.repo.fail_abandoned()
            return await self.repo.claim(self.worker_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("claiming an ingestion job failed")
            return None

    async def _loop(self) -> None:
        """Keeps up to ``concurrency`` jobs running: one job's network and thread hand-offs
        (fetch, extraction, embedding, vector writes) overlap another's."""
        while True:
            self._wake.clear()  # before claiming: a wake during the claims is kept
            while len(self._jobs) < self.concurrency:
                doc_id = await self._claim()
                if doc_id is None:
                    break
                self._current.add(doc_id)
                job = asyncio.create_task(self._run(doc_id), name=f"nodebase-knowledge-job-{doc_id}")
                self._jobs.add(job)
                job.add_done_callback(self._jobs.discard)
            woken = asyncio.ensure_future(self._wake.wait())
            try:
                # a finished job frees a slot; a wake means new work; the timeout picks up
                # other processes' work and expired leases
                await asyncio.wait([*self._jobs, woken], timeout=POLL_SECONDS,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                woken.cancel()

    async def _run(self, doc_id: str) -> None:
        try:
            await self.process(doc_id)
        except asyncio.CancelledError:
            raise  # stop() hands the job back
        except Exception:  # a bug, not a bad source: the job fails, the loop goes on
            log.exception("ingesting document %s failed", doc_id)
            with contextlib.suppress(Exception):
                await self.repo.fail(doc_id, self.worker_id, "internal error while ingesting")
        self._current.discard(doc_id)
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
    async def _prepare(self, doc_id: str, collection_id: str, kind: str, content_type: str,
                       blob_key: str | None, body: str | None) -> tuple[Extracted, list[ChunkRow]]:
        """The source's text and its chunk rows; the CPU work (extraction, chunking, keyword
        terms) in one call on a worker thread, off the event loop."""
        loop = asyncio.get_running_loop()

        def parse(read: Callable[[], Extracted]) -> tuple[Extracted, list[ChunkRow]]:
            extracted = read()
            return extracted, _chunk_rows(doc_id, collection_id, extracted)

        if kind == "text" and blob_key is None:
            return await loop.run_in_executor(None, parse, lambda: extract_text(body or ""))
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

            def read_page() -> Extracted:
                result = extract(r.body, ctype, url=r.url)
                meta = {**result.metadata, "url": r.url}
                return Extracted(result.text, result.title or r.url, result.page_starts, meta)

            return await loop.run_in_executor(None, parse, read_page)
        if blob_key is None:
            raise ExtractionFailed("the document's file is missing")
        try:
            data = await self.read_blob(blob_key)
        except Exception as exc:
            raise ExtractionFailed(f"the document's file cannot be read ({type(exc).__name__})") from None
        return await loop.run_in_executor(None, parse, lambda: extract(data, content_type, name=blob_key))

    async def process(self, doc_id: str) -> None:
        doc = await self.repo.get_document(doc_id)
        src = await self.repo.document_source(doc_id)
        if doc is None or src is None:
            return
        try:
            extracted, rows = await self._prepare(doc_id, doc.collection_id, *src)
            if not rows:
                raise ExtractionFailed("the source has no text to index")
            await self.repo.heartbeat(doc_id, self.worker_id, 0.2)
            if self.embedder is not None:
                for i in range(0, len(rows), EMBED_BATCH):
                    batch = rows[i:i + EMBED_BATCH]
                    vecs = await self.embedder.embed_documents([r.text for r in batch])
                    await self.vectors.add(self.embedder.name, [
                        VectorRecord(r.id, doc_id, doc.collection_id, doc.owner_id, v)
                        for r, v in zip(batch, vecs, strict=True)])
                    if i + len(batch) >= len(rows):
                        break  # the last batch: finish() records 1.0 and checks ownership
                    progress = 0.2 + 0.75 * (i + len(batch)) / len(rows)
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
