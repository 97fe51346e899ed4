"""A deterministic embedder without a model: feature-hashed keyword terms, L2-normalised.

For unit tests (same text → same vector on every machine) and as a stand-in where a model is
not wanted. It knows no synonyms: its "semantic" search is keyword overlap.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

from nodebase.knowledge.keywords import document_terms


class HashingEmbedder:
    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.name = f"hashing-{dim}"

    def _one(self, text: str) -> list[float]:
        vec = [0.0] * self.dim
        for term in document_terms(text).split():
            h = int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "little")
            vec[h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        return [v / norm for v in vec]

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._one(t) for t in texts]

    async def embed_query(self, text: str) -> list[float]:
        return self._one(text)

    async def close(self) -> None:
        pass
