"""Pick the embedder: ``NODEBASE_EMBEDDING_URL`` (an OpenAI-compatible endpoint), else the
local WordLlama model when the ``knowledge`` extra is installed, else none (keyword search
only). ``hashing:`` / ``hashing:<dim>`` selects the deterministic test embedder and ``none``
turns dense retrieval off explicitly."""

from __future__ import annotations

from nodebase.kernel.errors import ConfigInvalid
from nodebase.knowledge.embedding.base import Embedder, EmbeddingUnavailable


def make_embedder(url: str, model: str = "", api_key: str = "") -> Embedder | None:
    from nodebase.knowledge.embedding import local

    if url == "none":
        return None
    if url.startswith("hashing:"):
        from nodebase.knowledge.embedding.hashing import HashingEmbedder

        dim = url.removeprefix("hashing:")
        return HashingEmbedder(int(dim) if dim.isdigit() else 256)
    if url.startswith(("http://", "https://")):
        from nodebase.knowledge.embedding.openai import OpenAIEmbedder

        if not model:
            raise ConfigInvalid([{"path": "NODEBASE_EMBEDDING_MODEL",
                                  "error": "required with NODEBASE_EMBEDDING_URL"}])
        return OpenAIEmbedder(url, model, api_key)
    if url in ("", "local", "wordllama"):
        if local.available():
            return local.WordLlamaEmbedder()
        if url:
            raise ConfigInvalid([{"path": "NODEBASE_EMBEDDING_URL",
                                  "error": "the local model needs: pip install 'nodebase[knowledge]'"}])
        return None
    raise ConfigInvalid([{"path": "NODEBASE_EMBEDDING_URL",
                          "error": "must be http(s)://..., local, hashing:<dim> or none"}])


__all__ = ["Embedder", "EmbeddingUnavailable", "make_embedder"]
