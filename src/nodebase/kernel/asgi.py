"""A thin raw-ASGI front for the hottest routes (ping, entity CRUD).

Starlette's middleware stack costs ~75 µs per request on the target box, more than the
work of a primary-key read; the routes here skip it and everything else falls through to
the Starlette application. Behaviour is the same: NodebaseError → its JSON 4xx, a client that
disconnected mid-body → nothing (not an error), anything else → logged 500, and the CORS
headers of the same :class:`~nodebase.kernel.cors.CorsPolicy` the Starlette side uses.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from nodebase.kernel import jsonutil
from nodebase.kernel.cors import CorsPolicy
from nodebase.kernel.errors import NodebaseError, PayloadTooLarge

log = logging.getLogger("nodebase.http")

MAX_BODY = 16 * 1024 * 1024
_JSON_HEADERS = [(b"content-type", b"application/json")]


@dataclass
class Call:
    """One request on the fast path."""

    scope: Scope
    receive: Receive
    params: dict[str, str]
    nb: Any
    _request: Request | None = field(default=None, repr=False)
    _body: bytes | None = field(default=None, repr=False)

    @property
    def request(self) -> Request:
        if self._request is None:
            self._request = Request(self.scope, self.receive)
        return self._request

    @property
    def caller(self) -> Any:
        return self.nb.caller(self.request)

    def query(self) -> list[tuple[str, str]]:
        qs = self.scope.get("query_string", b"")
        return QueryParams(qs).multi_items() if qs else []

    def header(self, name: bytes) -> bytes | None:
        for k, v in self.scope["headers"]:
            if k == name:
                return bytes(v)
        return None

    async def body(self) -> bytes:
        if self._body is None:
            chunks: list[bytes] = []
            size = 0
            more = True
            while more:
                message = await self.receive()
                if message["type"] != "http.request":  # http.disconnect: nobody to answer
                    raise ClientDisconnect()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > MAX_BODY:
                    raise PayloadTooLarge(f"JSON body is larger than {MAX_BODY} bytes")
                chunks.append(chunk)
                more = message.get("more_body", False)
            self._body = b"".join(chunks)
        return self._body

    async def json(self, *, required: bool = True) -> Any:
        from nodebase.kernel.errors import BadRequest

        body = await self.body()
        if not body.strip():
            if required:
                raise BadRequest("A JSON body is required")
            return None
        return jsonutil.loads(body, what="request body")


Handler = Callable[[Call], Awaitable[tuple[int, Any]]]


class FastRouter:
    """Routes by path segments: ``/api/data/entity/{entity}/{id}`` → ("api","data","entity",*)."""

    def __init__(self, nb: Any, fallback: ASGIApp, cors: CorsPolicy | None = None) -> None:
        self.nb = nb
        self.fallback = fallback
        self.cors = cors or CorsPolicy(())
        self.exact: dict[tuple[str, str], bytes] = {}
        self.prefixes: list[tuple[tuple[str, ...], dict[int, dict[str, Handler]], list[str]]] = []
        self.websockets: dict[str, ASGIApp] = {}

    def static(self, method: str, path: str, body: bytes) -> None:
        self.exact[(method, path)] = body

    def websocket(self, path: str, app: ASGIApp) -> None:
        """WebSocket connections to ``path`` go straight to ``app`` (see ``Node.add_websocket``)."""
        self.websockets[path] = app

    def add(self, prefix: str, names: list[str], table: dict[int, dict[str, Handler]]) -> None:
        """``table[n][method]`` handles paths with ``n`` segments after ``prefix``, named ``names``."""
        parts = tuple(p for p in prefix.split("/") if p)
        self.prefixes.append((parts, table, names))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            direct = self.websockets.get(scope["path"]) if scope["type"] == "websocket" else None
            await (direct or self.fallback)(scope, receive, send)
            return
        await self.nb.refresh()
        method: str = scope["method"]
        path: str = scope["path"]
        static = self.exact.get((method, path))
        if static is not None:
            scope["nodebase.route"] = path
            await self._send(scope, send, 200, static)
            return
        for parts, table, names in self.prefixes:
            n = len(parts)
            segs = path.split("/")[1:]
            if len(segs) <= n or tuple(segs[:n]) != parts:
                continue
            rest = segs[n:]
            if rest and rest[-1] == "":
                rest.pop()
            by_method = table.get(len(rest))
            if by_method is None:
                break
            handler = by_method.get(method)
            if handler is None:
                if method == "OPTIONS":
                    break
                await self._send(scope, send, 405, jsonutil.dumps(
                    {"error": "Method not allowed", "type": "HTTPException",
                     "context": {"path": path, "method": method}}))
                return
            params = {names[i]: rest[i] for i in range(len(rest)) if i < len(names)}
            scope["nodebase.route"] = "/".join(("", *parts, *(f"{{{nm}}}" for nm in names[:len(rest)])))
            if len(rest) > len(names):
                params["_extra"] = "/".join(rest[len(names):])
            call = Call(scope, receive, params, self.nb)
            try:
                status, payload = await handler(call)
                body = payload if isinstance(payload, bytes) else jsonutil.dumps(payload)
            except NodebaseError as exc:
                status, body = exc.status, jsonutil.dumps(exc.to_json())
            except ClientDisconnect:  # the client left mid-request: not an error, no answer
                return
            except Exception:
                log.exception("unhandled error on %s %s", method, path)
                status = 500
                body = b'{"error":"Internal server error","type":"InternalError","context":{}}'
            await self._send(scope, send, status, body)
            return
        await self.fallback(scope, receive, send)

    async def _send(self, scope: Scope, send: Send, status: int, body: bytes) -> None:
        headers = list(_JSON_HEADERS)
        headers.append((b"content-length", str(len(body)).encode()))
        for k, v in scope["headers"]:
            if k == b"origin":
                headers += self.cors.headers(v)
                break
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
