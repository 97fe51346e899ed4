"""The Knowledge module: its permissions, and the embedder, vector store and answerer picked
from the settings; starts the background ingestion worker with the node.

* ``NODEBASE_EMBEDDING_URL`` (+ ``_MODEL``, ``_API_KEY``): an OpenAI-compatible embeddings
  endpoint; unset → the local WordLlama model if the ``knowledge`` extra is installed, else
  no dense vectors (keyword search only; ``describe()["embedder"]`` is ``None``).
* ``NODEBASE_VECTOR_URL``: empty → embedded store in the data dir; ``postgresql://…`` →
  pgvector; ``qdrant…`` → Qdrant (see :mod:`nodebase.knowledge.vectors`).
* ``NODEBASE_LLM_URL`` (+ ``_MODEL``, ``_API_KEY``): an OpenAI-compatible chat model for
  answers, summaries and mind maps; unset → extractive answers.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from nodebase.kernel.node import Node
from nodebase.kernel.permissions import Permission
from nodebase.knowledge.answering.base import Answerer
from nodebase.knowledge.embedding import make_embedder
from nodebase.knowledge.ingest import Ingestor
from nodebase.knowledge.openapi import knowledge_paths
from nodebase.knowledge.repository import KnowledgeRepository
from nodebase.knowledge.service import MANAGE, READ, WRITE, KnowledgeService
from nodebase.knowledge.transport import routes
from nodebase.knowledge.vectors import make_vector_store
from nodebase.media.storage import make_storage
from nodebase.media.storage.local import LocalStorage

# httpx logs every request URL at INFO: URLs users give (and model endpoints) stay out of logs
logging.getLogger("httpx").setLevel(logging.WARNING)

PERMISSIONS = [
    Permission(READ, description="list, search, ask and summarise the caller's collections"),
    Permission(WRITE, description="create collections, add, retry and delete documents"),
    Permission(MANAGE, description="act on every user's collections"),
]


def _with_prefix(url: str, folder: str) -> str:
    """The S3 URL with ``folder`` appended to its ``prefix`` query parameter."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    base = query.get("prefix", "").strip("/")
    query["prefix"] = f"{base}/{folder}" if base else folder
    return urlunsplit(parts._replace(query=urlencode(query)))


async def _read_all(chunks: Any) -> bytes:
    return b"".join([c async for c in chunks])


class KnowledgeModule:
    name = "knowledge"

    def __init__(self, nb: Node, media: Any) -> None:
        s = nb.settings
        # the module's own files: <data_dir>/knowledge/files, or "knowledge/…" keys in the S3
        # bucket (a "/" key is never served by the Media routes)
        if s.storage_url.startswith("s3:"):
            # the S3 adapter refuses "/" in keys: the folder goes into the adapter's prefix
            self.storage = make_storage(_with_prefix(s.storage_url, "knowledge/"), s.resolved_data_dir)
            self.key_prefix = ""
        else:
            self.storage = LocalStorage(s.resolved_data_dir / "knowledge" / "files")
            self.key_prefix = ""
        self.embedder = make_embedder(s.embedding_url, s.embedding_model, s.embedding_api_key)
        self.vectors = make_vector_store(s.vector_url, s.resolved_data_dir,
                                         dense=self.embedder is not None)
        self.answerer: Answerer | None = None
        if s.llm_url:  # imported only when configured (httpx is slow to import), as the embedders are
            from nodebase.knowledge.answering.llm import LlmAnswerer

            self.answerer = LlmAnswerer(s.llm_url, s.llm_model or "default", s.llm_api_key,
                                        timeout=float(s.llm_timeout))
        self.repo = KnowledgeRepository(nb.db)
        self.ingestor = Ingestor(self.repo, self.vectors, self.embedder, self._read_blob,
                                 allow_private=s.fetch_allow_private)
        self.service = KnowledgeService(self.repo, self.vectors, self.embedder, self.answerer,
                                        nb.guard, self.ingestor, put_blob=self._put_blob,
                                        delete_blob=self._delete_blob, media=media.service)
        for p in PERMISSIONS:
            nb.permissions.add(p)
        nb.add_routes(routes())
        nb.add_openapi(knowledge_paths)
        nb.on_start(self.start)
        nb.on_stop(self.stop)

    def describe(self) -> dict[str, Any]:
        return {
            "embedder": self.embedder.name if self.embedder else None,
            "vector_store": self.vectors.describe(),
            "answerer": self.service.answerer.name,
        }

    async def _put_blob(self, key: str, data: bytes, content_type: str) -> None:
        async def one() -> Any:
            yield data

        await self.storage.put(self.key_prefix + key, one(), content_type=content_type)

    async def _read_blob(self, key: str) -> bytes:
        return await _read_all(await self.storage.open(self.key_prefix + key))

    async def _delete_blob(self, key: str) -> None:
        await self.storage.delete(self.key_prefix + key)

    async def start(self) -> None:
        await self.storage.start()
        await self.repo.ensure()
        await self.vectors.start()
        self.ingestor.start()

    async def stop(self) -> None:
        await self.ingestor.stop()
        await self.vectors.close()
        if self.embedder is not None:
            await self.embedder.close()
        if self.answerer is not None:
            await self.answerer.close()
        await self.storage.close()
