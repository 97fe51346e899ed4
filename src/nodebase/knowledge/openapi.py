"""OpenAPI path items for the Knowledge routes (registered with ``nb.add_openapi``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nodebase.kernel.openapi import errors as _err
from nodebase.kernel.openapi import path_param, query_param

TAG = "Knowledge"
JSON = "application/json"
SSE = "text/event-stream"
BASE = "/api/knowledge"
Op = dict[str, Any]

_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_INT = {"type": "integer"}
_NUM = {"type": "number"}

COLLECTION: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "owner_id", "description", "created_at", "document_count", "chunk_count"],
    "properties": {"id": _STR, "name": _STR, "owner_id": _NSTR, "description": _STR,
                   "created_at": _NUM, "document_count": _INT, "chunk_count": _INT},
}
DOCUMENT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "collection_id", "state", "progress"],
    "properties": {
        "id": _STR, "collection_id": _STR, "owner_id": _NSTR,
        "kind": {"type": "string", "enum": ["text", "url", "pdf", "html", "media"]},
        "title": _STR, "source": _STR,
        "state": {"type": "string", "enum": ["pending", "processing", "ready", "failed"]},
        "error": _NSTR, "progress": {"type": "number", "minimum": 0, "maximum": 1},
        "attempts": _INT, "chunk_count": _INT, "char_count": _INT,
        "page_count": {"type": ["integer", "null"]}, "metadata": {"type": "object"},
        "created_at": _NUM, "updated_at": _NUM,
    },
}
PASSAGE: dict[str, Any] = {
    "type": "object",
    "required": ["chunk_id", "document_id", "collection_id", "text", "start", "end", "score"],
    "properties": {
        "chunk_id": _STR, "document_id": _STR, "collection_id": _STR, "text": _STR,
        "start": _INT, "end": _INT, "page": {"type": ["integer", "null"]}, "score": _NUM,
        "document_title": _STR,
        "ranks": {"type": "object", "additionalProperties": {"type": "integer"},
                  "description": "1-based rank in each list that found it (keyword, vector)"},
    },
}
_DELETED = {"type": "object", "properties": {"data": {"type": "object", "properties": {
    "id": _STR, "deleted": {"type": "boolean"}}}}}
_STREAM = {"description": "Server-sent events: `passages`, `token`…, `citations`, `done` "
                          "(or `error`); each `data:` is a JSON object repeating `type`",
           "content": {SSE: {"schema": {
               "type": "object", "required": ["event", "data"], "properties": {
                   "event": {"type": "string",
                             "enum": ["passages", "token", "citations", "done", "error"]},
                   "data": {"type": "string", "description": "JSON: the event with its type"}}}}}}
_IDS = {"oneOf": [{"type": "array", "items": _STR}, _STR]}


def _data(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["data"], "properties": {"data": schema}}


def _ok(status: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {status: {"description": description, "content": {JSON: {"schema": schema}}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": schema}}}


def _op(op_id: str, summary: str, permission: str, responses: dict[str, Any], **extra: Any) -> Op:
    return {"tags": [TAG], "operationId": op_id, "summary": summary,
            "description": f"Permission: `{permission}`.", "responses": responses, **extra}


_ID = [path_param("id", _STR, "The collection's or document's id")]
_EXTRACTIVE = query_param("extractive", {"type": "boolean"},
                          "Answer extractively even when a chat model is configured")


def knowledge_paths(nb: Any) -> Mapping[str, Any]:
    add_body = {"required": True, "content": {
        JSON: {"schema": {"type": "object", "description": 'Exactly one of "text", "url", "media"',
                          "properties": {"text": _STR, "url": _STR, "media": _STR, "title": _STR}}},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"}, "title": _STR}}},
        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
    }}
    return {
        BASE: {"get": _op("knowledge_info", "Embedder, vector store and answerer",
                          "knowledge.read", {**_ok("200", "The module's setup", _data({"type": "object"})),
                                             **_err(401, 403)})},
        f"{BASE}/collections": {
            "get": _op("knowledge_list_collections", "The caller's collections", "knowledge.read",
                       {**_ok("200", "Collections", _data({"type": "array", "items": COLLECTION})),
                        **_err(401, 403)}),
            "post": _op("knowledge_create_collection", "Create a collection", "knowledge.write",
                        {**_ok("201", "Created", _data(COLLECTION)), **_err(400, 401, 403)},
                        requestBody=_body({"type": "object", "required": ["name"], "properties": {
                            "name": _STR, "description": _STR}})),
        },
        f"{BASE}/collections/{{id}}": {
            "get": _op("knowledge_get_collection", "One collection", "knowledge.read",
                       {**_ok("200", "The collection", _data(COLLECTION)), **_err(401, 403, 404)},
                       parameters=_ID),
            "patch": _op("knowledge_update_collection", "Rename or describe a collection",
                         "knowledge.write",
                         {**_ok("200", "Updated", _data(COLLECTION)), **_err(400, 401, 403, 404)},
                         parameters=_ID, requestBody=_body({"type": "object", "properties": {
                             "name": _STR, "description": _STR}})),
            "delete": _op("knowledge_delete_collection",
                          "Delete a collection with its documents, chunks, vectors and files",
                          "knowledge.write", {**_ok("200", "Deleted", _DELETED), **_err(401, 403, 404)},
                          parameters=_ID),
        },
        f"{BASE}/collections/{{id}}/documents": {
            "get": _op("knowledge_list_documents", "A collection's documents", "knowledge.read",
                       {**_ok("200", "Documents", _data({"type": "array", "items": DOCUMENT})),
                        **_err(401, 403, 404)}, parameters=_ID),
            "post": _op("knowledge_add_document",
                        "Add a document: text, URL, Media file, multipart upload or raw body "
                        "(with ?filename=); ingested in the background",
                        "knowledge.write (and media.file.read for a Media file)",
                        {**_ok("202", "Accepted (pending)", _data(DOCUMENT)),
                         **_err(400, 401, 403, 404, 413)},
                        parameters=[*_ID, query_param("filename", _STR, "Name of a raw upload")],
                        requestBody=add_body),
        },
        f"{BASE}/collections/{{id}}/summary": {"get": _op(
            "knowledge_summary", "A cited summary of the collection, streamed", "knowledge.read",
            {"200": _STREAM, **_err(400, 401, 403, 404)}, parameters=[*_ID, _EXTRACTIVE])},
        f"{BASE}/collections/{{id}}/mindmap": {"get": _op(
            "knowledge_mind_map", "A Markdown heading outline of the collection", "knowledge.read",
            {**_ok("200", "The outline", _data({"type": "object", "required": ["markdown"],
                                                "properties": {"markdown": _STR}})),
             **_err(400, 401, 403, 404)}, parameters=[*_ID, _EXTRACTIVE])},
        f"{BASE}/documents/{{id}}": {
            "get": _op("knowledge_get_document", "One document with its state and progress",
                       "knowledge.read",
                       {**_ok("200", "The document", _data(DOCUMENT)), **_err(401, 403, 404)},
                       parameters=_ID),
            "delete": _op("knowledge_delete_document",
                          "Delete a document with its chunks, vectors and stored file",
                          "knowledge.write", {**_ok("200", "Deleted", _DELETED), **_err(401, 403, 404)},
                          parameters=_ID),
        },
        f"{BASE}/documents/{{id}}/retry": {"post": _op(
            "knowledge_retry_document", "Put a failed document back to pending", "knowledge.write",
            {**_ok("202", "Accepted (pending)", _data(DOCUMENT)), **_err(400, 401, 403, 404)},
            parameters=_ID)},
        f"{BASE}/search": {"get": _op(
            "knowledge_search", "Hybrid search: keyword and vector lists fused by RRF",
            "knowledge.read",
            {**_ok("200", "Passages, best first", _data({"type": "array", "items": PASSAGE})),
             **_err(400, 401, 403, 404)},
            parameters=[
                {**query_param("q", _STR, "The query"), "required": True},
                query_param("collection", _STR, "Comma-separated collection ids"),
                query_param("document", _STR, "Comma-separated document ids"),
                query_param("k", {"type": "integer", "minimum": 1, "maximum": 50}, "Passages (default 8)"),
                query_param("mode", {"type": "string", "enum": ["hybrid", "keyword", "vector"]},
                            "Which lists to use (default hybrid)"),
            ])},
        f"{BASE}/ask": {"post": _op(
            "knowledge_ask", "A cited answer, streamed token by token", "knowledge.read",
            {"200": _STREAM, **_err(400, 401, 403, 404)},
            requestBody=_body({"type": "object", "required": ["question"], "properties": {
                "question": _STR, "collection_ids": _IDS, "document_ids": _IDS,
                "k": {"type": "integer", "minimum": 1, "maximum": 50},
                "history": {"type": "array", "items": {"type": "object", "properties": {
                    "role": _STR, "content": _STR}}},
                "extractive": {"type": "boolean"}}}))},
    }
