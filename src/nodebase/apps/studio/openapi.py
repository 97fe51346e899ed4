"""OpenAPI description of Nano Studio's routes (shared/protocols/studio.md), registered with
``nb.add_openapi`` when the app is enabled. ``POST /api/auth/register`` (201) and
``/api/auth/login|logout`` are described by the Auth module; Studio only widens
``POST /api/upload/presigned-url`` (any signed-in user, ``filename`` or ``fileName``)."""

from __future__ import annotations

from typing import Any

from nodebase.kernel.openapi import JSON, errors, json_body, ok, path_param, query_param

TAG = "Nano Studio"
_STR = {"type": "string"}
_TIME = {"type": "string", "description": "ISO-8601 UTC, ending in Z"}
_OK = {"type": "object", "properties": {"ok": {"const": True}}, "required": ["ok"]}

SESSION: dict[str, Any] = {"type": "object", "properties": {
    "id": _STR, "title": _STR, "description": _STR, "created_at": _TIME, "updated_at": _TIME,
    "source_count": {"type": "integer"}, "note_count": {"type": "integer"}},
    "required": ["id", "title", "description", "created_at", "updated_at", "source_count", "note_count"]}
SOURCE: dict[str, Any] = {"type": "object", "properties": {
    "id": _STR, "session_id": _STR, "kind": {"enum": ["url", "text", "pdf"]}, "title": _STR,
    "url": _STR, "object_key": _STR,
    "status": {"enum": ["pending", "processing", "ready", "failed"]}, "error": _STR,
    "chunk_count": {"type": "integer"}, "char_count": {"type": "integer"}, "created_at": _TIME},
    "required": ["id", "session_id", "kind", "title", "status", "chunk_count", "char_count", "created_at"]}
NOTE: dict[str, Any] = {"type": "object", "properties": {
    "id": _STR, "session_id": _STR, "kind": {"enum": ["note", "summary", "mindmap"]}, "title": _STR,
    "content": _STR, "created_at": _TIME, "updated_at": _TIME},
    "required": ["id", "session_id", "kind", "title", "content", "created_at", "updated_at"]}
PROFILE: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": ["string", "integer"]}, "email": {"type": ["string", "null"]}, "username": _STR,
    "avatar": _STR, "bio": _STR, "created_at": {"type": ["string", "null"]}},
    "required": ["id", "email", "username", "avatar", "bio", "created_at"]}
CITATION: dict[str, Any] = {"type": "object", "properties": {
    "index": {"type": "integer"}, "source_id": _STR, "chunk_id": _STR, "title": {"type": ["string", "null"]},
    "text": _STR, "score": {"type": "number"}},
    "required": ["index", "source_id", "chunk_id", "title", "text", "score"]}
COMPLETION: dict[str, Any] = {"type": "object", "description": "OpenAI's chat.completion, with citations",
                              "properties": {
    "id": _STR, "object": {"const": "chat.completion"}, "created": {"type": "integer"}, "model": _STR,
    "choices": {"type": "array", "items": {"type": "object", "properties": {
        "index": {"type": "integer"}, "finish_reason": _STR,
        "message": {"type": "object", "properties": {"role": {"const": "assistant"}, "content": _STR}}}}},
    "citations": {"type": "array", "items": CITATION}},
    "required": ["id", "object", "created", "model", "choices", "citations"]}


def _data(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"data": schema}, "required": ["data"]}


def _op(op_id: str, summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"tags": [TAG], "operationId": op_id, "summary": summary, "responses": responses,
            "security": [{"bearerAuth": []}, {"cookieAuth": []}], **extra}


_ID = path_param("id", {"type": "string"}, "the session's id (digits)")
_SOURCE_ID = path_param("id", {"type": "string"}, "the source's id")
_CREATED = ok(_data({"type": "object", "properties": {"session": SESSION, "source": SOURCE},
                     "required": ["session", "source"]}), "Accepted: the source is processed in the background")
_TEXT_BODY = {"type": "object", "required": ["text"], "properties": {
    "text": {"type": "string", "description": "at most 2 MB"}, "title": _STR}}
_URL_BODY = {"type": "object", "required": ["url"], "properties": {"url": _STR, "title": _STR}}
_PDF_BODY = {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"}, "title": _STR}}},
    JSON: {"schema": {"type": "object", "required": ["object_key"], "properties": {
        "object_key": {"type": "string", "description": "from POST /api/upload/presigned-url"},
        "title": _STR}}}}}
