"""Counters and timed holds for the sign-in throttle (:mod:`nodebase.auth.throttle`).

Two primitives, by key:

* a **counter** in a fixed window: the first ``hit`` opens a window of ``window`` seconds, the
  count grows with each ``hit`` and disappears when the window closes;
* a **hold**: ``hold(key, seconds)`` makes ``held(key)`` answer the seconds left until then.

In memory by default (one process). With ``NODEBASE_BROKER_URL=redis://...`` both live in Redis
(``INCR`` + ``EXPIRE NX``; ``SET PX`` / ``PTTL``), so every nodebase process behind a load
balancer shares them. If Redis stops answering, the limiter falls back to memory (logged)
rather than locking everyone out.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from typing import Any, Protocol

log = logging.getLogger("nodebase.auth")


class Limiter(Protocol):
    async def hit(self, key: str, window: int) -> int:
        """Count one more for ``key``; the new count."""
        ...

    async def count(self, key: str) -> int: ...

    async def hold(self, key: str, seconds: float) -> None: ...

    async def held(self, key: str) -> float:
        """Seconds until ``key``'s hold ends (0 when it is not held)."""
        ...

    async def reset(self, key: str) -> None:
        """Forget ``key``'s counter and hold."""
        ...

    async def close(self) -> None: ...


class MemoryLimiter:
    def __init__(self, maxsize: int = 100_000) -> None:
        #: key -> (count, expires at); holds are stored under "hold:" + key with count 0
        self._data: dict[str, tuple[int, float]] = {}
        self.maxsize = maxsize

    def _get(self, key: str) -> tuple[int, float] | None:
        item = self._data.get(key)
        if item is not None and item[1] <= time.time():
            del self._data[key]
            return None
        return item

    def _put(self, key: str, value: tuple[int, float]) -> None:
        if key not in self._data and len(self._data) >= self.maxsize:
            now = time.time()
            for k in [k for k, v in self._data.items() if v[1] <= now]:
                del self._data[k]
            if len(self._data) >= self.maxsize:
                self._data.pop(next(iter(self._data)))
        self._data[key] = value

    async def hit(self, key: str, window: int) -> int:
        item = self._get(key)
        value = (1, time.time() + window) if item is None else (item[0] + 1, item[1])
        self._put(key, value)
        return value[0]

    async def count(self, key: str) -> int:
        item = self._get(key)
        return 0 if item is None else item[0]

    async def hold(self, key: str, seconds: float) -> None:
        self._put("hold:" + key, (0, time.time() + seconds))

    async def held(self, key: str) -> float:
        item = self._get("hold:" + key)
        return 0.0 if item is None else max(item[1] - time.time(), 0.001)

    async def reset(self, key: str) -> None:
        self._data.pop(key, None)
        self._data.pop("hold:" + key, None)

    async def close(self) -> None:
        self._data.clear()


class RedisLimiter:
    PREFIX = "nodebase:auth:"

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

    async def hit(self, key: str, window: int) -> int:
        try:
            pipe = self._redis.pipeline(transaction=True)
            pipe.incr(self.PREFIX + "count:" + key)
            pipe.expire(self.PREFIX + "count:" + key, window, nx=True)
            count, _ = await pipe.execute()
            return int(count)
        except Exception as exc:  # redis errors, timeouts, connection refused
            self._failed(exc)
            return await self._fallback.hit(key, window)

    async def count(self, key: str) -> int:
        try:
            value = await self._redis.get(self.PREFIX + "count:" + key)
        except Exception as exc:
            self._failed(exc)
            return await self._fallback.count(key)
        return int(value) if value is not None else 0

    async def hold(self, key: str, seconds: float) -> None:
        try:
            await self._redis.set(self.PREFIX + "hold:" + key, b"1", px=max(1, int(seconds * 1000)))
        except Exception as exc:
            self._failed(exc)
            await self._fallback.hold(key, seconds)

    async def held(self, key: str) -> float:
        try:
            ttl = int(await self._redis.pttl(self.PREFIX + "hold:" + key))
        except Exception as exc:
            self._failed(exc)
            return await self._fallback.held(key)
        return ttl / 1000 if ttl > 0 else 0.0

    async def reset(self, key: str) -> None:
        try:
            await self._redis.delete(self.PREFIX + "count:" + key, self.PREFIX + "hold:" + key)
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
