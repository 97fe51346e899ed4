"""Nano Studio's HTTP routes (shared/protocols/studio.md): request parsing and answer shapes;
the work is in StudioService."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from nodebase.apps.studio.openai_format import completion, sse
from nodebase.apps.studio.service import StudioService
from nodebase.auth.transport import set_auth_cookie
from nodebase.kernel import jsonutil
from nodebase.kernel.errors import BadRequest, NodebaseError, PayloadTooLarge
from nodebase.kernel.http import json

Handler = Callable[[Request], Awaitable[Response]]
MAX_BODY = 60_000_000


async def _json_body(request: Request, limit: int = 3_000_000) -> Any:
    raw = await request.body()
    if len(raw) > limit:
        raise PayloadTooLarge(f"the body is limited to {limit} bytes", context={"max": limit})
    if not raw:
        return {}
    return jsonutil.loads(raw, what="request body")


def _page(request: Request) -> tuple[int, int]:
    try:
        limit = int(request.query_params.get("limit", "20"))
        offset = int(request.query_params.get("offset", "0"))
    except ValueError:
        raise BadRequest("limit and offset must be integers", context={}) from None
    if not 0 <= limit <= 200 or offset < 0:
        raise BadRequest("limit is 0–200 and offset ≥ 0", context={"limit": limit, "offset": offset})
    return limit, offset


def routes(svc: StudioService, nb: Any, auth_module: Any, model_name: str) -> tuple[list[Route], list[Route]]:
    """→ (routes that must win over a module's route on the same path, the others)."""

    def caller(request: Request) -> Any:
        return nb.caller(request)

    async def register(request: Request) -> Response:
        body = await _json_body(request, 64_000)
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object", context={})
        username = body.pop("username", "")
        if not isinstance(username, str) or len(username) > 100:
            raise BadRequest("username must be a string of at most 100 characters", context={"field": "username"})
        ip = request.client.host if request.client else ""
        session = await auth_module.service.register(body, ip)
        await svc.ensure_profile(str(session.user["id"]), username)
        response = json({"user": session.user, "token": session.token}, status=201)
        set_auth_cookie(response, auth_module, session.token)
        return response

    async def presigned(request: Request) -> Response:
        c = caller(request)
        if c.id is None:  # anonymous: Media's own rules apply
            return await media_presigned(request)
        base = f"{request.url.scheme}://{request.url.netloc}"
        return json(await svc.presign_upload(c, await _json_body(request, 64_000), base))

    media_presigned: Handler
    from nodebase.media.transport import routes as media_routes

    media_presigned = next(r.endpoint for r in media_routes()
                           if isinstance(r, Route) and r.path == "/api/upload/presigned-url")

    async def profile(request: Request) -> Response:
        c = caller(request)
        if request.method == "GET":
            return json({"data": await svc.profile(c)})
        return json({"data": await svc.update_profile(c, await _json_body(request, 64_000))})

    async def check_in(request: Request) -> Response:
        return json({"data": await svc.check_in(caller(request))}, status=201)

    async def check_in_stats(request: Request) -> Response:
        return json({"data": await svc.check_in_stats(caller(request))})

    async def settings(request: Request) -> Response:
        c = caller(request)
        if request.method == "GET":
            return json({"data": await svc.settings(c)})
        svc.owner(c)
        return json({"data": await svc.put_settings(c, await request.body())})

    async def sessions(request: Request) -> Response:
        limit, offset = _page(request)
        items, total = await svc.list_sessions(caller(request), limit, offset)
        return json({"data": items, "meta": {"total": total, "limit": limit, "offset": offset}})

    async def session(request: Request) -> Response:
        c = caller(request)
        sid = request.path_params["id"]
        if request.method == "GET":
            return json({"data": await svc.get_session(c, sid)})
        if request.method == "PATCH":
            return json({"data": await svc.update_session(c, sid, await _json_body(request, 64_000))})
        await svc.delete_session(c, sid)
        return json({"ok": True})

    async def _source_input(request: Request) -> tuple[dict[str, Any], tuple[bytes, str, str] | None]:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            size = int(request.headers.get("content-length") or 0)
            if size > MAX_BODY:
                raise PayloadTooLarge(f"uploads are limited to {MAX_BODY} bytes", context={"max": MAX_BODY})
            form = await request.form(max_part_size=MAX_BODY)
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise BadRequest("the multipart body needs a file field", context={"field": "file"})
            data = await upload.read()
            title = form.get("title")
            body: dict[str, Any] = {"kind": form.get("kind") or "pdf",
                                    "title": title if isinstance(title, str) else ""}
            return body, (data, upload.filename or "upload.pdf", upload.content_type or "")
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object", context={})
        return body, None

    def from_kind(kind: str) -> Handler:
        async def create(request: Request) -> Response:
            c = caller(request)
            svc.owner(c)
            body, file = await _source_input(request)
            if kind != "pdf" and file is not None:
                raise BadRequest(f"from-{kind} takes a JSON body", context={})
            title = body.get("title") or ""
            if not isinstance(title, str):
                raise BadRequest("title must be a string", context={"field": "title"})
            row = await svc.create_session(c, title[:300])
            try:
                source = await svc.add_source(c, row, kind, body, file)
            except NodebaseError:
                await svc.delete_session(c, str(row["id"]))
                raise
            view = await svc.get_session(c, str(row["id"]))
            view.pop("sources")
            view.pop("notes")
            return json({"data": {"session": view, "source": source}}, status=202)
        return create

    async def add_source(request: Request) -> Response:
        c = caller(request)
        row = await svc._session_row(c, request.path_params["id"])
        body, file = await _source_input(request)
        return json({"data": await svc.add_source(c, row, body.get("kind"), body, file)}, status=202)

    async def notes(request: Request) -> Response:
        c = caller(request)
        return json({"data": await svc.create_note(c, request.path_params["id"], await _json_body(request))},
                    status=201)

    async def delete_note(request: Request) -> Response:
        await svc.delete_note(caller(request), request.path_params["note_id"])
        return json({"ok": True})

    async def delete_source(request: Request) -> Response:
        await svc.delete_source(caller(request), request.path_params["id"])
        return json({"ok": True})

    async def rag_status(request: Request) -> Response:
        return json({"data": await svc.rag_status(caller(request), request.path_params["id"])})

    async def chat(request: Request) -> Response:
        c = caller(request)
        svc.owner(c)
        events, stream = await svc.chat(c, await _json_body(request))
        if stream:
            return StreamingResponse(sse(events, model_name), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        obj, error = await completion(events, model_name)
        if obj is None:
            return json({"error": f"the answer failed: {error}", "type": "AnswerFailed", "context": {}},
                        status=502)
        return json(obj)

    async def db_test(request: Request) -> Response:
        svc.owner(caller(request))
        latency = await svc.db_check()
        db = "postgresql" if nb.settings.resolved_database_url.startswith("postgres") else "sqlite"
        return json({"ok": True, "database": db, "latency_ms": latency})

    async def qdrant_test(request: Request) -> Response:
        svc.owner(caller(request))
        return json({"ok": True, **await svc.vector_check()})

    first = [
        Route("/api/auth/register", register, methods=["POST"]),
        Route("/api/upload/presigned-url", presigned, methods=["POST"]),
    ]
    others = [
        Route("/api/user/profile", profile, methods=["GET", "PATCH"]),
        Route("/api/user/check-in", check_in, methods=["POST"]),
        Route("/api/user/check-in/stats", check_in_stats, methods=["GET"]),
        Route("/api/user/settings", settings, methods=["GET", "PUT"]),
        Route("/api/sessions", sessions, methods=["GET"]),
        Route("/api/sessions/from-url", from_kind("url"), methods=["POST"]),
        Route("/api/sessions/from-text", from_kind("text"), methods=["POST"]),
        Route("/api/sessions/from-pdf", from_kind("pdf"), methods=["POST"]),
        Route("/api/sessions/notes/{note_id}", delete_note, methods=["DELETE"]),
        Route("/api/sessions/{id}", session, methods=["GET", "PATCH", "DELETE"]),
        Route("/api/sessions/{id}/sources", add_source, methods=["POST"]),
        Route("/api/sessions/{id}/notes", notes, methods=["POST"]),
        Route("/api/sources/{id}", delete_source, methods=["DELETE"]),
        Route("/api/sources/{id}/rag-status", rag_status, methods=["GET"]),
        Route("/api/chat/completions", chat, methods=["POST"]),
        Route("/db-test", db_test, methods=["GET"]),
        Route("/qdrant-test", qdrant_test, methods=["GET"]),
    ]
    return first, others
