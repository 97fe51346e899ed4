"""A :class:`Database` that reports the time of each statement to ``nodebase_db_query_duration_seconds``.

Statements run on the database object itself are timed one by one (``op`` = ``fetch_all``,
``fetch_one``, ``fetch_val``, ``execute``, ``script``); a transaction is timed as a whole
(``op`` = ``transaction``, from BEGIN to COMMIT). Everything else passes straight through.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from nodebase.kernel import metrics
from nodebase.kernel.database.base import Database, Executor, Params

_OPS = {op: metrics.DB_TIME.labels(op) for op in
        ("fetch_all", "fetch_one", "fetch_val", "execute", "script", "transaction")}


class TimedDatabase:
    def __init__(self, inner: Database) -> None:
        self.inner = inner
        self.dialect = inner.dialect
        self.url = inner.url

    def startup_lock(self) -> AbstractAsyncContextManager[None]:
        return self.inner.startup_lock()

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Sequence[Any]]:
        t = time.perf_counter()
        try:
            return await self.inner.fetch_all(sql, params)
        finally:
            _OPS["fetch_all"].observe(time.perf_counter() - t)

    async def fetch_one(self, sql: str, params: Params = ()) -> Sequence[Any] | None:
        t = time.perf_counter()
        try:
            return await self.inner.fetch_one(sql, params)
        finally:
            _OPS["fetch_one"].observe(time.perf_counter() - t)

    async def fetch_val(self, sql: str, params: Params = ()) -> Any:
        t = time.perf_counter()
        try:
            return await self.inner.fetch_val(sql, params)
        finally:
            _OPS["fetch_val"].observe(time.perf_counter() - t)

    async def execute(self, sql: str, params: Params = ()) -> int:
        t = time.perf_counter()
        try:
            return await self.inner.execute(sql, params)
        finally:
            _OPS["execute"].observe(time.perf_counter() - t)

    async def execute_script(self, statements: Sequence[str]) -> None:
        t = time.perf_counter()
        try:
            await self.inner.execute_script(statements)
        finally:
            _OPS["script"].observe(time.perf_counter() - t)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        t = time.perf_counter()
        try:
            async with self.inner.transaction() as tx:
                yield tx
        finally:
            _OPS["transaction"].observe(time.perf_counter() - t)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
