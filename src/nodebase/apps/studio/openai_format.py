"""OpenAI Chat Completions frames from Knowledge answer events: ``chat.completion.chunk``
frames, the one frame with ``citations``, ``data: [DONE]``; or one ``chat.completion``."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from nodebase.knowledge.models import AnswerEvent

log = logging.getLogger("nodebase.studio")


def citation_list(event: AnswerEvent) -> list[dict[str, Any]]:
    return [{"index": c.n, "source_id": c.passage.document_id, "chunk_id": c.passage.chunk_id,
             "title": c.passage.document_title, "text": c.passage.text, "score": c.passage.score}
            for c in event.citations or []]


def _frame(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def _error(message: str) -> bytes:
    return _frame({"error": {"message": message, "type": "AnswerFailed"}})


async def sse(events: AsyncIterator[AnswerEvent], model: str) -> AsyncIterator[bytes]:
    cid = "chatcmpl-" + uuid.uuid4().hex
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        return _frame({"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra})

    yield chunk({"role": "assistant", "content": ""})
    try:
        async for e in events:
            if e.type == "token" and e.text:
                yield chunk({"content": e.text})
            elif e.type == "citations":
                yield chunk({}, "stop", citations=citation_list(e))
            elif e.type == "error":
                yield _error(e.text or "the answer failed")
                break
            elif e.type == "done":
                break
    except Exception:  # the stream has started: it ends with an error frame, never cut
        log.exception("the chat answer failed")
        yield _error("the answer failed")
    yield b"data: [DONE]\n\n"


async def completion(events: AsyncIterator[AnswerEvent], model: str) -> tuple[dict[str, Any] | None, str | None]:
    """→ (the chat.completion object, None) or (None, the error)."""
    parts: list[str] = []
    cites: list[dict[str, Any]] = []
    async for e in events:
        if e.type == "token" and e.text:
            parts.append(e.text)
        elif e.type == "citations":
            cites = citation_list(e)
        elif e.type == "error":
            return None, e.text or "the answer failed"
    return {"id": "chatcmpl-" + uuid.uuid4().hex, "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(parts)},
                         "finish_reason": "stop"}],
            "citations": cites}, None
