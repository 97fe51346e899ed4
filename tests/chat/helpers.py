"""Clients for the chat tests: real WebSocket connections (``websockets``) and HTTP (httpx)."""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import os
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.nodeserver import NodeServer

TIMEOUT = 15.0
PASSWORD = "correct-horse-battery"
_n = itertools.count(1)


def name(prefix: str) -> str:
    return f"{prefix}{next(_n)}_{os.getpid() % 10000}"


def register(node: NodeServer, username: str | None = None) -> tuple[dict[str, Any], str]:
    username = username or name("u")
    r = httpx.post(node.url + "/users/register", timeout=30,
                   json={"username": username, "email": f"{username}@chat.test", "password": PASSWORD})
    assert r.status_code == 201, r.text
    body = r.json()
    return body["user"], body["token"]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class SendRefused(AssertionError):
    """The server answered a send with an ``error`` frame (the frame is the argument)."""


class Ws:
    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self._barriers = itertools.count(1)

    async def send(self, **doc: Any) -> None:
        await self.conn.send(json.dumps(doc))

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(await asyncio.wait_for(self.conn.recv(), timeout))
        return doc

    async def expect(self, type: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        doc = await self.recv(timeout)
        assert doc.get("type") == type, f"expected {type}, got {doc}"
        return doc

    async def until(self, type: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Frames up to the first of ``type``: (that frame, the ones before)."""
        before = []
        while True:
            doc = await self.recv()
            if doc.get("type") == type:
                return doc, before
            before.append(doc)

    async def barrier(self) -> list[dict[str, Any]]:
        """Every frame the server queued for us before now (the pong is answered in order)."""
        rid = f"b{next(self._barriers)}"
        await self.send(type="ping", req_id=rid)
        frames = []
        while True:
            doc = await self.recv()
            if doc.get("type") == "pong" and doc.get("req_id") == rid:
                return frames
            frames.append(doc)

    async def join(self, room: str, **kw: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        await self.send(type="join_room", room_id=room, **kw)
        return await self.until("room_joined")

    async def send_message(self, room: str, content: str, **kw: Any) -> dict[str, Any]:
        """Send and return the ``message_ack``; an ``error`` answering this send (its
        ``client_id`` or ``req_id``) raises :class:`SendRefused` at once (no ack will come)."""
        await self.send(type="send_message", room_id=room, content=content, **kw)
        mine = {k: kw[k] for k in ("client_id", "req_id") if kw.get(k) is not None}
        while True:
            doc = await self.recv()
            if doc.get("type") == "message_ack":
                return doc
            if doc.get("type") == "error" and mine and any(doc.get(k) == v for k, v in mine.items()):
                raise SendRefused(doc)



@asynccontextmanager
async def ws(node: NodeServer, token: str | None = None, **kw: Any) -> AsyncIterator[Ws]:
    url = node.url.replace("http://", "ws://") + "/ws" + (f"?token={token}" if token else "")
    async with connect(url, compression=None, open_timeout=TIMEOUT, max_size=2**22, **kw) as conn:
        yield Ws(conn)


def sync(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on its own event loop (the suite has no asyncio plugin)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return run
