"""A Python client for nodebase (and bknd-compatible servers): ``Client`` (blocking) and
``AsyncClient`` (asyncio) on httpx, with auth, data (the query language), media, realtime
(async) and typed errors. See docs/client.md."""

from nodebase.client.clients import AsyncClient, Client
from nodebase.client.errors import (
    BadRequest,
    ClientError,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    Unauthorized,
)
from nodebase.client.realtime import Realtime, RealtimeError
from nodebase.client.requests import Page

__all__ = ["AsyncClient", "BadRequest", "Client", "ClientError", "Conflict", "Forbidden", "NotFound", "Page",
           "PayloadTooLarge", "RateLimited", "Realtime", "RealtimeError", "ServerError", "Unauthorized"]
