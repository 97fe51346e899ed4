"""``GET /ws``: the chat's WebSocket (chat.md "WebSocket").

One reader (client frames, one at a time → ChatService) and one writer per connection. Every
frame to the client goes through the writer's queue, so answers and broadcasts leave in the
order they were produced. Per joined room the writer keeps the last seq delivered: a
publication already seen is skipped, one past a gap first gets the missing messages from the
database (a publication from another node may overtake an earlier one), so ``new_message``
frames arrive in seq order with no gap and no duplicate. The sending connection never gets
its own message (the Realtime ``origin``); its acks count as delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from nodebase.apps.chat.service import ChatService, channel
from nodebase.apps.chat.views import error_code, message_view
from nodebase.kernel.caller import Caller
from nodebase.kernel.errors import (
    BadRequest,
    Forbidden,
    NodebaseError,
    PayloadTooLarge,
    TooManyRequests,
)
from nodebase.realtime.service import Publication, Subscription

log = logging.getLogger("nodebase.chat")

MAX_FRAME = 64 * 1024
#: client frames per second per connection (bursts of twice that)
FRAME_RATE = 50
#: queued frames beyond which typing notices are dropped / the connection is cut off (4000)
DROP_EPHEMERAL_AT, CUT_OFF_AT = 200, 5000
FILL_BATCH = 500


@dataclass
class Joined:
    key: str
    sub: Subscription | None = None
    #: last seq delivered (or acknowledged) to this connection; None until room_joined
    last: int | None = None
    own: set[int] = field(default_factory=set)
    pending: list[Publication] = field(default_factory=list)


class ChatSocket:
    def __init__(self, ws: WebSocket, service: ChatService, caller: Caller, user: dict[str, Any],
                 frame_rate: int = FRAME_RATE) -> None:
        self.ws = ws
        self.frame_rate = frame_rate
        self.service = service
        self.caller = caller
        self.user = user
        self.id = "ws_" + uuid.uuid4().hex
        self.rooms: dict[str, Joined] = {}
        self.queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self._tokens = float(frame_rate * 2)
        self._stamp = time.monotonic()
        self._noticed = 0.0

    # -- output --------------------------------------------------------------------------
    def put(self, frame: dict[str, Any]) -> None:
        self.queue.put_nowait(("frame", frame))

    def error(self, exc: NodebaseError, req_id: Any = None, client_id: Any = None) -> None:
        frame: dict[str, Any] = {"type": "error", "code": error_code(exc), "message": exc.message}
        if req_id is not None:
            frame["req_id"] = req_id
        if client_id is not None:
            frame["client_id"] = client_id
        self.put(frame)

    def _on_pub(self, key: str, pub: Publication) -> None:
        if pub.ephemeral and pub.event == "typing" and self.queue.qsize() > DROP_EPHEMERAL_AT:
            return
        self.queue.put_nowait(("pub", key, pub))

    async def writer(self) -> None:
        send = self.ws.send_text
        while True:
            item = await self.queue.get()
            if self.queue.qsize() > CUT_OFF_AT:
                await self.ws.close(4000, "too far behind: reconnect and join_room with after_seq")
                return
            kind = item[0]
            if kind == "frame":
                await send(orjson.dumps(item[1]).decode())
            elif kind == "pub":
                await self._deliver(item[1], item[2])
            elif kind == "joined":
                await self._joined(*item[1:])
            elif kind == "ack":
                _, key, seq, frame = item
                joined = self.rooms.get(key)
                if joined is not None and joined.last is not None and seq > joined.last:
                    joined.own.add(seq)
                    self._advance(joined)
                await send(orjson.dumps(frame).decode())

    @staticmethod
    def _advance(joined: Joined) -> None:
        assert joined.last is not None
        while joined.last + 1 in joined.own:
            joined.last += 1
            joined.own.discard(joined.last)
        joined.own = {s for s in joined.own if s > joined.last}

    async def _fill(self, joined: Joined, before: int | None) -> None:
        """Send the stored messages after ``joined.last`` (and below ``before``)."""
        assert joined.last is not None
        while True:
            rows = await self.service.after(joined.key, joined.last, FILL_BATCH, before)
            for row in rows:
                joined.last = int(row["seq"])
                if row.get("origin") != self.id and joined.last not in joined.own:
                    await self.ws.send_text(orjson.dumps(
                        {"type": "new_message", "message": message_view(row)}).decode())
            if len(rows) < FILL_BATCH:
                return

    async def _deliver(self, key: str, pub: Publication) -> None:
        joined = self.rooms.get(key)
        if joined is None or joined.sub is None:
            return
        if joined.last is None:
            joined.pending.append(pub)
            return
        data = pub.data if isinstance(pub.data, dict) else {}
        frame: dict[str, Any]
        if pub.event == "message":
            seq = int(data.get("seq") or 0)
            self._advance(joined)
            if seq <= joined.last:
                return
            if seq > joined.last + 1:
                await self._fill(joined, seq)
                if seq <= joined.last:
                    return
            joined.last = seq
            text = pub.frames.get("chat")
            if text is None:  # encoded once for every connection of this node
                text = pub.frames["chat"] = orjson.dumps({"type": "new_message", "message": data}).decode()
            await self.ws.send_text(text)
            return
        elif pub.event == "typing":
            frame = {"type": "typing", "room_id": key, "user": data.get("user")}
        elif pub.event == "join":
            frame = {"type": "user_joined", "room_id": key, "user": data.get("user")}
        elif pub.event == "leave":
            frame = {"type": "user_left", "room_id": key, "user": data.get("user")}
        elif pub.event == "online":
            frame = {"type": "online_users", "room_id": key, "users": data.get("users", [])}
        elif pub.event == "deleted":  # an admin deleted a message (beyond chat.md: docs/chat.md)
            frame = {"type": "message_deleted", "room_id": key, "message_id": data.get("message_id"),
                     "seq": data.get("seq")}
        elif pub.event == "room_deleted":  # the room is gone: the connection is no longer in it
            await self.leave(key, announce=False)
            frame = {"type": "room_left", "room_id": key, "reason": "deleted"}
        else:
            return
        await self.ws.send_text(orjson.dumps(frame).decode())

    async def _joined(self, key: str, after_seq: int | None, online: list[Any], req_id: Any) -> None:
        joined = self.rooms.get(key)
        if joined is None:
            return
        if after_seq is not None:
            joined.last = after_seq
            await self._fill(joined, None)
        else:
            joined.last = await self.service.last_seq(key)
        frame: dict[str, Any] = {"type": "room_joined", "room_id": key, "last_seq": joined.last,
                                 "online_users": online}
        if req_id is not None:
            frame["req_id"] = req_id
        await self.ws.send_text(orjson.dumps(frame).decode())
        pending, joined.pending = joined.pending, []
        for pub in pending:
            await self._deliver(key, pub)

    # -- input ---------------------------------------------------------------------------
    def _flooding(self) -> bool:
        rate = self.frame_rate
        if rate <= 0:
            return False
        now = time.monotonic()
        self._tokens = min(rate * 2.0, self._tokens + (now - self._stamp) * rate)
        self._stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            return False
        return True

    async def handle(self, text: str) -> None:
        if self._flooding():
            self._dropped(text)
            return
        if len(text) > MAX_FRAME or len(text.encode()) > MAX_FRAME:
            self.error(PayloadTooLarge(f"Frames are at most {MAX_FRAME} bytes"))
            return
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            self.error(BadRequest("The frame is not JSON"))
            return
        if not isinstance(doc, dict):
            self.error(BadRequest("A frame is a JSON object with a type"))
            return
        req_id, client_id = doc.get("req_id"), doc.get("client_id")
        try:
            await self.dispatch(doc.get("type"), doc, req_id)
        except NodebaseError as exc:
            self.error(exc, req_id, client_id if doc.get("type") == "send_message" else None)
        except Exception as exc:  # e.g. the broker is down: the client may retry
            log.warning("chat: handling a %r frame failed: %r", doc.get("type"), exc)
            frame: dict[str, Any] = {"type": "error", "code": "unavailable",
                                     "message": "The server could not handle the frame; retry"}
            if req_id is not None:
                frame["req_id"] = req_id
            if client_id is not None and doc.get("type") == "send_message":
                frame["client_id"] = client_id
            self.put(frame)

    def _dropped(self, text: str) -> None:
        """A frame over the frame rate is not handled. A ``send_message`` (and any frame with
        a ``req_id``) is answered ``rate_limited``, with its ``req_id`` and ``client_id``, in
        its place among the answers: its client knows that this very send stored nothing and
        can retry it. Other frames get one notice a second."""
        exc = TooManyRequests(f"At most {self.frame_rate} frames a second; frames dropped")
        doc: Any = None
        if len(text) <= MAX_FRAME:
            with contextlib.suppress(orjson.JSONDecodeError):
                doc = orjson.loads(text)
        if isinstance(doc, dict):
            send = doc.get("type") == "send_message"
            if send or doc.get("req_id") is not None:
                self.error(exc, doc.get("req_id"), doc.get("client_id") if send else None)
                return
        now = time.monotonic()
        if now - self._noticed >= 1.0:
            self._noticed = now
            self.error(exc)

    def _answer(self, frame: dict[str, Any], req_id: Any) -> None:
        if req_id is not None:
            frame["req_id"] = req_id
        self.put(frame)

    def _joined_room(self, doc: dict[str, Any]) -> Joined:
        room_id = doc.get("room_id")
        joined = self.rooms.get(room_id) if isinstance(room_id, str) else None
        if joined is None:
            raise Forbidden("Join the room first (join_room)", context={"room_id": room_id})
        return joined

    async def dispatch(self, kind: Any, doc: dict[str, Any], req_id: Any) -> None:
        s = self.service
        if kind == "ping":
            self._answer({"type": "pong"}, req_id)
        elif kind == "send_message":
            joined = self._joined_room(doc)
            message, _ = await s.send(self.caller, joined.key, doc.get("content"), doc.get("message_type"),
                                      doc.get("client_id"), origin=self.id)
            frame: dict[str, Any] = {"type": "message_ack", "client_id": message["client_id"],
                                     "message": message}
            if req_id is not None:
                frame["req_id"] = req_id
            self.queue.put_nowait(("ack", joined.key, message["seq"], frame))
        elif kind == "join_room":
            await self.join(doc, req_id)
        elif kind == "leave_room":
            joined = self._joined_room(doc)
            await self.leave(joined.key)
            self._answer({"type": "room_left", "room_id": joined.key}, req_id)
        elif kind == "get_messages":
            joined = self._joined_room(doc)
            messages, more = await s.history(self.caller, joined.key, doc.get("limit"), doc.get("before_seq"),
                                             doc.get("after_seq"), room={"room_key": joined.key})
            self._answer({"type": "messages", "room_id": joined.key, "messages": messages, "has_more": more},
                         req_id)
        elif kind == "typing":
            joined = self._joined_room(doc)
            await s.rt.publish(channel(joined.key), {"user": self.user}, event="typing", origin=self.id,
                               ephemeral=True)
        elif not isinstance(kind, str):
            raise BadRequest('A frame needs a "type"')
        else:
            raise BadRequest(f'Unknown frame type "{kind}"', context={"type": kind})

    async def join(self, doc: dict[str, Any], req_id: Any) -> None:
        s = self.service
        after = doc.get("after_seq")
        if after is not None and (isinstance(after, bool) or not isinstance(after, int) or after < 0):
            raise BadRequest('"after_seq" must be a non-negative integer', context={"field": "after_seq"})
        row = await s.room(doc.get("room_id"), self.caller, create=True)
        key = row["room_key"]
        if key in self.rooms:
            await self.leave(key, announce=False)
        joined = self.rooms[key] = Joined(key)
        joined.sub = await s.rt.subscribe(channel(key), origin=self.id,
                                          on_event=lambda pub: self._on_pub(key, pub))
        await s.rt.join(channel(key), self.id, self.user)
        online = await s.online(key)
        self.queue.put_nowait(("joined", key, after, online, req_id))
        await s.rt.publish(channel(key), {"users": online}, event="online", ephemeral=True)

    async def leave(self, key: str, *, announce: bool = True) -> None:
        joined = self.rooms.pop(key, None)
        if joined is None:
            return
        s = self.service
        if joined.sub is not None:
            await joined.sub.close()
        await s.rt.leave(channel(key), self.id, self.user)
        if announce:
            await s.rt.publish(channel(key), {"users": await s.online(key)}, event="online", ephemeral=True)

    async def close(self) -> None:
        for key in list(self.rooms):
            try:
                await self.leave(key)
            except Exception as exc:
                log.warning("chat: leaving %s on close failed (%s)", key, exc)


class ChatEndpoint:
    """The ``/ws`` route: authenticate, then read frames until the client goes away."""

    def __init__(self, service: ChatService, nb: Any, frame_rate: int = FRAME_RATE) -> None:
        self.service = service
        self.nb = nb
        self.frame_rate = frame_rate
        self.sockets: set[ChatSocket] = set()

    async def caller(self, ws: WebSocket) -> Caller:
        token = ws.query_params.get("token")
        if token:
            return await self.service.auth.caller_from("Bearer " + token, None, None)
        caller: Caller = self.nb.caller(ws)
        return caller

    async def __call__(self, ws: WebSocket) -> None:
        caller = await self.caller(ws)
        await ws.accept()
        user = None
        if caller.user is not None:
            with contextlib.suppress(NodebaseError):
                user = await self.service.me(caller)
        if user is None:
            await ws.close(4401, "unauthorized: a valid token is required")
            return
        sock = ChatSocket(ws, self.service, caller, {**user, "is_online": True}, self.frame_rate)
        self.sockets.add(sock)
        writer = asyncio.create_task(sock.writer())
        try:
            await self.service.connected(sock.id, user["id"])
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    sock.error(BadRequest("Frames are JSON text frames"))
                    continue
                await sock.handle(text)
                if writer.done():
                    break
        except WebSocketDisconnect:
            pass
        finally:
            self.sockets.discard(sock)
            writer.cancel()
            with contextlib.suppress(BaseException):
                await writer
            # offline first, so user_left says whether the user is still online elsewhere
            await self.service.disconnected(sock.id, user["id"])
            sock.user = {**sock.user, "is_online": await self.service.is_online(user["id"])}
            await sock.close()
