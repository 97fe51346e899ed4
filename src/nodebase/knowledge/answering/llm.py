"""Answers from an OpenAI-compatible chat model (``POST <base>/chat/completions`` with
``stream: true``): OpenAI, DeepSeek, Qwen, Ollama, vLLM, llama.cpp server… chosen by
``NODEBASE_LLM_URL`` (the base URL, e.g. ``https://api.deepseek.com/v1``),
``NODEBASE_LLM_MODEL`` and ``NODEBASE_LLM_API_KEY`` (sent only as the bearer token).

The passages are given to the model numbered ``[1]..[n]`` with the instruction to cite them
that way. Closing the iterator (the client went away) closes the HTTP stream, which stops
the generation upstream. A refused request, a broken stream, or no data for ``timeout``
seconds raises :class:`AnswerFailed`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from nodebase.knowledge.answering.base import AnswerFailed
from nodebase.knowledge.models import Passage

SYSTEM = {
    "answer": ("You answer questions using only the numbered sources below. Cite every claim "
               "with the source number in square brackets, like [1] or [2][3]. If the sources "
               "do not contain the answer, say so. Answer in the language of the question."),
    "summary": ("Summarise the numbered sources below in a few short paragraphs. Cite every "
                "statement with its source number in square brackets, like [1]."),
    "outline": ("Write a mind map of the numbered sources below as a Markdown outline: one "
                "'# ' title line, then '## ' topics and '### ' subtopics, each line short and "
                "ending with the source numbers it comes from in square brackets, like [2]. "
                "Write nothing but the outline."),
}


def _sources(passages: Sequence[Passage]) -> str:
    blocks = []
    for n, p in enumerate(passages, start=1):
        where = f" (page {p.page})" if p.page else ""
        blocks.append(f"[{n}] {p.document_title}{where}\n{p.text}")
    return "\n\n".join(blocks)


class LlmAnswerer:
    def __init__(self, base_url: str, model: str, api_key: str = "", *, timeout: float = 60.0,
                 max_tokens: int = 1024, temperature: float = 0.2) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"llm:{model}"
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.temperature = temperature
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(headers=headers, trust_env=False,
                                         timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))

    def messages(self, question: str, passages: Sequence[Passage], history: Sequence[dict[str, str]],
                 task: str) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": SYSTEM.get(task, SYSTEM["answer"])
                 + "\n\nSources:\n\n" + _sources(passages)}]
        for turn in history:
            if turn.get("role") in ("user", "assistant") and isinstance(turn.get("content"), str):
                msgs.append({"role": turn["role"], "content": turn["content"]})
        msgs.append({"role": "user", "content": question})
        return msgs

    async def answer(self, question: str, passages: Sequence[Passage], *,
                     history: Sequence[dict[str, str]] = (), task: str = "answer") -> AsyncIterator[str]:
        body: dict[str, Any] = {"model": self.model, "stream": True, "max_tokens": self.max_tokens,
                                "temperature": self.temperature,
                                "messages": self.messages(question, passages, history, task)}
        try:
            async with self._client.stream("POST", f"{self.base_url}/chat/completions",
                                           json=body) as r:
                if r.status_code != 200:
                    detail = (await r.aread())[:300].decode("utf-8", "replace")
                    raise AnswerFailed(f"the chat model answered {r.status_code}",
                                       context={"model": self.model, "detail": detail})
                async for line in r.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    try:
                        event = json.loads(data)
                    except ValueError:
                        raise AnswerFailed("the chat model sent a malformed stream event",
                                           context={"model": self.model}) from None
                    if isinstance(event, dict) and event.get("error"):
                        raise AnswerFailed("the chat model reported an error",
                                           context={"model": self.model,
                                                    "detail": str(event["error"])[:300]})
                    for choice in (event.get("choices") or []) if isinstance(event, dict) else []:
                        piece = (choice.get("delta") or {}).get("content")
                        if piece:
                            yield str(piece)
        except httpx.TimeoutException:
            raise AnswerFailed(f"the chat model sent nothing for {self.timeout:g} s",
                               context={"model": self.model}) from None
        except httpx.HTTPError as exc:
            raise AnswerFailed(f"the chat model is unreachable or broke the stream ({type(exc).__name__})",
                               context={"model": self.model}) from None

    async def close(self) -> None:
        await self._client.aclose()