_SOURCE_BODY = {"required": True, "content": {
    JSON: {"schema": {"type": "object", "required": ["kind"], "properties": {
        "kind": {"enum": ["url", "text", "pdf"]}, "url": _STR, "text": _STR, "object_key": _STR,
        "title": _STR}}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"}, "kind": {"const": "pdf"}, "title": _STR}}}}}
_CHAT_BODY = {"type": "object", "required": ["session_id", "messages"], "properties": {
    "session_id": _STR,
    "messages": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["role", "content"],
                                                           "properties": {"role": _STR, "content": _STR}}},
    "stream": {"type": "boolean", "default": True},
    "source_ids": {"type": "array", "items": _STR}}}
_PRESIGNED = {"type": "object", "properties": {
    **{k: {"type": "string"} for k in ("uploadUrl", "method", "objectKey", "expiresAt", "downloadUrl")},
    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
    "expiresIn": {"type": "integer"}, "maxSize": {"type": ["integer", "null"]},
    "completeUrl": {"type": ["string", "null"]}}}


def studio_paths(nb: Any) -> dict[str, Any]:
    from_kind = {
        "url": ("Create a session from a web page", json_body(_URL_BODY)),
        "text": ("Create a session from a text", json_body(_TEXT_BODY)),
        "pdf": ("Create a session from a PDF (multipart, or a presigned upload's object_key)", _PDF_BODY),
    }
    paths: dict[str, Any] = {
        "/api/user/profile": {
            "get": _op("studio_profile", "The signed-in user's profile", {
                "200": ok(_data(PROFILE)), **errors(401)}),
            "patch": _op("studio_profile_update", "Change username, avatar or bio", {
                "200": ok(_data(PROFILE)), **errors(400, 401, 413)},
                requestBody=json_body({"type": "object", "properties": {
                    "username": _STR, "avatar": _STR, "bio": _STR}})),
        },
        "/api/user/check-in": {"post": _op("studio_check_in", "Check in for today (UTC)", {
            "201": ok(_data({"type": "object", "properties": {
                "date": _STR, "streak": {"type": "integer"}, "total": {"type": "integer"}},
                "required": ["date", "streak", "total"]})),
            **errors(401, 409)})},
        "/api/user/check-in/stats": {"get": _op("studio_check_in_stats", "Check-in totals and streaks", {
            "200": ok(_data({"type": "object", "properties": {
                "total": {"type": "integer"}, "streak": {"type": "integer"},
                "longest_streak": {"type": "integer"}, "last_date": {"type": ["string", "null"]},
                "month": {"type": "array", "items": _STR}},
                "required": ["total", "streak", "longest_streak", "last_date", "month"]})),
            **errors(401)})},
        "/api/user/settings": {
            "get": _op("studio_settings", "The user's settings (defaults on first read)", {
                "200": ok(_data({"type": "object"})), **errors(401)}),
            "put": _op("studio_settings_put", "Replace the settings (≤ 16 KiB; known keys are strings)", {
                "200": ok(_data({"type": "object"})), **errors(400, 401, 413, 422)},
                requestBody=json_body({"type": "object", "properties": {
                    k: _STR for k in ("language", "theme", "chat_model", "answer_length")}})),
        },
        "/api/sessions": {"get": _op("studio_sessions", "The user's sessions, newest first", {
            "200": ok({"type": "object", "properties": {
                "data": {"type": "array", "items": SESSION},
                "meta": {"type": "object", "properties": {k: {"type": "integer"} for k in
                                                          ("total", "limit", "offset")}}},
                "required": ["data", "meta"]}),
            **errors(400, 401)}, parameters=[
                query_param("limit", {"type": "integer", "minimum": 0, "maximum": 200}, "default 20"),
                query_param("offset", {"type": "integer", "minimum": 0}, "default 0")])},
        "/api/sessions/notes/{note_id}": {"delete": _op("studio_note_delete", "Delete a note", {
            "200": ok(_OK), **errors(401, 404)},
            parameters=[path_param("note_id", {"type": "string"}, "the note's id (digits)")])},
        "/api/sessions/{id}": {
            "get": _op("studio_session", "A session with its sources and notes", {
                "200": ok(_data({**SESSION, "properties": {
                    **SESSION["properties"], "sources": {"type": "array", "items": SOURCE},
                    "notes": {"type": "array", "items": NOTE}}})), **errors(401, 404)}, parameters=[_ID]),
            "patch": _op("studio_session_update", "Change a session's title or description", {
                "200": ok(_data(SESSION)), **errors(400, 401, 404, 413)}, parameters=[_ID],
                requestBody=json_body({"type": "object", "properties": {"title": _STR, "description": _STR}})),
            "delete": _op("studio_session_delete", "Delete a session with its sources, notes and files", {
                "200": ok(_OK), **errors(401, 404)}, parameters=[_ID]),
        },
        "/api/sessions/{id}/sources": {"post": _op("studio_source_add", "Add a source to a session", {
            "202": ok(_data(SOURCE), "Accepted: the source is processed in the background"),
            **errors(400, 401, 404, 413)}, parameters=[_ID], requestBody=_SOURCE_BODY)},
        "/api/sessions/{id}/notes": {"post": _op(
            "studio_note_create", "Write a note, or generate a summary or a mind map", {
                "201": ok(_data(NOTE)), **errors(400, 401, 404, 409, 413)}, parameters=[_ID],
            requestBody=json_body({"type": "object", "properties": {
                "kind": {"enum": ["note", "summary", "mindmap"]}, "title": _STR, "content": _STR}}))},
        "/api/sources/{id}": {"delete": _op("studio_source_delete", "Delete a source, its chunks and vectors", {
            "200": ok(_OK), **errors(401, 404)}, parameters=[_SOURCE_ID])},
        "/api/sources/{id}/rag-status": {"get": _op("studio_rag_status", "A source's processing state", {
            "200": ok(_data({"type": "object", "properties": {
                "id": _STR, "status": {"enum": ["pending", "processing", "ready", "failed"]},
                "progress": {"type": "number", "minimum": 0, "maximum": 1},
                "chunk_count": {"type": "integer"}, "error": _STR},
                "required": ["id", "status", "progress", "chunk_count"]})),
            **errors(401, 404)}, parameters=[_SOURCE_ID])},
        "/api/chat/completions": {"post": _op(
            "studio_chat", "A cited answer from the session's sources (OpenAI's format)", {
                "200": {"description": "stream (default): chat.completion.chunk SSE frames, one with "
                                       "citations, then [DONE]; stream false: one chat.completion",
                        "content": {"text/event-stream": {"schema": {"type": "string"}},
                                    JSON: {"schema": COMPLETION}}},
                "502": ok({"$ref": "#/components/schemas/Error"}, "The chat model failed (stream false)"),
                **errors(400, 401, 404, 409, 413)}, requestBody=json_body(_CHAT_BODY))},
        "/api/upload/presigned-url": {"post": _op(
            "studio_presign_upload", "Presigned upload URL (any signed-in user; the key is theirs)", {
                "200": ok(_PRESIGNED, "Upload and download URLs"), **errors(400, 403, 415)},
            requestBody=json_body({"type": "object", "properties": {
                "filename": _STR, "fileName": _STR, "contentType": _STR, "expiresIn": {"type": "integer"}}}))},
        "/db-test": {"get": _op("studio_db_test", "Time a count through Data", {
            "200": ok({"type": "object", "properties": {
                "ok": {"const": True}, "database": {"enum": ["sqlite", "postgresql"]},
                "latency_ms": {"type": "number"}}, "required": ["ok", "database", "latency_ms"]}),
            **errors(401)})},
        "/qdrant-test": {"get": _op("studio_vector_test", "The Knowledge vector store check", {
            "200": ok({"type": "object", "properties": {
                "ok": {"const": True}, "vector_store": _STR, "vectors": {"type": "integer"},
                "latency_ms": {"type": "number"}}, "required": ["ok", "vector_store", "vectors", "latency_ms"]}),
            **errors(401)})},
    }
    for kind, (summary, body) in from_kind.items():
        paths[f"/api/sessions/from-{kind}"] = {"post": _op(
            f"studio_from_{kind}", summary, {"202": _CREATED, **errors(400, 401, 404, 413)},
            requestBody=body)}
    return paths
