"""HTTP routes of the Knowledge module under ``/api/knowledge``: handlers translate HTTP to
:class:`KnowledgeService` calls. Answers and summaries stream as Server-Sent Events.

SSE: each event is ``event: <type>`` + ``data: <json>`` (the JSON also holds ``"type"``):
``passages``, ``token``…, ``citations``, ``done`` — or ``error``. When the client goes away
the answer's generator is cancelled (which closes the chat model's stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from nodebase.kernel.errors import BadRequest, PayloadTooLarge
from nodebase.kernel.http import json, read_json
from nodebase.knowledge.models import AnswerEvent
from nodebase.knowledge.service import MAX_FILE_BYTES, KnowledgeService

BASE = "/api/knowledge"
log = logging.getLogger("nodebase.knowledge")


def _svc(request: Request) -> KnowledgeService:
    service: KnowledgeService = request.app.state.nb.knowledge.service
    return service


def _caller(request: Request) -> Any:
    return request.app.state.nb.caller(request)


class EventStream(Response):
    """An SSE response that cancels its source as soon as the client disconnects."""

    media_type = "text/event-stream"

    def __init__(self, events: AsyncIterator[AnswerEvent]) -> None:
        self.status_code = 200
        self.background = None
        self.raw_headers = [(b"content-type", b"text/event-stream; charset=utf-8"),
                            (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
        self.events = events

    @staticmethod
    def encode(event: AnswerEvent) -> bytes:
        return b"event: " + event.type.encode() + b"\ndata: " + orjson.dumps(event.public()) + b"\n\n"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})

        async def pump() -> None:
            async for event in self.events:
                await send({"type": "http.response.body", "body": self.encode(event),
                            "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        async def watch() -> None:
            # the request body has been read: the next message is the disconnect (servers
            # also report a send that failed because the client went away this way)
            while (await receive())["type"] != "http.disconnect":
                pass

        producer = asyncio.create_task(pump())
        watcher = asyncio.create_task(watch())
        try:
            await asyncio.wait({producer, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (producer, watcher):
                task.cancel()
            for task in (producer, watcher):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                await self.events.aclose()  # type: ignore[attr-defined]


def _ids(value: Any, field: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [v for v in value.split(",") if v]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise BadRequest(f"{field} must be a list of ids", context={"field": field})


def _int(value: Any, field: str, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise BadRequest(f"{field} must be an integer", context={"field": field})
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{field} must be an integer", context={"field": field, "value": str(value)[:50]}) from None


# -- collections ----------------------------------------------------------------------------
async def list_collections(request: Request) -> Response:
    cols = await _svc(request).list_collections(_caller(request))
    return json({"data": [c.public() for c in cols]})


async def create_collection(request: Request) -> Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", context={})
    c = await _svc(request).create_collection(_caller(request), body.get("name"),
                                              body.get("description", ""))
    return json({"data": c.public()}, status=201)


async def get_collection(request: Request) -> Response:
    c = await _svc(request).get_collection(_caller(request), request.path_params["id"])
    return json({"data": c.public()})


async def update_collection(request: Request) -> Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", context={})
    c = await _svc(request).update_collection(_caller(request), request.path_params["id"],
                                              name=body.get("name"), description=body.get("description"))
    return json({"data": c.public()})


async def delete_collection(request: Request) -> Response:
    await _svc(request).delete_collection(_caller(request), request.path_params["id"])
    return json({"data": {"id": request.path_params["id"], "deleted": True}})


# -- documents ------------------------------------------------------------------------------
async def _read_limited(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_FILE_BYTES:
        raise PayloadTooLarge(f"the file is larger than {MAX_FILE_BYTES} bytes",
                              context={"max": MAX_FILE_BYTES}, headers={"Connection": "close"})
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FILE_BYTES:
            raise PayloadTooLarge(f"the file is larger than {MAX_FILE_BYTES} bytes",
                                  context={"max": MAX_FILE_BYTES}, headers={"Connection": "close"})
        parts.append(chunk)
    return b"".join(parts)


async def add_document(request: Request) -> Response:
    """JSON ``{"text"}`` / ``{"url"}`` / ``{"media"}`` (+ ``title``), a multipart ``file``, or
    the file as the raw body with ``?filename=``."""
    svc = _svc(request)
    caller = _caller(request)
    cid = request.path_params["id"]
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype == "application/json":
        body = await read_json(request)
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object", context={})
        given = [k for k in ("text", "url", "media") if k in body]
        if len(given) != 1:
            raise BadRequest('give exactly one of "text", "url" or "media"', context={"given": given})
        title = body.get("title", "")
        if given[0] == "text":
            doc = await svc.add_text(caller, cid, body["text"], title=title)
        elif given[0] == "url":
            doc = await svc.add_url(caller, cid, body["url"], title=title)
        else:
            doc = await svc.add_media(caller, cid, body["media"], title=title)
    elif ctype == "multipart/form-data":
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_FILE_BYTES + 100_000:
            raise PayloadTooLarge(f"the file is larger than {MAX_FILE_BYTES} bytes",
                                  context={"max": MAX_FILE_BYTES}, headers={"Connection": "close"})
        try:
            form = await request.form(max_files=1, max_fields=10)
        except Exception as exc:
            raise BadRequest(f"malformed multipart body ({type(exc).__name__})", context={}) from None
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise BadRequest('the multipart body needs a "file" part', context={})
        data = await upload.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise PayloadTooLarge(f"the file is larger than {MAX_FILE_BYTES} bytes",
                                  context={"max": MAX_FILE_BYTES})
        title = form.get("title")
        doc = await svc.add_file(caller, cid, data, filename=upload.filename or "upload",
                                 content_type=upload.content_type or "",
                                 title=title if isinstance(title, str) else "")
    else:
        filename = request.query_params.get("filename")
        if not filename:
            raise BadRequest("a raw upload needs ?filename=", context={"content_type": ctype})
        data = await _read_limited(request)
        doc = await svc.add_file(caller, cid, data, filename=filename, content_type=ctype,
                                 title=request.query_params.get("title", ""))
    return json({"data": doc.public()}, status=202)


async def list_documents(request: Request) -> Response:
    docs = await _svc(request).list_documents(_caller(request), request.path_params["id"])
    return json({"data": [d.public() for d in docs]})


async def get_document(request: Request) -> Response:
    d = await _svc(request).get_document(_caller(request), request.path_params["id"])
    return json({"data": d.public()})


async def retry_document(request: Request) -> Response:
    d = await _svc(request).retry_document(_caller(request), request.path_params["id"])
    return json({"data": d.public()}, status=202)


async def delete_document(request: Request) -> Response:
    await _svc(request).delete_document(_caller(request), request.path_params["id"])
    return json({"data": {"id": request.path_params["id"], "deleted": True}})


# -- retrieval and answers ------------------------------------------------------------------
async def search(request: Request) -> Response:
    q = request.query_params
    passages = await _svc(request).search(
        _caller(request), q.get("q"), collection_ids=_ids(q.get("collection"), "collection"),
        document_ids=_ids(q.get("document"), "document"), k=_int(q.get("k"), "k", 8),
        mode=q.get("mode", "hybrid"))
    return json({"data": [p.public() for p in passages]})


async def ask(request: Request) -> Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", context={})
    history = body.get("history", [])
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise BadRequest("history must be a list of {role, content} objects", context={"field": "history"})
    events = await _svc(request).ask(
        _caller(request), body.get("question"),
        collection_ids=_ids(body.get("collection_ids"), "collection_ids"),
        document_ids=_ids(body.get("document_ids"), "document_ids"),
        k=_int(body.get("k"), "k", 6), history=history, extractive=body.get("extractive") is True)
    return EventStream(events)


async def summary(request: Request) -> Response:
    events = await _svc(request).summary(_caller(request), request.path_params["id"],
                                         extractive=request.query_params.get("extractive") == "true")
    return EventStream(events)


async def mind_map(request: Request) -> Response:
    md = await _svc(request).mind_map(_caller(request), request.path_params["id"],
                                      extractive=request.query_params.get("extractive") == "true")
    return json({"data": {"markdown": md}})


async def info(request: Request) -> Response:
    return json({"data": request.app.state.nb.knowledge.describe()})


def routes() -> list[Route]:
    return [
        Route(f"{BASE}", info, methods=["GET"]),
        Route(f"{BASE}/collections", list_collections, methods=["GET"]),
        Route(f"{BASE}/collections", create_collection, methods=["POST"]),
        Route(f"{BASE}/collections/{{id}}", get_collection, methods=["GET"]),
        Route(f"{BASE}/collections/{{id}}", update_collection, methods=["PATCH"]),
        Route(f"{BASE}/collections/{{id}}", delete_collection, methods=["DELETE"]),
        Route(f"{BASE}/collections/{{id}}/documents", list_documents, methods=["GET"]),
        Route(f"{BASE}/collections/{{id}}/documents", add_document, methods=["POST"]),
        Route(f"{BASE}/collections/{{id}}/summary", summary, methods=["GET"]),
        Route(f"{BASE}/collections/{{id}}/mindmap", mind_map, methods=["GET"]),
        Route(f"{BASE}/documents/{{id}}", get_document, methods=["GET"]),
        Route(f"{BASE}/documents/{{id}}", delete_document, methods=["DELETE"]),
        Route(f"{BASE}/documents/{{id}}/retry", retry_document, methods=["POST"]),
        Route(f"{BASE}/search", search, methods=["GET"]),
        Route(f"{BASE}/ask", ask, methods=["POST"]),
    ]
