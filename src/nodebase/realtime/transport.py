"""WebSocket ``/api/realtime`` and SSE ``/api/realtime/sse``: frames in → service calls →
frames out. Plain ASGI (no server-specific API), so it runs under granian and uvicorn alike.

Each connection has a reader (client frames, handled one at a time), a writer (drains the
bounded outbox; an overflow closes the socket with 4000 "resume") and an idle watch (a
``ping`` frame after ``ping_interval`` of client silence, close 4001 after ``idle_timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

import orjson
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from nodebase.kernel.caller import ANONYMOUS, Caller
from nodebase.kernel.errors import BadRequest, NodebaseError
from nodebase.kernel.http import error_response
from nodebase.realtime import frames as f
from nodebase.realtime.broker.base import Publication
from nodebase.realtime.connection import Connection, Limits, error_code
from nodebase.realtime.service import Attached, RealtimeService

log = logging.getLogger("nodebase.realtime")

SSE_KEEPALIVE = 15.0

Authenticate = Callable[[str], Awaitable[Caller]]


class RealtimeEndpoints:
    def __init__(self, service: RealtimeService, limits: Limits, nb: Any,
                 authenticate: Authenticate | None) -> None:
        self.service = service
        self.limits = limits
        self.nb = nb
        self.authenticate = authenticate
        self.connections: set[Connection] = set()
        #: WebSocket connections, watched by one idle reaper for all of them
        self.sockets: set[Connection] = set()
        self._reaper: asyncio.Task[None] | None = None

    async def caller(self, scope: Scope) -> Caller:
        conn = HTTPConnection(scope)
        caller: Caller = self.nb.caller(cast(Any, conn))
        token = conn.query_params.get("token")
        if token and self.authenticate is not None and caller.user is None:
            caller = await self.authenticate(token)
        return caller or ANONYMOUS

    # -- WebSocket -------------------------------------------------------------------------
    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if not self.service.started:
            await send({"type": "websocket.close", "code": 1013})
            return
        caller = await self.caller(scope)
        await send({"type": "websocket.accept"})
        conn = Connection(self.service, caller, self.limits, f.ws_frame)
        conn.last_seen = asyncio.get_running_loop().time()
        self.connections.add(conn)
        self.sockets.add(conn)
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap(), name="realtime-idle-reaper")
        # the reader runs in this task, the writer in one more: when the writer ends (lagged,
        # closed) it cancels the reader (one task and no asyncio.wait per connection)
        reader = asyncio.current_task()
        assert reader is not None
        writer = asyncio.create_task(self._ws_write(conn, send))

        def writer_done(_: asyncio.Task[None]) -> None:
            if not reading_done:
                reader.cancel()

        reading_done = False
        writer.add_done_callback(writer_done)
        try:
            try:
                await self._ws_read(conn, receive)
            except asyncio.CancelledError:
                if not writer.done():
                    raise  # cancelled from outside (the server is stopping)
                reader.uncancel()  # cancelled by the writer's end: this connection is over
            except Exception as exc:
                log.warning("realtime: reading a WebSocket failed (%s: %s)", type(exc).__name__, exc)
        finally:
            reading_done = True
            writer.remove_done_callback(writer_done)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
            self.connections.discard(conn)
            self.sockets.discard(conn)
            await conn.close()

    async def _ws_read(self, conn: Connection, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message["type"] != "websocket.receive":
                continue
            conn.last_seen = asyncio.get_running_loop().time()
            raw = message.get("text")
            if raw is None:
                raw = message.get("bytes") or b""
            if not conn.rate_ok():
                continue
            await self._handle(conn, raw)

    async def _ws_write(self, conn: Connection, send: Send) -> None:
        outbox = conn.outbox
        while True:
            batch = await outbox.take()
            for frame in batch:
                await send({"type": "websocket.send", "text": frame})
            if not batch:
                if outbox.lagged:
                    await send({"type": "websocket.close", "code": f.CLOSE_SLOW,
                                "reason": "too far behind: reconnect and resume with after_seq"})
                elif outbox.closed:
                    code = conn.close_code or f.CLOSE_GOING_AWAY
                    reason = "idle: no frame within the idle timeout" if code == f.CLOSE_IDLE else "closing"
                    with contextlib.suppress(Exception):
                        await send({"type": "websocket.close", "code": code, "reason": reason})
                return

    async def _reap(self) -> None:
        """One task for every socket: ``ping`` after ``ping_interval`` of client silence,
        close with 4001 after ``idle_timeout``."""
        loop = asyncio.get_running_loop()
        limits = self.limits
        step = max(0.05, min(5.0, min(limits.ping_interval, limits.idle_timeout) / 4))
        while self.sockets:
            await asyncio.sleep(step)
            now = loop.time()
            for conn in list(self.sockets):
                silent = now - conn.last_seen
                if silent >= limits.idle_timeout:
                    conn.close_code = f.CLOSE_IDLE
                    conn.outbox.close()
                    self.sockets.discard(conn)
                elif silent >= limits.ping_interval:
                    if not conn.pinged:
                        conn.send(f.answer("ping"))
                        conn.pinged = True
                else:
                    conn.pinged = False

    async def _handle(self, conn: Connection, raw: str | bytes) -> None:
        id: Any = None
        try:
            doc = f.parse(raw, self.limits.max_frame)
            id = doc.get("id")
            op = doc["op"]
            if op == "ping":
                conn.send(f.answer("pong", id))
            elif op == "pong":
                pass
            elif op == "subscribe":
                await self._subscribe(conn, doc, id)
            elif op == "unsubscribe":
                channel = f.channel_of(doc)
                await conn.unsubscribe(channel)
                conn.send(f.answer("unsubscribed", id, channel=channel))
            elif op == "publish":
                channel = f.channel_of(doc)
                data = doc["data"]
                if len(orjson.dumps(data)) > f.MAX_DATA:
                    raise f.FrameError(f.TOO_LARGE, f"data is larger than {f.MAX_DATA} bytes of JSON", id)
                seq = await self.service.publish(channel, data, caller=conn.caller, origin=conn.id)
                conn.send(f.answer("published", id, channel=channel, seq=seq))
            elif op == "presence":
                channel = f.channel_of(doc)
                self.service.check_subscribe(conn.caller, channel)
                entries = await self.service.presence(channel)
                clients = [{**e.user, "since": e.since} for e in entries]
                conn.send(f.answer("presence", id, channel=channel, clients=clients))
        except f.FrameError as exc:
            conn.send(f.error(exc.code, exc.message, exc.id if exc.id is not None else id))
        except NodebaseError as exc:
            conn.send(f.error(error_code(exc), exc.message, id))
        except Exception as exc:
            log.warning("realtime: a frame failed (%s: %s)", type(exc).__name__, exc)
            conn.send(f.error(f.UNAVAILABLE, "the realtime broker is unavailable; retry", id))

    async def _subscribe(self, conn: Connection, doc: dict[str, Any], id: Any) -> None:
        channel = f.channel_of(doc)

        def ready(attached: Attached, missed: list[Publication]) -> None:
            for pub in missed:
                conn.outbox.put(f.ws_frame(pub), force=True)
            conn.send(f.answer("subscribed", id, channel=channel, seq=attached.seq,
                               recovered=attached.recovered))

        await conn.subscribe(channel, where=doc.get("where"), after_seq=doc.get("after_seq"), on_ready=ready)

    # -- SSE -------------------------------------------------------------------------------
    async def sse(self, scope: Scope, receive: Receive, send: Send) -> None:
        conn_info = HTTPConnection(scope)
        try:
            caller = await self.caller(scope)
            channels = list(dict.fromkeys(conn_info.query_params.getlist("channel")))
            if not channels:
                raise BadRequest('give at least one "channel" parameter', context={"param": "channel"})
            if len(channels) > self.limits.max_subscriptions:
                raise BadRequest(f"at most {self.limits.max_subscriptions} channels", context={"param": "channel"})
            after = _after_positions(conn_info.query_params.get("after"), conn_info.headers.get("last-event-id"),
                                     channels)
            for channel in channels:
                self.service.check_subscribe(caller, channel)
        except NodebaseError as exc:
            response = error_response(exc)
            await response(scope, receive, send)
            return
        conn = Connection(self.service, caller, self.limits, f.sse_frame)
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no")]})
        self.connections.add(conn)
        try:
            for channel in channels:
                await conn.subscribe(channel, after_seq=after.get(channel), on_ready=_sse_ready(conn, channel))
            tasks = [asyncio.create_task(self._sse_write(conn, send)),
                     asyncio.create_task(_wait_disconnect(receive))]
            _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in pending:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        except Exception as exc:
            log.warning("realtime: SSE stream failed (%s: %s)", type(exc).__name__, exc)
        finally:
            self.connections.discard(conn)
            await conn.close()
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _sse_write(self, conn: Connection, send: Send) -> None:
        await send({"type": "http.response.body", "body": b": connected\n\n", "more_body": True})
        outbox = conn.outbox
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle | None = None

        # a comment every SSE_KEEPALIVE seconds, through the outbox (ephemeral: dropped when the
        # queue is full, which means there is traffic): one timer per interval, not a timeout
        # armed and cancelled on every wake of the writer (asyncio.wait_for was ~1/3 of the
        # server's CPU per delivery when events arrive one at a time)
        def keepalive() -> None:
            nonlocal timer
            outbox.put(b": keep-alive\n\n", ephemeral=True)
            timer = loop.call_later(SSE_KEEPALIVE, keepalive)

        timer = loop.call_later(SSE_KEEPALIVE, keepalive)
        try:
            while True:
                batch = await outbox.take()
                if not batch:
                    if outbox.lagged:
                        await send({"type": "http.response.body", "more_body": True, "body": f.sse_message(
                            "error", {"code": "too_far_behind",
                                      "message": "reconnect and resume with Last-Event-ID or ?after="})})
                    return
                await send({"type": "http.response.body", "body": b"".join(batch), "more_body": True})
        finally:
            if timer is not None:
                timer.cancel()

    async def close_all(self) -> None:
        for conn in list(self.connections):
            conn.outbox.close()
        if self._reaper is not None:
            self._reaper.cancel()


def _sse_ready(conn: Connection, channel: str) -> Callable[[Attached, list[Publication]], None]:
    def ready(attached: Attached, missed: list[Publication]) -> None:
        for pub in missed:
            conn.outbox.put(f.sse_frame(pub), force=True)
        conn.send(f.sse_message("subscribed", {"channel": channel, "seq": attached.seq,
                                               "recovered": attached.recovered}))

    return ready


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


def _after_positions(after: str | None, last_event_id: str | None, channels: list[str]) -> dict[str, int]:
    """``?after=ch:seq,...`` and ``Last-Event-ID: ch:seq`` → {channel: seq}."""
    out: dict[str, int] = {}
    items = [a for a in (after or "").split(",") if a]
    if last_event_id and not items:
        items = [last_event_id.strip()]
    for item in items:
        channel, _, seq = item.rpartition(":")
        if not channel or not seq.isdigit():
            raise BadRequest(f'resume position {item!r} is not "<channel>:<seq>"', context={"param": "after"})
        if channel not in channels:
            raise BadRequest(f"resume position for {channel!r}, which is not subscribed",
                             context={"param": "after", "channel": channel})
        out[channel] = int(seq)
    return out


class _Asgi:
    """A plain ASGI endpoint (Starlette wraps functions and methods; instances it calls as is)."""

    def __init__(self, fn: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.fn = fn

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.fn(scope, receive, send)


WEBSOCKET_PATH = "/api/realtime"


def routes(endpoints: RealtimeEndpoints) -> list[BaseRoute]:
    """The HTTP routes (SSE); the WebSocket endpoint is ``endpoints.websocket`` at
    ``WEBSOCKET_PATH``, served from the front router (``Node.add_websocket``)."""
    return [Route("/api/realtime/sse", _Asgi(endpoints.sse), methods=["GET"])]
