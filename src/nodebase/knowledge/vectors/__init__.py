"""Pick the vector store by ``NODEBASE_VECTOR_URL``:

* empty or ``embedded`` — :class:`EmbeddedVectorStore` in ``<data_dir>/knowledge`` (numpy);
* ``postgresql://…`` (``pgvector://…`` is accepted as an alias) — pgvector;
* ``qdrant://host:port`` / ``qdrant+local:///path`` / ``qdrant+memory:`` — Qdrant.

Backends are imported lazily, so an unused one costs nothing.
"""

from __future__ import annotations

from pathlib import Path

from nodebase.kernel.errors import ConfigInvalid
from nodebase.knowledge.vectors.base import VectorHit, VectorRecord, VectorStore


def make_vector_store(url: str, data_dir: Path) -> VectorStore:
    if url in ("", "embedded"):
        from nodebase.knowledge.vectors.embedded import EmbeddedVectorStore

        return EmbeddedVectorStore(data_dir / "knowledge" / "vectors.db")
    if url.startswith(("postgresql://", "postgres://", "pgvector://")):
        from nodebase.knowledge.vectors.pgvector import PgVectorStore

        return PgVectorStore(url.replace("pgvector://", "postgresql://", 1))
    if url.startswith(("qdrant://", "qdrant+local://", "qdrant+memory:")):
        from nodebase.knowledge.vectors.qdrant import QdrantVectorStore

        return QdrantVectorStore(url)
    raise ConfigInvalid([{"path": "NODEBASE_VECTOR_URL",
                          "error": "must be empty/embedded, postgresql://..., or qdrant://..."}])


__all__ = ["VectorHit", "VectorRecord", "VectorStore", "make_vector_store"]
