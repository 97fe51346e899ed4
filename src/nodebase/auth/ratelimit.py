"""Login brute-force protection: failed attempts counted per IP and per account.

Fixed windows: the first failure opens a window of ``window`` seconds; once a key has
``limit`` failures in its window, attempts are refused with 429 and ``Retry-After`` until the
window closes. A successful sign-in clears the account's counter (not the IP's).

In memory by default (one process). With ``NODEBASE_BROKER_URL=redis://...`` the counters
live in Redis, so every nodebase process behind a load balancer shares them. If Redis stops
answering, the limiter falls back to memory (logged) rather than locking everyone out.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from typing import Any, Protocol

log = logging.getLogger("nodebase.auth")


class Limiter(Protocol):
    async def blocked(self, key: str, limit: int) -> float:
        """Seconds until ``key`` may try again (0 when it may try now)."""
        ...

    async def hit(self, key: str, window: int) -> None: ...

    async def reset(self, key: str) -> None: ...

    async def close(self) -> None: ...


class MemoryLimiter:
    def __init__(self, maxsize: int = 100_000) -> None:
        self._data: dict[str, tuple[int, float]] = {}
        self.maxsize = maxsize

    def _get(self, key: str) -> tuple[int, float] | None:
        item = self._data.get(key)
        if item is not None and item[1] <= time.time():
            del self._data[key]
            return None
        return item

    async def blocked(self, key: str, limit: int) -> float:
        item = self._get(key)
        if item is None or item[0] < limit:
            return 0.0
        return max(item[1] - time.time(), 0.001)

    async def hit(self, key: str, window: int) -> None:
        item = self._get(key)
        if item is None:
            if len(self._data) >= self.maxsize:
                now = time.time()
                for k in [k for k, v in self._data.items() if v[1] <= now]:
                    del self._data[k]
                if len(self._data) >= self.maxsize:
                    self._data.pop(next(iter(self._data)))
            self._data[key] = (1, time.time() + window)
        else:
            self._data[key] = (item[0] + 1, item[1])

    async def reset(self, key: str) -> None:
        self._data.pop(key, None)

    async def close(self) -> None:
        self._data.clear()


class RedisLimiter:
    """Counters in Redis: ``INCR`` + ``EXPIRE NX`` per failure, ``GET``/``PTTL`` per check."""

    PREFIX = "nodebase:auth:fail:"

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._fallback = MemoryLimiter()
        self._warned = 0.0

    def _failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned > 60:
            self._warned = now
            log.warning("rate limiter: Redis unavailable (%s); counting in memory", type(exc).__name__)

    async def blocked(self, key: str, limit: int) -> float:
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.get(self.PREFIX + key)
            pipe.pttl(self.PREFIX + key)
            count, ttl = await pipe.execute()
        except Exception as exc:  # redis errors, timeouts, connection refused
            self._failed(exc)
            return await self._fallback.blocked(key, limit)
        if count is None or int(count) < limit:
            return 0.0
        return max(int(ttl), 1) / 1000 if ttl and int(ttl) > 0 else 1.0

    async def hit(self, key: str, window: int) -> None:
        try:
            pipe = self._redis.pipeline(transaction=True)
            pipe.incr(self.PREFIX + key)
            pipe.expire(self.PREFIX + key, window, nx=True)
            await pipe.execute()
        except Exception as exc:
            self._failed(exc)
            await self._fallback.hit(key, window)

    async def reset(self, key: str) -> None:
        try:
            await self._redis.delete(self.PREFIX + key)
        except Exception as exc:
            self._failed(exc)
        await self._fallback.reset(key)

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken connection: nothing left to do
            await self._redis.aclose()


def make_limiter(broker_url: str) -> Limiter:
    if broker_url.startswith(("redis://", "rediss://", "unix://")):
        return RedisLimiter(broker_url)
    return MemoryLimiter()


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
