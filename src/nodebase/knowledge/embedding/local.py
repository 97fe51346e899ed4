"""The default local embedder: WordLlama (static token embeddings, 256-d, ~16 MB of weights
inside the ``wordllama`` wheel). Nothing is downloaded: the weights and the tokenizer are
loaded from the installed package with downloads disabled. Part of the ``knowledge`` extra.

Embedding runs on one dedicated thread so the event loop never waits on it.
"""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def available() -> bool:
    try:
        import numpy  # noqa: F401
        import wordllama  # noqa: F401
    except ImportError:
        return False
    return True


class WordLlamaEmbedder:
    name = "wordllama-l2-supercat-256"
    dim = 256

    def __init__(self) -> None:
        self._model: Any = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="nodebase-embed")

    def _load(self) -> Any:
        if self._model is None:
            import wordllama
            from wordllama import WordLlama

            root = pathlib.Path(wordllama.__file__).parent
            self._model = WordLlama.load(cache_dir=root, disable_download=True, dim=self.dim)
        return self._model

    def _embed(self, texts: list[str]) -> list[list[float]]:
        model = self._load()
        vectors = model.embed(texts, norm=True, batch_size=64)
        return [list(map(float, v)) for v in vectors]

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._embed, list(texts))

    async def embed_query(self, text: str) -> list[float]:
        return (await self.embed_documents([text]))[0]

    async def close(self) -> None:
        self._pool.shutdown(wait=False)
