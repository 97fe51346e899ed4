"""Resolve the caller once per request, before routing (pure ASGI: a few microseconds).

The caller goes into ``scope["nodebase.caller"]``; ``Nodebase.caller(request)`` reads it back
synchronously, so handlers and the guard never wait on the database. Requests without
credentials pay one pass over the headers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Receive, Scope, Send

from nodebase.kernel.caller import ANONYMOUS, Caller

if TYPE_CHECKING:
    from nodebase.auth.service import AuthService

SCOPE_KEY = "nodebase.caller"


def auth_cookie(header: bytes) -> str | None:
    """The raw value of the ``auth`` cookie in a ``Cookie`` header."""
    if b"auth=" not in header:
        return None
    for part in header.decode("latin-1").split(";"):
        name, _, value = part.strip().partition("=")
        if name == "auth":
            return value.strip().strip('"') or None
    return None


class AuthMiddleware:
    def __init__(self, app: ASGIApp, service: AuthService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            authorization = api_key = cookie = None
            for name, value in scope["headers"]:
                if name == b"authorization":
                    authorization = value.decode("latin-1")
                elif name == b"x-api-key":
                    api_key = value.decode("latin-1")
                elif name == b"cookie":
                    cookie = auth_cookie(value) or cookie
            if authorization or api_key or cookie:
                scope[SCOPE_KEY] = await self.service.caller_from(authorization, api_key, cookie)
        await self.app(scope, receive, send)

    def __getattr__(self, name: str) -> Any:
        # the wrapped application's attributes (e.g. ``state``) stay reachable
        return getattr(self.app, name)


def caller_of(request: Any) -> Caller:
    caller: Caller = request.scope.get(SCOPE_KEY, ANONYMOUS)
    return caller
