"""Which browser origins may call the API (CORS), decided in one place.

The setting ``cors_origins`` (env ``NODEBASE_CORS_ORIGINS``, comma-separated) lists origins:

* ``https://app.example.com`` — exactly that origin (scheme, host and port);
* ``http://localhost:*`` — that scheme and host on any port (or none);
* ``*`` — any other origin, but **without credentials** (``Access-Control-Allow-Origin: *``:
  browsers then send no cookies and may not read answers to credentialed requests).

An allowed origin is echoed back with ``Access-Control-Allow-Credentials: true``. Anything
else — ``null`` (sandboxed frames, ``file://`` pages) included — gets no CORS headers, and a
preflight from it a 403. :class:`CorsPolicy` is shared by the raw fast path
(:mod:`nodebase.kernel.asgi`) and :class:`CorsMiddleware` in front of the Starlette app, so
both answer the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nodebase.kernel import jsonutil

ALLOW_METHODS = b"GET, POST, PATCH, PUT, DELETE"
ALLOW_HEADERS = b"Content-Type, Content-Length, Authorization, Accept, X-API-Key"
MAX_AGE = b"600"
_ORIGIN = re.compile(r"^([a-z][a-z0-9+.-]*)://(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}|\*))?$")
_VARY = (b"vary", b"Origin")

Headers = list[tuple[bytes, bytes]]


class CorsInvalid(ValueError):
    pass


def _split(origin: str) -> tuple[str, str, str | None] | None:
    """(scheme, host, port or None) of a well-formed origin, lower-cased; None otherwise."""
    m = _ORIGIN.match(origin.strip().lower())
    if m is None:
        return None
    return m.group(1), m.group(2), m.group(3)


class CorsPolicy:
    def __init__(self, origins: Iterable[str]) -> None:
        self.origins = tuple(origins)
        self._exact: set[str] = set()
        self._any_port: set[str] = set()
        self.any_origin = False
        for entry in self.origins:
            if entry == "*":
                self.any_origin = True
                continue
            parts = _split(entry)
            if parts is None:
                raise CorsInvalid(
                    f"cors_origins: {entry!r} is not an origin (scheme://host[:port], "
                    "scheme://host:* for any port, or *)")
            scheme, host, port = parts
            if port == "*":
                self._any_port.add(f"{scheme}://{host}")
            else:
                self._exact.add(f"{scheme}://{host}" + (f":{port}" if port else ""))
        self._cache: dict[bytes, Headers] = {}

    def allows(self, origin: str) -> bool:
        """True when ``origin`` may make credentialed requests."""
        parts = _split(origin)
        if parts is None or parts[2] == "*":
            return False
        scheme, host, port = parts
        base = f"{scheme}://{host}"
        return (base + (f":{port}" if port else "")) in self._exact or base in self._any_port

    def headers(self, origin: bytes) -> Headers:
        """The CORS headers of an ordinary (non-preflight) answer to a request from ``origin``."""
        hit = self._cache.get(origin)
        if hit is not None:
            return hit
        text = origin.decode("latin-1")
        if self.allows(text):
            out: Headers = [(b"access-control-allow-origin", origin),
                            (b"access-control-allow-credentials", b"true"), _VARY]
        elif self.any_origin:
            out = [(b"access-control-allow-origin", b"*"), _VARY]
        else:
            out = [_VARY]
        if len(self._cache) >= 1024:
            self._cache.clear()
        self._cache[origin] = out
        return out

    def preflight(self, origin: bytes) -> tuple[int, Headers, bytes]:
        """Status, headers and body of the answer to a preflight (``OPTIONS`` + Origin)."""
        base = self.headers(origin)
        if base == [_VARY]:
            text = origin.decode("latin-1")
            body = jsonutil.dumps({
                "error": f"Origin {text!r} is not allowed to call this API (setting cors_origins)",
                "type": "CorsException",
                "context": {"origin": text, "setting": "cors_origins"},
            })
            return 403, [(b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode()), _VARY], body
        return 204, [*base, (b"access-control-allow-methods", ALLOW_METHODS),
                     (b"access-control-allow-headers", ALLOW_HEADERS),
                     (b"access-control-max-age", MAX_AGE)], b""


class CorsMiddleware:
    """Pure ASGI: answers preflights and adds the policy's headers to every HTTP answer."""

    def __init__(self, app: ASGIApp, policy: CorsPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = preflight = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                preflight = value
        if origin is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and preflight is not None:
            status, headers, body = self.policy.preflight(origin)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        extra = self.policy.headers(origin)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if not k.lower().startswith(b"access-control-allow-")]
                message = {**message, "headers": headers + extra}
            await send(message)

        await self.app(scope, receive, send_with_cors)
