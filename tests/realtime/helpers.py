"""Clients for the realtime tests: a WebSocket wrapper (``websockets``) and an SSE reader
(``httpx`` streaming), both over real sockets; users with a role."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.auth.helpers import PASSWORD, email
from tests.nodeserver import NodeServer

TIMEOUT = 15.0


class Ws:
    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn

    async def send(self, **doc: Any) -> None:
        await self.conn.send(json.dumps(doc))

    async def raw(self, text: str) -> None:
        await self.conn.send(text)

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        frame = await asyncio.wait_for(self.conn.recv(), timeout)
        doc: dict[str, Any] = json.loads(frame)
        return doc

    async def expect(self, op: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        doc = await self.recv(timeout)
        assert doc.get("op") == op, f"expected {op}, got {doc}"
        return doc

    async def request(self, op: str, answer: str, **doc: Any) -> dict[str, Any]:
        await self.send(op=op, **doc)
        return await self.expect(answer)

    async def subscribe(self, channel: str, **doc: Any) -> dict[str, Any]:
        return await self.request("subscribe", "subscribed", channel=channel, **doc)

    async def barrier(self) -> None:
        """Everything the server queued before now has been received once pong arrives."""
        await self.send(op="ping", id="barrier")
        await self.expect("pong")


@asynccontextmanager
async def ws(node: NodeServer, token: str | None = None, headers: dict[str, str] | None = None,
             **kw: Any) -> AsyncIterator[Ws]:
    url = node.url.replace("http://", "ws://") + "/api/realtime" + (f"?token={token}" if token else "")
    async with connect(url, additional_headers=headers, compression=None, open_timeout=TIMEOUT, **kw) as conn:
        yield Ws(conn)


class Sse:
    """Reads ``id:``/``event:``/``data:`` records from a text/event-stream response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        async def read() -> dict[str, Any]:
            record: dict[str, Any] = {}
            async for line in self._lines:
                if line == "":
                    if "data" in record or "event" in record:
                        return record
                    record = {}
                    continue
                if line.startswith(":"):
                    continue
                key, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                record[key] = json.loads(value) if key == "data" else value
            raise EOFError("the stream ended")

        return await asyncio.wait_for(read(), timeout)


@asynccontextmanager
async def sse(node: NodeServer, *channels: str, headers: dict[str, str] | None = None,
              params: dict[str, str] | None = None) -> AsyncIterator[Sse]:
    query = [("channel", c) for c in channels] + list((params or {}).items())
    async with httpx.AsyncClient(base_url=node.url, timeout=TIMEOUT) as client, \
            client.stream("GET", "/api/realtime/sse", params=query, headers=headers) as response:
        assert response.status_code == 200, (await response.aread()).decode()
        yield Sse(response)


def user_with_role(admin: httpx.Client, node: NodeServer, role: str) -> tuple[int, str]:
    """Create a user with ``role``; → (id, token)."""
    address = email(role)
    r = admin.post("/api/auth/password/actions/create", json={"email": address, "password": PASSWORD, "role": role})
    assert r.status_code == 200, r.text
    login = httpx.post(node.url + "/api/auth/password/login", json={"email": address, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return int(r.json()["data"]["id"]), str(login.json()["token"])


def set_roles(admin: httpx.Client, roles: dict[str, Any], **guard: Any) -> None:
    body: dict[str, Any] = {"roles": {"admin": {"implicit_allow": True}, **roles}}
    if guard:
        body["guard"] = {"enabled": True, **guard}
    r = admin.post("/api/system/config/set/auth", json=body)
    assert r.status_code in (200, 202), r.text
