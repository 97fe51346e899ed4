"""The two clients: :class:`Client` (blocking) and :class:`AsyncClient` (asyncio), on httpx."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import httpx

from nodebase.client.api import AuthApi, DataApi, MediaApi
from nodebase.client.realtime import Realtime
from nodebase.client.requests import Call, result


def _headers(call: Call, token: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json", **call.headers}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


class Client:
    """``Client("http://127.0.0.1:1337", api_key="nbk_...")``; or ``client.auth.login(...)``."""

    def __init__(self, url: str, *, api_key: str | None = None, token: str | None = None,
                 timeout: float = 30.0, http: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        #: the credential sent as ``Authorization: Bearer`` (a JWT or an API key)
        self.token = api_key or token
        self._http = http or httpx.Client(base_url=self.url, timeout=timeout)
        self.auth: AuthApi[Any] = AuthApi(self._send, self)
        self.data: DataApi[Any] = DataApi(self._send, self)
        self.media: MediaApi[Any] = MediaApi(self._send, self)

    def _send(self, call: Call) -> Any:
        resp = self._http.request(call.method, call.path, json=call.json, params=call.params,
                                  content=call.content, headers=_headers(call, self.token))
        return result(call, resp)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient:
    """The same calls as :class:`Client`, awaited; plus :meth:`realtime`."""

    def __init__(self, url: str, *, api_key: str | None = None, token: str | None = None,
                 timeout: float = 30.0, http: httpx.AsyncClient | None = None) -> None:
        self.url = url.rstrip("/")
        self.token = api_key or token
        self._http = http or httpx.AsyncClient(base_url=self.url, timeout=timeout)
        self.auth: AuthApi[Awaitable[Any]] = AuthApi(self._send, self)
        self.data: DataApi[Awaitable[Any]] = DataApi(self._send, self)
        self.media: MediaApi[Awaitable[Any]] = MediaApi(self._send, self)

    async def _send(self, call: Call) -> Any:
        resp = await self._http.request(call.method, call.path, json=call.json, params=call.params,
                                        content=call.content, headers=_headers(call, self.token))
        return result(call, resp)

    def realtime(self) -> Realtime:
        """A WebSocket connection to ``/api/realtime`` as the current caller (``async with``)."""
        return Realtime(self.url, self.token)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
