"""KnowledgeService: the Knowledge module's public Python interface (used by the HTTP
transport and by apps such as Nano Studio). Transport-free.

Consistency and access rules:

* Every call takes the :class:`Caller` and asks the guard: ``knowledge.read`` to list,
  search, ask, summarise; ``knowledge.write`` to create, add, retry and delete. A caller sees
  only the collections they own, unless the guard grants ``knowledge.manage`` (admins).
  A collection (or document) the caller may not see is reported as not found, so ids never
  leak. Anonymous callers own nothing: creating needs a signed-in user (or ``manage``).
* Searches are scoped inside the queries: the caller's visible collections (narrowed by the
  requested collections and documents) go into both the keyword SQL and the vector query.
* Adding a document returns at once with state ``pending``; the background :class:`Ingestor`
  takes it to ``ready`` or ``failed`` (reason in ``error``; :meth:`retry_document`).
* Deleting a document or collection removes its rows, chunks, keyword index entries, vectors
  and stored file.
* An answer's citations are parsed from its ``[n]`` markers and always name passages that
  retrieval returned in that call.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from nodebase.kernel.caller import Caller, Guard, require
from nodebase.kernel.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge
from nodebase.knowledge.answering.base import Answerer, AnswerFailed, citations
from nodebase.knowledge.answering.extractive import ExtractiveAnswerer
from nodebase.knowledge.embedding import Embedder, EmbeddingUnavailable
from nodebase.knowledge.extract import kind_of
from nodebase.knowledge.ingest import Ingestor
from nodebase.knowledge.keywords import query_terms
from nodebase.knowledge.models import (
    TERMINAL,
    AnswerEvent,
    Collection,
    Document,
    Passage,
    SourceKind,
)
from nodebase.knowledge.repository import KnowledgeRepository
from nodebase.knowledge.retrieval import rrf
from nodebase.knowledge.vectors import VectorStore

READ = "knowledge.read"
WRITE = "knowledge.write"
MANAGE = "knowledge.manage"

MAX_NAME = 200
MAX_TEXT_CHARS = 5_000_000
MAX_FILE_BYTES = 50_000_000
MAX_QUESTION = 4000
MAX_K = 50
CANDIDATES = 50  # per list, before fusion
MODES = ("hybrid", "keyword", "vector")


class KnowledgeService:
    def __init__(self, repo: KnowledgeRepository, vectors: VectorStore, embedder: Embedder | None,
                 answerer: Answerer | None, guard: Guard, ingestor: Ingestor,
                 *, put_blob: Any, delete_blob: Any, media: Any = None) -> None:
        self.repo = repo
        self.vectors = vectors
        self.embedder = embedder
        self.answerer: Answerer = answerer or ExtractiveAnswerer()
        self.extractive = ExtractiveAnswerer()
        self.guard = guard
        self.ingestor = ingestor
        self._put_blob = put_blob
        self._delete_blob = delete_blob
        self.media = media

    # -- access ------------------------------------------------------------------------------
    def _everyone(self, caller: Caller) -> bool:
        return self.guard.check(caller, MANAGE).allowed

    @staticmethod
    def _owner(caller: Caller) -> str | None:
        return str(caller.id) if caller.id is not None else None

    def _may_see(self, caller: Caller, owner_id: str | None) -> bool:
        return self._everyone(caller) or (caller.id is not None and owner_id == self._owner(caller))

    async def _collection(self, caller: Caller, collection_id: Any) -> Collection:
        if not isinstance(collection_id, str) or not collection_id:
            raise BadRequest("collection_id is required", context={"collection_id": collection_id})
        c = await self.repo.get_collection(collection_id)
        if c is None or not self._may_see(caller, c.owner_id):
            raise NotFound("Collection not found", context={"collection_id": collection_id})
        return c

    async def _document(self, caller: Caller, document_id: Any) -> Document:
        if not isinstance(document_id, str) or not document_id:
            raise BadRequest("document_id is required", context={"document_id": document_id})
        d = await self.repo.get_document(document_id)
        if d is None or not self._may_see(caller, d.owner_id):
            raise NotFound("Document not found", context={"document_id": document_id})
        return d

    # -- collections -------------------------------------------------------------------------
    async def create_collection(self, caller: Caller, name: Any, description: Any = "") -> Collection:
        require(self.guard, caller, WRITE)
        if caller.id is None and not self._everyone(caller):
            raise Forbidden("sign in to create a collection", context={})
        name = _text(name, "name", MAX_NAME, required=True)
        description = _text(description, "description", 2000)
        cid = uuid.uuid4().hex
        await self.repo.add_collection(cid, name, description, self._owner(caller))
        c = await self.repo.get_collection(cid)
        assert c is not None
        return c

    async def list_collections(self, caller: Caller) -> list[Collection]:
        require(self.guard, caller, READ)
        everyone = self._everyone(caller)
        if not everyone and caller.id is None:
            return []
        return await self.repo.list_collections(self._owner(caller), everyone=everyone)

    async def get_collection(self, caller: Caller, collection_id: str) -> Collection:
        require(self.guard, caller, READ)
        return await self._collection(caller, collection_id)

    async def update_collection(self, caller: Caller, collection_id: str, *, name: Any = None,
                                description: Any = None) -> Collection:
        require(self.guard, caller, WRITE)
        c = await self._collection(caller, collection_id)
        new_name = _text(name, "name", MAX_NAME, required=True) if name is not None else c.name
        new_desc = _text(description, "description", 2000) if description is not None else c.description
        await self.repo.update_collection(c.id, new_name, new_desc)
        return await self._collection(caller, collection_id)

    async def delete_collection(self, caller: Caller, collection_id: str) -> None:
        require(self.guard, caller, WRITE)
        c = await self._collection(caller, collection_id)
        keys = await self.repo.delete_collection(c.id)
        await self.vectors.delete_collection(c.id)
        for key in keys:
            if key:
                await self._delete_blob(key)

    # -- documents ---------------------------------------------------------------------------
    async def _add(self, caller: Caller, collection_id: str, *, kind: str, title: Any, source: str,
                   content_type: str = "", blob_key: str | None = None, body: str | None = None,
                   metadata: dict[str, Any] | None = None, doc_id: str | None = None) -> Document:
        c = await self._collection(caller, collection_id)
        doc_id = doc_id or uuid.uuid4().hex
        await self.repo.add_document(
            id=doc_id, collection_id=c.id, owner_id=c.owner_id, kind=kind,
            title=_text(title, "title", 300), source=source[:2000], content_type=content_type,
            blob_key=blob_key, body=body, metadata=metadata or {})
        # read before waking the worker: the answer shows the document as accepted (pending),
        # not whatever state a worker that claimed it a moment later has put it in
        d = await self.repo.get_document(doc_id)
        assert d is not None
        self.ingestor.wake()
        return d

    async def add_text(self, caller: Caller, collection_id: str, text: Any, *, title: Any = "",
                       metadata: dict[str, Any] | None = None) -> Document:
        require(self.guard, caller, WRITE)
        if not isinstance(text, str) or not text.strip():
            raise BadRequest("text must be a non-empty string", context={"field": "text"})
        if len(text) > MAX_TEXT_CHARS:
            raise PayloadTooLarge(f"text is longer than {MAX_TEXT_CHARS} characters",
                                  context={"field": "text", "max": MAX_TEXT_CHARS})
        return await self._add(caller, collection_id, kind=SourceKind.TEXT, title=title, source="",
                               body=text, metadata=metadata)

    async def add_url(self, caller: Caller, collection_id: str, url: Any, *, title: Any = "") -> Document:
        require(self.guard, caller, WRITE)
        if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")) or len(url) > 2000:
            raise BadRequest("url must be an http(s) URL of at most 2000 characters",
                             context={"field": "url", "url": str(url)[:200]})
        return await self._add(caller, collection_id, kind=SourceKind.URL, title=title, source=url,
                               body=url)

    async def add_file(self, caller: Caller, collection_id: str, data: bytes, *, filename: Any,
                       content_type: str = "", title: Any = "") -> Document:
        """A PDF, HTML, text or Markdown file; kept in storage until the document is deleted."""
        require(self.guard, caller, WRITE)
        name = _text(filename, "filename", MAX_NAME, required=True)
        if len(data) > MAX_FILE_BYTES:
            raise PayloadTooLarge(f"the file is larger than {MAX_FILE_BYTES} bytes",
                                  context={"max": MAX_FILE_BYTES})
        kind = kind_of(content_type, name, data[:8])
        if not kind:
            raise BadRequest(f"unsupported file type {content_type or name!r}: PDF, HTML, text "
                             "and Markdown are read", context={"filename": name,
                                                               "content_type": content_type})
        await self._collection(caller, collection_id)
        doc_id = uuid.uuid4().hex
        key = f"{doc_id}-{_safe_name(name)}"
        await self._put_blob(key, data, content_type or "application/octet-stream")
        try:
            return await self._add(caller, collection_id, kind=kind, title=title, source=name,
                                   content_type=content_type, blob_key=key, doc_id=doc_id)
        except BaseException:
            await self._delete_blob(key)
            raise

    async def add_media(self, caller: Caller, collection_id: str, media_key: Any, *,
                        title: Any = "") -> Document:
        """A file already uploaded to Media (the caller needs ``media.file.read``)."""
        require(self.guard, caller, WRITE)
        if self.media is None:
            raise BadRequest("the Media module is not available", context={})
        if not isinstance(media_key, str) or not media_key:
            raise BadRequest("media (the file's name in Media) is required", context={"field": "media"})
        stat = await self.media.stat(caller, media_key)
        data = b"".join([c async for c in await self.media.open(media_key, None)])
        return await self.add_file(caller, collection_id, data, filename=media_key,
                                   content_type=stat.mime or "", title=title or media_key)

    async def list_documents(self, caller: Caller, collection_id: str) -> list[Document]:
        require(self.guard, caller, READ)
        c = await self._collection(caller, collection_id)
        return await self.repo.list_documents(c.id)

    async def get_document(self, caller: Caller, document_id: str) -> Document:
        require(self.guard, caller, READ)
        return await self._document(caller, document_id)

    async def retry_document(self, caller: Caller, document_id: str) -> Document:
        require(self.guard, caller, WRITE)
        d = await self._document(caller, document_id)
        if not await self.repo.retry(d.id):
            raise BadRequest(f"only a failed document can be retried (this one is {d.state})",
                             context={"document_id": d.id, "state": str(d.state)})
        d = await self._document(caller, document_id)
        self.ingestor.wake()
        return d

    async def delete_document(self, caller: Caller, document_id: str) -> None:
        require(self.guard, caller, WRITE)
        d = await self._document(caller, document_id)
        key = await self.repo.delete_document(d.id)
        await self.vectors.delete_document(d.id)
        if key:
            await self._delete_blob(key)

    async def wait_for(self, caller: Caller, document_id: str, timeout: float = 60.0) -> Document:
        """The document once it is ``ready`` or ``failed`` (polls; ``timeout`` is an upper bound)."""
        deadline = time.monotonic() + timeout
        while True:
            d = await self.get_document(caller, document_id)
            if d.state in TERMINAL:
                return d
            if time.monotonic() > deadline:
                raise TimeoutError(f"document {document_id} is still {d.state}")
            async with self.ingestor.finished:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.ingestor.finished.wait(), 0.5)

    # -- retrieval ---------------------------------------------------------------------------
    async def _scope(self, caller: Caller, collection_ids: Sequence[str] | None,
                     document_ids: Sequence[str] | None) -> tuple[list[str], list[str] | None]:
        require(self.guard, caller, READ)
        if collection_ids is not None:
            cols = [(await self._collection(caller, c)).id for c in collection_ids]
        else:
            cols = [c.id for c in await self.list_collections(caller)]
        docs: list[str] | None = None
        if document_ids is not None:
            docs = []
            for d_id in document_ids:
                d = await self._document(caller, d_id)
                if d.collection_id not in cols:
                    if collection_ids is not None:
                        raise BadRequest("the document is not in the requested collections",
                                         context={"document_id": d_id})
                    cols.append(d.collection_id)
                docs.append(d.id)
        return cols, docs

    async def search(self, caller: Caller, query: Any, *, collection_ids: Sequence[str] | None = None,
                     document_ids: Sequence[str] | None = None, k: int = 8,
                     mode: str = "hybrid") -> list[Passage]:
        """Passages best first: keyword and vector lists fused by RRF (``mode`` picks one)."""
        if not isinstance(query, str) or not query.strip():
            raise BadRequest("q (the query) must be a non-empty string", context={"field": "q"})
        if len(query) > MAX_QUESTION:
            raise BadRequest(f"the query is longer than {MAX_QUESTION} characters", context={"field": "q"})
        if mode not in MODES:
            raise BadRequest(f"mode must be one of {', '.join(MODES)}", context={"mode": mode})
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise BadRequest(f"k must be 1 to {MAX_K}", context={"k": k})
        cols, docs = await self._scope(caller, collection_ids, document_ids)
        if not cols or (docs is not None and not docs):
            return []
        lists: dict[str, list[str]] = {}
        if mode in ("hybrid", "keyword"):
            hits = await self.repo.keyword_search(query_terms(query), cols, docs, CANDIDATES)
            lists["keyword"] = [h[0] for h in hits]
        if mode in ("hybrid", "vector") and self.embedder is not None:
            try:
                qv = await self.embedder.embed_query(query)
            except EmbeddingUnavailable:
                if mode == "vector":
                    raise
                qv = None
            if qv is not None:
                vhits = await self.vectors.search(self.embedder.name, qv, collection_ids=cols,
                                                  document_ids=docs, k=CANDIDATES)
                lists["vector"] = [h.chunk_id for h in vhits]
        fused = rrf(lists)[:k]
        stored = await self.repo.chunks([f[0] for f in fused])
        allowed = set(cols)
        out = []
        for chunk_id, score, ranks in fused:
            c = stored.get(chunk_id)
            # a vector of a chunk deleted a moment ago, or outside the scope: never returned
            if c is None or c.collection_id not in allowed or (docs is not None and c.document_id not in docs):
                continue
            out.append(Passage(chunk_id=c.id, document_id=c.document_id, collection_id=c.collection_id,
                               text=c.text, start=c.start, end=c.end, page=c.page, score=score,
                               document_title=c.document_title, ranks=ranks))
        return out

    # -- answers -----------------------------------------------------------------------------
    async def _stream(self, answerer: Answerer, question: str, passages: list[Passage],
                      history: Sequence[dict[str, str]], task: str) -> AsyncIterator[AnswerEvent]:
        yield AnswerEvent("passages", passages=tuple(passages))
        text = ""
        gen = answerer.answer(question, passages, history=history, task=task)
        try:
            async for piece in gen:
                text += piece
                yield AnswerEvent("token", text=piece)
        except AnswerFailed as exc:
            yield AnswerEvent("error", text=exc.message)
            return
        finally:
            await gen.aclose()  # type: ignore[attr-defined]
        yield AnswerEvent("citations", citations=tuple(citations(text, passages)))
        yield AnswerEvent("done", text=text)

    async def ask(self, caller: Caller, question: Any, *, collection_ids: Sequence[str] | None = None,
                  document_ids: Sequence[str] | None = None, k: int = 6,
                  history: Sequence[dict[str, str]] = (), extractive: bool = False,
                  ) -> AsyncIterator[AnswerEvent]:
        """Retrieve, then stream the answer: ``passages``, ``token``…, ``citations``, ``done``
        (or ``error``). Validation and permission errors raise before the first event."""
        passages = await self.search(caller, question, collection_ids=collection_ids,
                                     document_ids=document_ids, k=k)
        answerer = self.extractive if extractive else self.answerer
        return self._stream(answerer, str(question), passages, history, "answer")

    async def _overview(self, caller: Caller, collection_id: str, limit: int) -> tuple[Collection, list[Passage]]:
        require(self.guard, caller, READ)
        c = await self._collection(caller, collection_id)
        chunks = await self.repo.chunks_of_collections([c.id], limit)
        per_doc: dict[str, int] = {}
        picked = []
        for ch in chunks:  # spread over documents: at most 3 chunks each
            if per_doc.get(ch.document_id, 0) < 3:
                per_doc[ch.document_id] = per_doc.get(ch.document_id, 0) + 1
                picked.append(Passage(chunk_id=ch.id, document_id=ch.document_id,
                                      collection_id=ch.collection_id, text=ch.text, start=ch.start,
                                      end=ch.end, page=ch.page, score=0.0,
                                      document_title=ch.document_title))
        return c, picked[:24]

    async def summary(self, caller: Caller, collection_id: str, *,
                      extractive: bool = False) -> AsyncIterator[AnswerEvent]:
        """A cited summary of a collection, streamed like :meth:`ask`."""
        c, passages = await self._overview(caller, collection_id, 500)
        answerer = self.extractive if extractive else self.answerer
        return self._stream(answerer, f"Summarise the sources of “{c.name}”.", passages, (), "summary")

    async def mind_map(self, caller: Caller, collection_id: str, *, extractive: bool = False) -> str:
        """A Markdown heading outline (``#``/``##``/``###``) of a collection, for markmap."""
        c, passages = await self._overview(caller, collection_id, 500)
        answerer = self.extractive if extractive else self.answerer
        text = ""
        try:
            async for piece in answerer.answer(c.name, passages, task="outline"):
                text += piece
        except AnswerFailed:
            text = ""
        outline = _outline_only(text)
        if not outline:  # the model wrote no headings: fall back to the extractive outline
            fallback = ""
            async for piece in self.extractive.answer(c.name, passages, task="outline"):
                fallback += piece
            outline = _outline_only(fallback)
        return outline


def _outline_only(text: str) -> str:
    lines = [ln.rstrip() for ln in text.splitlines()]
    heads = [ln for ln in lines if ln.lstrip().startswith("#")]
    if not heads or not heads[0].startswith("# "):
        return ""
    return "\n".join(h.strip() for h in heads)


def _text(value: Any, field: str, limit: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be a string", context={"field": field})
    value = value.strip()
    if required and not value:
        raise BadRequest(f"{field} is required", context={"field": field})
    if len(value) > limit:
        raise BadRequest(f"{field} is longer than {limit} characters", context={"field": field, "max": limit})
    return value


def _safe_name(name: str) -> str:
    keep = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)
    return keep.strip("._")[:100] or "file"
