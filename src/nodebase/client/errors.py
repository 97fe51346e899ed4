"""Typed errors: every non-2xx answer becomes one of these, carrying the server's JSON
``{"error", "type", "context"}``."""

from __future__ import annotations

from typing import Any

import httpx


class ClientError(Exception):
    """An answer that was not a success (``status`` 4xx/5xx)."""

    status: int = 0

    def __init__(self, message: str, *, status: int, type: str = "", context: Any = None,
                 body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        #: the server's exception name (bknd's ``type``, e.g. ``"NotFoundException"``)
        self.type = type
        self.context = context if context is not None else {}
        self.body = body

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.type!r}, {self.message!r})"


class BadRequest(ClientError):
    """400, 422: the request was invalid (``context`` names what)."""


class Unauthorized(ClientError):
    """401: no or a wrong credential."""


class Forbidden(ClientError):
    """403: the caller may not do this (or the token is unusable)."""


class NotFound(ClientError):
    """404."""


class Conflict(ClientError):
    """409 (e.g. a unique value already taken)."""


class PayloadTooLarge(ClientError):
    """413: a body or a bulk change over a limit."""


class RateLimited(ClientError):
    """429: ``retry_after`` seconds (from ``Retry-After``), if the server said."""

    retry_after: float | None = None


class ServerError(ClientError):
    """5xx."""


_BY_STATUS: dict[int, type[ClientError]] = {400: BadRequest, 401: Unauthorized, 403: Forbidden,
                                            404: NotFound, 409: Conflict, 413: PayloadTooLarge,
                                            422: BadRequest, 429: RateLimited}


def error_for(resp: httpx.Response) -> ClientError:
    try:
        body: Any = resp.json()
    except ValueError:
        body = resp.text
    doc = body if isinstance(body, dict) else {}
    message = str(doc.get("error") or doc.get("message") or resp.reason_phrase or f"HTTP {resp.status_code}")
    kind = _BY_STATUS.get(resp.status_code) or (ServerError if resp.status_code >= 500 else ClientError)
    err = kind(message, status=resp.status_code, type=str(doc.get("type") or ""),
               context=doc.get("context"), body=body)
    if isinstance(err, RateLimited):
        try:
            err.retry_after = float(resp.headers["retry-after"])
        except (KeyError, ValueError):
            err.retry_after = None
    return err
