"""What turns text into vectors. Async only: CPU-bound models run on their own executor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from nodebase.kernel.errors import NodebaseError


class EmbeddingUnavailable(NodebaseError):
    """The embeddings endpoint failed or answered something unusable."""

    status = 502
    type = "EmbeddingUnavailableException"


class Embedder(Protocol):
    #: identifies the model: vectors of different names are never compared
    name: str
    dim: int

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def embed_query(self, text: str) -> list[float]: ...

    async def close(self) -> None: ...
