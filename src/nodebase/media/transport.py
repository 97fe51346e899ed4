"""HTTP routes of the Media module, wire-compatible with bknd (reference §2.4), plus presigned
upload/download URLs (Nano Studio's ``POST /api/upload/presigned-url``).

Handlers only translate HTTP to service calls: read the path, query and headers, pass the
body on as a stream, and turn results into bknd's response shapes. Downloads honour
``Range`` (206 / 416), ``If-None-Match`` (304) and ``If-Range``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from nodebase.kernel.errors import NodebaseError, NotFound
from nodebase.kernel.http import json, read_json, truthy
from nodebase.media.bodies import incoming_file
from nodebase.media.service import FileStat, MediaService
from nodebase.media.storage import ByteRange


class RangeNotSatisfiable(NodebaseError):
    status = 416
    type = "RangeNotSatisfiableException"


def _media(request: Request) -> MediaService:
    nb = request.app.state.nb
    module = nb.media
    if not module.enabled:
        raise NotFound("Media is disabled", context={"path": request.url.path})
    service: MediaService = module.service
    return service


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


# -- uploads --------------------------------------------------------------------------------
Handler = Callable[[Request], Awaitable[Response]]


def _closing(handler: Handler) -> Handler:
    """An upload refused before its body was read (413, 403, 415...) is answered with
    ``Connection: close``: the unread rest of the body must not be taken for the next request
    on a kept-alive connection, and the client must not reuse a connection we drop."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except NodebaseError as exc:
            exc.headers = {**exc.headers, "Connection": "close"}
            raise

    return wrapped


@_closing
async def upload(request: Request) -> Response:
    service = _media(request)
    caller = request.app.state.nb.caller(request)
    name = request.path_params.get("filename") or None
    stored = await service.upload(caller, await incoming_file(request), name,
                                  overwrite=truthy(request.query_params.get("overwrite")))
    return json({"data": stored.row, **stored.upload_body()}, status=201)


@_closing
async def upload_to_entity(request: Request) -> Response:
    service = _media(request)
    caller = request.app.state.nb.caller(request)
    p = request.path_params
    stored = await service.upload_to_entity(
        caller, p["entity"], p["id"], p["field"], await incoming_file(request),
        overwrite=truthy(request.query_params.get("overwrite")),
    )
    return json({"ok": True, "result": stored.row, **stored.upload_body()}, status=201)


@_closing
async def signed_upload(request: Request) -> Response:
    service = _media(request)
    q = request.query_params
    key = request.path_params["key"]
    # check the signature before reading a byte of the body
    service.verify_upload_signature(key, q.get("expires"), q.get("signature"), q.get("type"))
    stored = await service.signed_upload(key, q.get("expires"), q.get("signature"), q.get("type"),
                                         await incoming_file(request))
    return json({"data": stored.row, **stored.upload_body()}, status=201)


