"""uvicorn's httptools protocol with header, body and first-byte timeouts and a connection limit.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but has no timeout for a
connection that never sends a request, for headers that trickle in (slowloris) or for a body
that never arrives, and its ``limit_concurrency`` lets WebSocket upgrades through. This
subclass adds them with one deadline per connection, checked by one sweep per worker (a few
attribute writes per request instead of a timer each):

* connection open, nothing sent → closed after ``header_timeout``;
* request line and headers not complete within ``header_timeout`` of their first byte → 408;
* no body bytes for ``body_timeout`` while a body is expected → 408 (or closed, when the
  response already started), so the application's ``receive()`` sees ``http.disconnect``;
* more than ``max_connections`` open connections in this worker (HTTP and WebSocket) → the
  extra connection's request is answered 503 and the connection closed.

uvicorn passes the protocol class ``(config, server_state, app_state)``; the limits come from
the worker's settings (the ``NODEBASE_*`` environment ``nodebase serve`` sets for workers).
"""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from nodebase.kernel import jsonutil
from nodebase.kernel.config import load_settings

_OPEN, _HEADERS, _BODY = 1, 2, 3  # what the connection's deadline is waiting for


@cache
def _limits() -> tuple[float, float, int]:
    s = load_settings()
    return s.header_timeout, s.body_timeout, s.max_connections


def _response(status: bytes, error: str, kind: str, context: dict[str, Any]) -> bytes:
    body = jsonutil.dumps({"error": error, "type": kind, "context": context})
    return b"".join([
        b"HTTP/1.1 ", status, b"\r\ncontent-type: application/json\r\ncontent-length: ",
        str(len(body)).encode(), b"\r\nconnection: close\r\n\r\n", body,
    ])


async def _too_many_connections(scope: Any, receive: Any, send: Any) -> None:
    body = jsonutil.dumps({"error": "Too many open connections, try again later",
                           "type": "ServiceUnavailable",
                           "context": {"max_connections": _limits()[2]}})
    await send({"type": "http.response.start", "status": 503, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"1"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """See the module docstring."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout, self.body_timeout, self.max_connections = _limits()
        self.deadline = 0.0  # loop time; 0 = nothing awaited from the client
        self.waiting_for = 0
        self.upgraded = False

    # --- connection
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.deadline = self.loop.time() + self.header_timeout
        self.waiting_for = _OPEN
        if len(self.connections) > self.max_connections:
            self.app = _too_many_connections
        _Sweeper.ensure(self.loop, self.server_state, self.header_timeout, self.body_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.deadline = 0.0
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # bytes that start no request (e.g. bare CRLFs) must not keep an idle connection open
        if (not self.deadline and self.timeout_keep_alive_task is None and not self.upgraded
                and (self.cycle is None or self.cycle.response_complete)):
            self.deadline = self.loop.time() + self.header_timeout
            self.waiting_for = _OPEN

    def handle_websocket_upgrade(self) -> None:
        self.deadline = 0.0
        if len(self.connections) > self.max_connections:
            self.transport.write(_response(b"503 Service Unavailable",
                                           "Too many open connections, try again later",
                                           "ServiceUnavailable",
                                           {"max_connections": self.max_connections}))
            self.transport.close()
            return
        self.upgraded = True
        super().handle_websocket_upgrade()

    # --- parser callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.waiting_for != _OPEN or not self.deadline:  # a fresh connection keeps its deadline
            self.deadline = self.loop.time() + self.header_timeout
        self.waiting_for = _HEADERS

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self.deadline = self.loop.time() + self.body_timeout
        self.waiting_for = _BODY

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self.deadline = self.loop.time() + self.body_timeout

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.deadline = 0.0

    # --- expiry (called by the sweep)
    def expire(self, now: float) -> None:
        if self.transport is None or self.transport.is_closing():
            self.deadline = 0.0
            return
        if self.waiting_for == _BODY and self.pipeline:
            self.deadline = now + self.body_timeout  # queued behind another request: not its turn
            return
        self.deadline = 0.0
        cycle = self.cycle
        answering = cycle is not None and cycle.response_started and not cycle.response_complete
        if self.waiting_for == _HEADERS and not answering:
            self.transport.write(_response(
                b"408 Request Timeout", "The request headers did not arrive in time",
                "RequestTimeout", {"header_timeout": self.header_timeout}))
        elif self.waiting_for == _BODY and not (cycle is not None and cycle.response_started):
            self.transport.write(_response(
                b"408 Request Timeout", "The request body did not arrive in time",
                "RequestTimeout", {"body_timeout": self.body_timeout}))
        if cycle is not None and not cycle.response_complete:
            # as connection_lost does: receive() answers http.disconnect, send() drops messages
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()


class _Sweeper:
    """Once per interval, expire the connections of one server whose deadline passed."""

    def __init__(self, loop: asyncio.AbstractEventLoop, server_state: Any, interval: float) -> None:
        self.loop = loop
        self.connections: set[Any] = server_state.connections
        self.interval = interval
        loop.call_later(interval, self.sweep)

    @classmethod
    def ensure(cls, loop: asyncio.AbstractEventLoop, server_state: Any, *timeouts: float) -> None:
        if getattr(server_state, "nodebase_sweeper", None) is None:
            interval = max(0.05, min(1.0, min(timeouts) / 4))
            server_state.nodebase_sweeper = cls(loop, server_state, interval)

    def sweep(self) -> None:
        now = self.loop.time()
        for conn in list(self.connections):
            deadline = getattr(conn, "deadline", 0.0)
            if deadline and deadline <= now:
                conn.expire(now)
        self.loop.call_later(self.interval, self.sweep)
