"""Kept-alive HTTP/1.1 client connections for :mod:`nodebase.kernel.outbound`, one pool per route.

A *route* is (scheme, checked IP, port, TLS server name): :mod:`nodebase.kernel.outbound`
resolves and checks every request first and only then asks the route of that very address for
a connection, so a kept-alive connection only carries requests checked to go there and, for
HTTPS, whose certificate was verified for that very name.

The client is an :class:`asyncio.Protocol` with httptools' response parser (llhttp, the parser
the server already uses): one write per request, the parser's callbacks fill the response, no
stream or task objects per request. It replaced an ``httpx.AsyncClient`` per route, whose
per-request machinery (request/response models, httpcore's pool scan, anyio stream wrappers)
cost a webhook delivery several times the CPU of the create that triggered it (bench/flows.py).

What it does: Content-Length and chunked bodies, bodies delimited by the connection's end,
bodies bounded by ``max_bytes`` while they arrive, ``HEAD`` (the connection is then not
reused), keep-alive as the response allows, header names and values checked (no CR/LF/NUL:
templated headers cannot smuggle a second request), a request on a kept-alive connection that
the server closed before answering sent once more on a new connection.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import httptools

from nodebase.kernel.errors import NodebaseError

log = logging.getLogger("nodebase.outbound")

#: routes with a pool kept, per event loop (least recently used dropped first)
MAX_ROUTES = 64
#: connections per route at once (the flows runner executes up to 32 runs at once), and how
#: long an idle one is kept
ROUTE_CONNECTIONS = 32
KEEPALIVE_SECONDS = 5.0

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_VALUE = re.compile(r"[\r\n\x00]")
_PATH_SAFE = "/%!$&'()*+,;=:@-._~"
_QUERY_SAFE = _PATH_SAFE + "?"
#: set from the request itself, never copied from the caller's headers
_FRAMING = {"content-length", "transfer-encoding", "host", "connection"}
_NO_BODY_STATUS = {204, 304}


class ExchangeFailed(NodebaseError):
    """The connection could not be made or broke before a whole answer arrived (``reason``:
    ``unreachable``), the answer was too large (``too_large``) or a header was refused
    (``headers``). :mod:`nodebase.kernel.outbound` turns it into ``OutboundRefused``."""

    def __init__(self, message: str, reason: str, status: int | None = None,
                 context: dict[str, Any] | None = None) -> None:
        super().__init__(message, status=status, context=context or {})
        self.reason = reason


class _Stale(Exception):
    """A kept-alive connection closed before any byte of the answer: safe to send again."""


class _TooLarge(Exception):
    pass


def request_head(method: str, target_path: str, host_header: str, headers: dict[str, str],
                 body: bytes | None) -> bytes:
    """The request line and headers, checked (a bad name or value raises ``ExchangeFailed``)."""
    lines = [f"{method} {target_path} HTTP/1.1", f"Host: {host_header}"]
    has_accept = False
    for name, value in headers.items():
        low = name.lower()
        if low in _FRAMING:
            continue
        if not _TOKEN.match(name):
            raise ExchangeFailed(f"invalid header name {name!r}", "headers", 400, {"header": name})
        value = str(value)
        if _BAD_VALUE.search(value):
            raise ExchangeFailed(f"the value of header {name!r} contains a line break or NUL", "headers",
                                 400, {"header": name})
        has_accept = has_accept or low == "accept"
        lines.append(f"{name}: {value.strip()}")
    if not has_accept:
        lines.append("Accept: */*")
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    text = "\r\n".join(lines) + "\r\n\r\n"
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def target_path(path: str, query: str) -> str:
    """The request target: the path and query, percent-encoded where they are not already."""
    from urllib.parse import quote

    out = quote(path or "/", safe=_PATH_SAFE)
    return f"{out}?{quote(query, safe=_QUERY_SAFE)}" if query else out


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; the parser's callbacks fill the answer to the request in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.reusable = True
        self._parser = httptools.HttpResponseParser(self)
        self._done: asyncio.Future[None] | None = None
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._size = 0
        self._max_bytes = 0
        self._head = False
        self._received = False
        self._until_eof = False
        self._headers_done = False
        self._failure: BaseException | None = None

    # -- asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._done is None or self._done.done():
            self.reusable = False  # bytes nobody asked for: this connection is out of step
            self.close()
            return
        self._received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.reusable = False
            self._finish()
        except httptools.HttpParserCallbackError:
            self._fail(self._failure or ExchangeFailed("the answer could not be read", "unreachable"))
        except httptools.HttpParserError as exc:
            self._fail(ExchangeFailed(f"malformed answer: {exc}", "unreachable"))

    def eof_received(self) -> bool:
        if self._done is not None and not self._done.done() and self._headers_done and self._until_eof:
            self.reusable = False
            self._finish()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        if self._done is not None and not self._done.done():
            self._fail(_Stale() if not self._received else
                       ExchangeFailed("the connection closed before a whole answer arrived", "unreachable"))

    # -- httptools callbacks --------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        self._headers_done = True
        length: int | None = None
        chunked = False
        for name, value in self._headers:
            low = name.lower()
            if low == b"content-length" and value.strip().isdigit():
                length = int(value)
            elif low == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if length is not None and length > self._max_bytes and not self._head:
            self._failure = ExchangeFailed(f"the response is larger than {self._max_bytes} bytes",
                                           "too_large", 413, {"max_bytes": self._max_bytes})
            raise _TooLarge
        if self._head:
            self.reusable = False  # llhttp would wait for the body HEAD announces
            self._finish()
            return
        self._until_eof = (length is None and not chunked and self._status >= 200
                           and self._status not in _NO_BODY_STATUS)

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._max_bytes:
            self._failure = ExchangeFailed(f"the response is larger than {self._max_bytes} bytes",
                                           "too_large", 413, {"max_bytes": self._max_bytes})
            raise _TooLarge
        self._body.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:  # an interim answer (100 Continue): the real one follows
            self._headers, self._headers_done = [], False
            return
        if not self._parser.should_keep_alive():
            self.reusable = False
        self._finish()

    # -- requests -------------------------------------------------------------------------
    def _finish(self) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        self.reusable = False
        if self._done is not None and not self._done.done():
            self._done.set_exception(exc)
        self.close()

    async def request(self, data: bytes, *, head: bool, max_bytes: int
                      ) -> tuple[int, dict[str, str], bytes]:
        assert self.transport is not None
        self._done = asyncio.get_running_loop().create_future()
        self._status, self._headers, self._body, self._size = 0, [], [], 0
        self._max_bytes, self._head, self._received = max_bytes, head, False
        self._until_eof = self._headers_done = False
        self._failure = None
        self.transport.write(data)
        await self._done
        headers: dict[str, str] = {}
        for name, value in self._headers:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        return self._status, headers, b"".join(self._body)

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()


class Route:
    """The connections of one checked address (and TLS name), at most :data:`ROUTE_CONNECTIONS`."""

    def __init__(self, scheme: str, ip: str, port: int, sni: str | None,
                 ssl_context: ssl.SSLContext | None) -> None:
        self.scheme, self.ip, self.port, self.sni = scheme, ip, port, sni
        self.ssl_context = ssl_context
        self.idle: list[_Connection] = []
        #: requests in flight (an evicted route is closed once it has none)
        self.active = 0
        self.evicted = False
        self._slots = asyncio.Semaphore(ROUTE_CONNECTIONS)
        self._sweep: asyncio.TimerHandle | None = None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _transport, conn = await loop.create_connection(
                _Connection, self.ip, self.port, ssl=self.ssl_context,
                server_hostname=self.sni if self.ssl_context is not None else None)
        except (OSError, ssl.SSLError, ssl.CertificateError) as exc:
            log.debug("outbound: connecting to %s:%d (%s) failed: %s", self.ip, self.port, self.scheme,
                      type(exc).__name__)
            raise ExchangeFailed(f"{type(exc).__name__}", "unreachable") from None
        log.debug("outbound: connection opened to %s:%d (%s%s)", self.ip, self.port, self.scheme,
                  f", TLS name {self.sni}" if self.ssl_context is not None else "")
        return conn

    def _take_idle(self) -> _Connection | None:
        now = time.monotonic()
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed and now - conn.idle_since < KEEPALIVE_SECONDS:
                return conn
            conn.close()
        return None

    async def exchange(self, data: bytes, *, head: bool, max_bytes: int
                       ) -> tuple[int, dict[str, str], bytes]:
        async with self._slots:
            conn = self._take_idle()
            reused = conn is not None
            if conn is None:
                conn = await self._connect()
            try:
                try:
                    result = await conn.request(data, head=head, max_bytes=max_bytes)
                except _Stale:
                    if not reused:
                        raise ExchangeFailed("the connection closed before an answer", "unreachable") from None
                    conn = await self._connect()  # the server had closed the kept-alive one
                    result = await conn.request(data, head=head, max_bytes=max_bytes)
            except _Stale:
                raise ExchangeFailed("the connection closed before an answer", "unreachable") from None
            except BaseException:
                conn.close()
                raise
            if conn.reusable and not conn.closed and not self.evicted:
                conn.idle_since = time.monotonic()
                self.idle.append(conn)
                self._schedule_sweep()
            else:
                conn.close()
            return result

    def _schedule_sweep(self) -> None:
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(KEEPALIVE_SECONDS, self._expire)

    def _expire(self) -> None:
        self._sweep = None
        now = time.monotonic()
        keep = []
        for conn in self.idle:
            if conn.closed or now - conn.idle_since >= KEEPALIVE_SECONDS:
                conn.close()
            else:
                keep.append(conn)
        self.idle = keep
        if keep:
            self._schedule_sweep()

    def close(self) -> None:
        self.evicted = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for conn in self.idle:
            conn.close()
        self.idle = []


class Pools:
    """The routes of one event loop, bounded (:data:`MAX_ROUTES`, least recently used out)."""

    def __init__(self) -> None:
        self.routes: OrderedDict[tuple[str, str, int, str | None], Route] = OrderedDict()

    def acquire(self, key: tuple[str, str, int, str | None], ssl_context: ssl.SSLContext | None) -> Route:
        route = self.routes.get(key)
        if route is None:
            route = self.routes[key] = Route(*key, ssl_context)
            self._evict()
        else:
            self.routes.move_to_end(key)
        route.active += 1
        return route

    @staticmethod
    def release(route: Route) -> None:
        route.active -= 1
        if route.evicted and route.active == 0:
            route.close()

    def _evict(self) -> None:
        if len(self.routes) <= MAX_ROUTES:
            return
        for key, route in list(self.routes.items()):
            if len(self.routes) <= MAX_ROUTES:
                break
            del self.routes[key]  # least recently used first; busy ones close once idle
            route.evicted = True
            if route.active == 0:
                route.close()

    def close(self, routes: Iterable[Route] | None = None) -> None:
        for route in list(self.routes.values()) if routes is None else routes:
            route.close()
        self.routes = OrderedDict()
