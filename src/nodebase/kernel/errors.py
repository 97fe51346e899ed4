"""One error hierarchy, mapped to one JSON shape: ``{"error", "type", "context"}``.

Every client mistake raises a subclass of :class:`NodebaseError` with a 4xx status; the
transport layer turns it into a JSON response. Anything else that escapes is a bug and
becomes a 500 with a generic message (the details go to the log, never to the client).
"""

from __future__ import annotations

from typing import Any


class NodebaseError(Exception):
    status: int = 500
    type: str = "NodebaseError"

    def __init__(
        self,
        message: str,
        *,
        context: dict[str, Any] | None = None,
        status: int | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.context = context or {}
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type
        self.headers = headers or {}
        self.extra = extra or {}

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message, "type": self.type, "context": self.context}
        body.update(self.extra)
        return body


class BadRequest(NodebaseError):
    status = 400
    type = "BadRequestException"


class InvalidJson(BadRequest):
    type = "InvalidJsonException"


class InvalidQuery(NodebaseError):
    """A list/read query names an unknown field, operator or relation, or has a bad value."""

    status = 422
    type = "InvalidSearchParamsException"


class ValidationFailed(NodebaseError):
    """A body does not fit the entity: wrong type, missing required, bounds, pattern..."""

    status = 422
    type = "ValidationException"


class NotFound(NodebaseError):
    status = 404
    type = "NotFoundException"

    def __init__(self, message: str = "Not found", **kw: Any) -> None:
        super().__init__(message, **kw)


class Conflict(NodebaseError):
    status = 409
    type = "ConflictException"


class Unauthorized(NodebaseError):
    status = 401
    type = "AuthException"


class Forbidden(NodebaseError):
    status = 403
    type = "PermissionsException"


class PayloadTooLarge(NodebaseError):
    status = 413
    type = "PayloadTooLargeException"


class UnsupportedMediaType(NodebaseError):
    status = 415
    type = "UnsupportedMediaTypeException"


class TooManyRequests(NodebaseError):
    status = 429
    type = "TooManyRequestsException"


class ConfigInvalid(NodebaseError):
    """A configuration document (schema, roles...) failed validation.

    Answers in bknd's config-API shape, ``{"success": false, "type": "type-invalid",
    "errors": [...]}``, plus nodebase's ``error`` and ``context`` keys.
    """

    status = 400
    type = "type-invalid"

    def __init__(self, errors: list[dict[str, Any]], **kw: Any) -> None:
        first = errors[0]["error"] if errors else "invalid configuration"
        super().__init__(first, **kw)
        self.errors = errors

    def to_json(self) -> dict[str, Any]:
        return {
            "success": False,
            "type": self.type,
            "error": self.message,
            "errors": self.errors,
            "context": self.context,
        }