# -- presigned URLs ------------------------------------------------------------------------------
async def presign_upload(request: Request) -> Response:
    service = _media(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        body = {}
    name = body.get("fileName", body.get("filename", body.get("name")))
    ctype = body.get("contentType", body.get("content_type", body.get("type")))
    out = await service.presign_upload(request.app.state.nb.caller(request), name, ctype,
                                       body.get("expiresIn"), _base_url(request))
    return json(out)


async def complete_upload(request: Request) -> Response:
    service = _media(request)
    body = await read_json(request)
    key = body.get("objectKey", body.get("key")) if isinstance(body, dict) else None
    row, created = await service.complete_upload(request.app.state.nb.caller(request), key)
    return json({"data": row}, status=201 if created else 200)


async def presign_download(request: Request) -> Response:
    service = _media(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        body = {}
    key = body.get("name", body.get("objectKey", body.get("key")))
    out = await service.presign_download(request.app.state.nb.caller(request), key,
                                         body.get("expiresIn"), _base_url(request))
    return json(out)


# -- reads -----------------------------------------------------------------------------------
async def list_files(request: Request) -> Response:
    service = _media(request)
    return json(await service.list_files(request.app.state.nb.caller(request)))


async def read_file(request: Request) -> Response:
    service = _media(request)
    key = request.path_params["filename"]
    stat = await service.stat(request.app.state.nb.caller(request), key)
    return await _send(request, service, stat)


async def signed_download(request: Request) -> Response:
    service = _media(request)
    key = request.path_params["key"]
    q = request.query_params
    service.verify_download(key, q.get("expires"), q.get("signature"))
    stat = await service.stat(None, key)
    return await _send(request, service, stat)


async def delete_file(request: Request) -> Response:
    service = _media(request)
    await service.delete_file(request.app.state.nb.caller(request), request.path_params["filename"])
    return json({"message": "File deleted"})


# -- download plumbing ------------------------------------------------------------------------
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """One ``bytes=`` range → ByteRange; None = send the whole file (absent, multi-range or
    malformed headers are ignored, as RFC 9110 allows); 416 when it cannot be satisfied."""
    if not header:
        return None
    m = _RANGE.match(header)
    if not m:
        return None
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise _unsatisfiable(size)
        return ByteRange(max(0, size - n), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise _unsatisfiable(size)
    return ByteRange(start, min(end, size - 1))


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable("Requested range not satisfiable", context={"size": size},
                               headers={"Content-Range": f"bytes */{size}"})


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2), as If-None-Match requires."""
    if header.strip() == "*":
        return True
    mine = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == mine for tag in header.split(","))


async def _send(request: Request, service: MediaService, stat: FileStat) -> Response:
    headers = {
        "ETag": stat.etag,
        "Last-Modified": stat.last_modified.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        "Accept-Ranges": "bytes",
        # names can be overwritten: caches revalidate with the ETag (cheap 304)
        "Cache-Control": "no-cache",
        # user content must never run as this origin's page
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    }
    inm = request.headers.get("if-none-match")
    if inm is not None and _etag_matches(inm, stat.etag):
        return Response(status_code=304, headers=headers)
    byte_range = parse_range(request.headers.get("range"), stat.size)
    if_range = request.headers.get("if-range")
    if byte_range is not None and if_range is not None and if_range.strip() != stat.etag:
        byte_range = None
    if request.method == "HEAD":
        headers["Content-Length"] = str(stat.size if byte_range is None else byte_range.length)
        return Response(status_code=200 if byte_range is None else 206, headers=headers,
                        media_type=stat.mime)
    body: AsyncIterator[bytes] = await service.open(stat.key, byte_range)
    if byte_range is None:
        headers["Content-Length"] = str(stat.size)
        return StreamingResponse(body, status_code=200, headers=headers, media_type=stat.mime)
    headers["Content-Length"] = str(byte_range.length)
    headers["Content-Range"] = f"bytes {byte_range.start}-{byte_range.end}/{stat.size}"
    return StreamingResponse(body, status_code=206, headers=headers, media_type=stat.mime)


def routes() -> list[Any]:
    return [
        Route("/api/media/files", list_files, methods=["GET"]),
        Route("/api/media/file/{filename:path}", read_file, methods=["GET", "HEAD"]),
        Route("/api/media/file/{filename:path}", delete_file, methods=["DELETE"]),
        Route("/api/media/upload", upload, methods=["POST"]),
        Route("/api/media/upload/{filename:path}", upload, methods=["POST"]),
        Route("/api/media/entity/{entity}/{id}/{field}", upload_to_entity, methods=["POST"]),
        Route("/api/media/presigned-url", presign_download, methods=["POST"]),
        Route("/api/media/signed/{key:path}", signed_download, methods=["GET", "HEAD"]),
        Route("/api/media/signed/{key:path}", signed_upload, methods=["PUT"]),
        Route("/api/upload/presigned-url", presign_upload, methods=["POST"]),
        Route("/api/upload/complete", complete_upload, methods=["POST"]),
    ]
