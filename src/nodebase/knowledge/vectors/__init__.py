"""Pick the vector store by ``NODEBASE_VECTOR_URL``:

* empty or ``embedded`` — :class:`EmbeddedVectorStore` in ``<data_dir>/knowledge`` (numpy);
* ``postgresql://…`` (``pgvector://…`` is accepted as an alias) — pgvector;
* ``qdrant://host:port`` / ``qdrant+local:///path`` / ``qdrant+memory:`` — Qdrant.

Backends are imported lazily, so an unused one costs nothing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from nodebase.kernel.errors import ConfigInvalid
from nodebase.knowledge.vectors.base import VectorHit, VectorRecord, VectorStore


def make_vector_store(url: str, data_dir: Path, *, dense: bool = True) -> VectorStore:
    """``dense``: an embedder is configured (without one, the embedded store is only needed
    when its numpy is installed; the default install has neither)."""
    if url in ("", "embedded"):
        if importlib.util.find_spec("numpy") is None:
            if dense:
                raise ConfigInvalid([{"path": "NODEBASE_VECTOR_URL", "error":
                                      "the embedded vector store needs numpy: "
                                      "pip install 'nodebase[knowledge]'"}])
            from nodebase.knowledge.vectors.none import NoVectorStore

            return NoVectorStore()
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
