"""A realtime subscription over the WebSocket protocol (docs/realtime.md): requests are
answered by ``id``; events, joins and leaves are queued for ``async for``; the server's
``ping`` is answered."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


class RealtimeError(Exception):
    """An ``error`` frame answering one of this client's requests."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Realtime:
    """``async with client.realtime() as rt: await rt.subscribe("data:posts"); async for f in rt: ...``"""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = ("wss://" if url.startswith("https://") else "ws://") + url.split("://", 1)[1] + "/api/realtime"
        self.token = token
        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        #: event / join / leave frames, in arrival order; None once the connection closed
        self._frames: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Realtime:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        self._ws = await connect(self.url, additional_headers=headers, max_size=None)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                frame = json.loads(raw)
                op = frame.get("op")
                if op == "ping":
                    await self._ws.send('{"op":"pong"}')
                elif "id" in frame and frame["id"] in self._waiting:
                    fut = self._waiting.pop(frame["id"])
                    if not fut.done():
                        fut.set_result(frame)
                else:
                    self._frames.put_nowait(frame)
        except ConnectionClosed:
            pass
        finally:
            for fut in self._waiting.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("the realtime connection closed"))
            self._frames.put_nowait(None)

    async def request(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one request frame; its answer (an ``error`` answer raises :class:`RealtimeError`)."""
        assert self._ws is not None, "use `async with client.realtime() as rt`"
        rid = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        await self._ws.send(json.dumps({"op": op, "id": rid, **fields}))
        answer = await fut
        if answer.get("op") == "error":
            raise RealtimeError(str(answer.get("code")), str(answer.get("message")))
        return answer

    async def subscribe(self, channel: str, *, where: dict[str, Any] | None = None,
                        after_seq: int | None = None) -> dict[str, Any]:
        """``subscribed {channel, seq, recovered}``; missed events (``after_seq``) are queued first."""
        fields: dict[str, Any] = {"channel": channel}
        if where is not None:
            fields["where"] = where
        if after_seq is not None:
            fields["after_seq"] = after_seq
        return await self.request("subscribe", **fields)

    async def unsubscribe(self, channel: str) -> None:
        await self.request("unsubscribe", channel=channel)

    async def publish(self, channel: str, data: Any) -> int:
        """Publish to a custom channel; the event's seq."""
        return int((await self.request("publish", channel=channel, data=data)).get("seq") or 0)

    async def presence(self, channel: str) -> list[dict[str, Any]]:
        return list((await self.request("presence", channel=channel)).get("clients") or [])

    async def next(self, timeout: float | None = None) -> dict[str, Any]:
        """The next event / join / leave frame (``ConnectionError`` once closed)."""
        frame = await asyncio.wait_for(self._frames.get(), timeout)
        if frame is None:
            self._frames.put_nowait(None)
            raise ConnectionError("the realtime connection closed")
        return frame

    def __aiter__(self) -> Realtime:
        return self

    async def __anext__(self) -> dict[str, Any]:
        try:
            return await self.next()
        except ConnectionError:
            raise StopAsyncIteration from None
