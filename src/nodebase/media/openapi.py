"""OpenAPI path items for the Media routes (registered with ``nb.add_openapi``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nodebase.kernel.openapi import errors as _err

TAG = "Media"
JSON = "application/json"
Op = dict[str, Any]


def _path(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string"}}


def _json(status: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {status: {"description": description, "content": {JSON: {"schema": schema}}}}


# a media row (the media entity); scope, reference and entity_id are null until a file is
# attached to a row's media field
_MEDIA_ROW: dict[str, Any] = {
    "type": "object",
    "properties": {k: {"type": t} for k, t in {
        "id": "integer", "path": "string", "folder": "boolean", "mime_type": ["string", "null"],
        "size": "integer", "scope": ["string", "null"], "etag": ["string", "null"],
        "modified_at": ["string", "null"], "reference": ["string", "null"],
        "entity_id": ["string", "null"], "metadata": ["object", "null"]}.items()},
    "required": ["id", "path"],
}
_UPLOADED: dict[str, Any] = {
    "type": "object",
    "properties": {
        "data": _MEDIA_ROW, "name": {"type": "string"},
        "meta": {"type": "object", "properties": {"size": {"type": "integer"},
                                                  "type": {"type": "string"}}},
        "etag": {"type": "string"}, "state": {"type": "object"}, "file": {"type": "object"},
    },
}
_FILE_BODY = {
    "required": True,
    "description": "The file: a raw body with the file's Content-Type (bknd's client), or "
                   "multipart/form-data (its first part with a file name)",
    "content": {"*/*": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {"schema": {"type": "object", "additionalProperties": {
                    "type": "string", "format": "binary"}}}},
}
_BYTES = {"*/*": {"schema": {"type": "string", "format": "binary"}}}


def _op(op_id: str, summary: str, permission: str, responses: dict[str, Any], **extra: Any) -> Op:
    return {"tags": [TAG], "operationId": op_id, "summary": summary,
            "description": f"Permission: `{permission}`.", "responses": responses, **extra}


def media_paths(nb: Any) -> Mapping[str, Any]:
    download = {
        "200": {"description": "The file", "content": _BYTES},
        "206": {"description": "The requested range (Content-Range)", "content": _BYTES},
        "304": {"description": "Not modified (If-None-Match matched the ETag)"},
        **_err(400, 403, 404, 416),
    }
    range_params = [
        {"name": "Range", "in": "header", "required": False, "schema": {"type": "string"},
         "description": "One `bytes=start-end` range"},
        {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}},
    ]
    upload = _op("media_upload", "Upload a file", "media.file.upload",
                 {**_json("201", "Stored", _UPLOADED), **_err(400, 403, 409, 413, 415)},
                 requestBody=_FILE_BODY)
    return {
        "/api/media/files": {"get": _op(
            "media_list", "List stored files", "media.file.list",
            {**_json("200", "The files", {"type": "array", "items": {"type": "object", "properties": {
                "key": {"type": "string"}, "last_modified": {"type": "string"},
                "size": {"type": "integer"}}}}), **_err(403)})},
        "/api/media/file/{filename}": {
            "get": _op("media_read", "Download a file (Range, ETag)", "media.file.read", download,
                       parameters=[_path("filename", "The file's name"), *range_params]),
            "delete": _op("media_delete", "Delete a file and its media row", "media.file.delete",
                          {**_json("200", "Deleted", {"type": "object"}), **_err(400, 403, 404)},
                          parameters=[_path("filename", "The file's name")]),
        },
        "/api/media/upload": {"post": {**upload, "operationId": "media_upload_unnamed",
                                       "summary": "Upload a file under a random name"}},
        "/api/media/upload/{filename}": {"post": {**upload, "parameters": [
            _path("filename", "Stored name, kept exactly (unsafe names are refused with 400)"),
            {"name": "overwrite", "in": "query", "required": False, "schema": {"type": "boolean"},
             "description": "Replace an existing file of this name (needs media.file.delete; "
                            "without it an existing name is 409)"}]}},
        "/api/media/entity/{entity}/{id}/{field}": {"post": _op(
            "media_upload_to_entity", "Attach a file to a row's media field",
            "media.file.upload, data.entity.update on the row",
            {**_json("201", "Stored and attached", {"type": "object", "properties": {
                "ok": {"type": "boolean"}, "result": _MEDIA_ROW}}),
             **_err(400, 403, 404, 413, 415)},
            requestBody=_FILE_BODY,
            parameters=[_path("entity", "Entity"), _path("id", "Row id"),
                        _path("field", "Media field"),
                        {"name": "overwrite", "in": "query", "required": False,
                         "schema": {"type": "boolean"},
                         "description": "Replace the field's files (else max_items applies)"}])},
        "/api/upload/presigned-url": {"post": _op(
            "media_presign_upload", "Presigned upload URL", "media.file.upload",
            {**_json("200", "Upload and download URLs", {"type": "object", "properties": {
                **{k: {"type": "string"} for k in ("uploadUrl", "method", "objectKey", "expiresAt",
                                                   "downloadUrl")},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "expiresIn": {"type": "integer"},
                "maxSize": {"type": ["integer", "null"], "description": "null: no limit"},
                "completeUrl": {"type": ["string", "null"], "description":
                                "S3: POST here once uploaded; null when the node stores it"}}}),
             **_err(400, 403, 415)},
            requestBody={"required": True, "content": {JSON: {"schema": {
                "type": "object", "required": ["fileName"], "properties": {
                    "fileName": {"type": "string"}, "contentType": {"type": "string"},
                    "expiresIn": {"type": "integer"}}}}}})},
        "/api/upload/complete": {"post": _op(
            "media_presign_complete", "Record an object uploaded straight to S3",
            "media.file.upload",
            {**_json("201", "Recorded", {"type": "object", "properties": {"data": _MEDIA_ROW}}),
             **_err(400, 403, 404, 413, 415)},
            requestBody={"required": True, "content": {JSON: {"schema": {
                "type": "object", "properties": {"objectKey": {"type": "string"}}}}}})},
        "/api/media/presigned-url": {"post": _op(
            "media_presign_download", "Presigned download URL", "media.file.read",
            {**_json("200", "The URL", {"type": "object"}), **_err(400, 403, 404)},
            requestBody={"required": True, "content": {JSON: {"schema": {
                "type": "object", "properties": {"name": {"type": "string"},
                                                 "expiresIn": {"type": "integer"}}}}}})},
        "/api/media/signed/{key}": {
            "get": {"tags": [TAG], "operationId": "media_signed_download", "security": [],
                    "summary": "Download through a node-signed URL (local storage)",
                    "parameters": [_path("key", "Object key"), *range_params],
                    "responses": {**download}},
            "put": {"tags": [TAG], "operationId": "media_signed_upload", "security": [],
                    "summary": "Upload through a node-signed URL (local storage)",
                    "parameters": [_path("key", "Object key")], "requestBody": _FILE_BODY,
                    "responses": {**_json("201", "Stored", _UPLOADED), **_err(403, 409, 413)}},
        },
    }
