"""An OpenAI-compatible embeddings endpoint (``POST <base>/embeddings``): OpenAI, vLLM,
Ollama, llama.cpp server, text-embeddings-inference... chosen by ``NODEBASE_EMBEDDING_URL``
(the base URL, e.g. ``http://127.0.0.1:11434/v1``) with ``NODEBASE_EMBEDDING_MODEL`` and
``NODEBASE_EMBEDDING_API_KEY``. The key is sent only as the bearer token, never logged."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import httpx

from nodebase.knowledge.embedding.base import EmbeddingUnavailable

BATCH = 64


class OpenAIEmbedder:
    def __init__(self, base_url: str, model: str, api_key: str = "", dim: int = 0,
                 timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"openai:{model}"
        self.dim = dim
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(timeout=timeout, headers=headers, trust_env=False)

    async def _call(self, texts: list[str]) -> list[list[float]]:
        try:
            r = await self._client.post(f"{self.base_url}/embeddings",
                                        json={"model": self.model, "input": texts})
        except httpx.HTTPError as exc:
            raise EmbeddingUnavailable(f"the embeddings endpoint is unreachable: {type(exc).__name__}",
                                       context={"url": self.base_url}) from None
        if r.status_code != 200:
            raise EmbeddingUnavailable(f"the embeddings endpoint answered {r.status_code}",
                                       context={"url": self.base_url})
        try:
            data: list[dict[str, Any]] = sorted(r.json()["data"], key=lambda d: d.get("index", 0))
            vectors = [[float(x) for x in d["embedding"]] for d in data]
        except (ValueError, KeyError, TypeError):
            raise EmbeddingUnavailable("the embeddings endpoint sent an unexpected body",
                                       context={"url": self.base_url}) from None
        if len(vectors) != len(texts):
            raise EmbeddingUnavailable("the embeddings endpoint sent the wrong number of vectors",
                                       context={"url": self.base_url})
        out = []
        for v in vectors:
            if self.dim and len(v) != self.dim:
                raise EmbeddingUnavailable("the embeddings endpoint changed dimension",
                                           context={"url": self.base_url})
            self.dim = len(v)
            norm = math.sqrt(sum(x * x for x in v)) or 1.0
            out.append([x / norm for x in v])
        return out

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for i in range(0, len(texts), BATCH):
            out.extend(await self._call(list(texts[i:i + BATCH])))
        return out

    async def embed_query(self, text: str) -> list[float]:
        return (await self._call([text]))[0]

    async def close(self) -> None:
        await self._client.aclose()
