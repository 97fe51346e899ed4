"""What every module needs to describe its routes in the node's OpenAPI 3.1 document.

A module registers a function with ``nb.add_openapi(fn)``. The document is built on every
request for it (nothing is cached), so ``fn(nb)`` describes the node as it is now. It returns
either path items (``{"/api/x": {"get": {...}}}``) or a part of a document::

    {"paths": {...}, "components": {"schemas": {...}}, "tags": [{"name": ..., ...}]}

The system module merges the parts: an operation replaces an earlier one for the same path and
method, a component schema name is kept by the first part that gives it. The shared pieces
(the ``Error`` schema, one response per error status, the security schemes) are named here so
that modules can refer to them with :func:`ref` and :func:`errors`.
"""

from __future__ import annotations

from typing import Any

JSON = "application/json"
Schema = dict[str, Any]

#: status -> (component name under #/components/responses, description)
ERROR_RESPONSES: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Malformed request: invalid JSON, a missing body, a bad configuration"),
    401: ("Unauthorized", "Authentication is required or failed"),
    403: ("Forbidden", "The caller's role lacks the permission (named in the body)"),
    404: ("NotFound", "Unknown entity, row, relation, file or module, or the module is disabled"),
    409: ("Conflict", "A unique value is taken, or a change would drop data without ?drop=1"),
    413: ("PayloadTooLarge", "The body is larger than the node accepts"),
    415: ("UnsupportedMediaType", "The body's content type is not accepted here"),
    416: ("RangeNotSatisfiable", "The requested range is outside the file"),
    422: ("Unprocessable", "The query or body names an unknown field or has a value of the wrong type"),
    429: ("TooManyRequests", "Too many attempts: wait for Retry-After seconds"),
    502: ("BadGateway", "An upstream service (an OAuth provider) could not be reached or answered wrongly"),
}

ERROR_SCHEMA: Schema = {
    "type": "object",
    "description": "Every error answer: a message, an exception type and a context naming the "
    "entity, field, parameter or operator at fault. Some errors add keys "
    "(permission errors: permission, description; config errors: success, errors).",
    "properties": {
        "error": {"type": "string", "description": "Human-readable message"},
        "type": {"type": "string", "description": "Exception type, e.g. InvalidSearchParamsException"},
        "context": {"type": "object", "description": "What the error is about"},
    },
    "required": ["error", "type"],
}

#: component schemas every document has; a module's own names must not take these
SHARED_SCHEMAS: dict[str, Schema] = {"Error": ERROR_SCHEMA}

#: the ways a caller authenticates; ``"security": []`` on an operation means "none needed"
SECURITY_SCHEMES: dict[str, Schema] = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                   "description": "Authorization: Bearer <token> (read first)"},
    "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "auth",
                   "description": "The signed auth cookie set at login"},
    "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                   "description": "An API key"},
}


def ref(name: str) -> Schema:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """``schema`` or null."""
    return {"anyOf": [schema, {"type": "null"}]}


def json_body(schema: Schema, description: str = "", required: bool = True) -> Schema:
    body: Schema = {"required": required, "content": {JSON: {"schema": schema}}}
    if description:
        body["description"] = description
    return body


def ok(schema: Schema, description: str = "Success") -> Schema:
    """A JSON response (the value of one status under ``responses``)."""
    return {"description": description, "content": {JSON: {"schema": schema}}}


def errors(*codes: int) -> dict[str, Schema]:
    """The shared error responses for ``codes`` (each answers the ``Error`` schema)."""
    return {str(c): {"$ref": f"#/components/responses/{ERROR_RESPONSES[c][0]}"} for c in codes}


def query_param(name: str, schema: Schema, description: str, **extra: Any) -> Schema:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema, **extra}


def path_param(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema}


def shared_components() -> dict[str, Any]:
    """The components every document starts with."""
    return {
        "schemas": dict(SHARED_SCHEMAS),
        "responses": {name: ok(ref("Error"), description)
                      for name, description in ERROR_RESPONSES.values()},
        "securitySchemes": dict(SECURITY_SCHEMES),
    }


__all__ = [
    "ERROR_RESPONSES", "JSON", "SHARED_SCHEMAS", "Schema", "errors",
    "json_body", "nullable", "ok", "path_param", "query_param", "ref", "shared_components",
]
