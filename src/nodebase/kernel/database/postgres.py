"""PostgreSQL driver on an asyncpg pool (the fastest Python path measured here)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from nodebase.kernel.database.base import IntegrityProblem, Params
from nodebase.kernel.database.dialect import Dialect, PostgresDialect


class _Conn:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Sequence[Any]]:
        rows: list[Sequence[Any]] = await self.conn.fetch(sql, *params)
        return rows

    async def fetch_one(self, sql: str, params: Params = ()) -> Sequence[Any] | None:
        row: Sequence[Any] | None = await self.conn.fetchrow(sql, *params)
        return row

    async def fetch_val(self, sql: str, params: Params = ()) -> Any:
        return await self.conn.fetchval(sql, *params)

    async def execute(self, sql: str, params: Params = ()) -> int:
        status: str = await self.conn.execute(sql, *params)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0


class PostgresDatabase:
    dialect: Dialect = PostgresDialect()

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 8) -> None:
        self.url = url
        self._dsn = url.replace("postgresql+asyncpg://", "postgresql://").replace(
            "postgres://", "postgresql://"
        )
        self._min, self._max = min_size, max_size
        self._pool: Any = None
        self._local_writes = 0

    async def connect(self) -> None:
        self._pool = await asyncpg.create_pool(self._dsn, min_size=self._min, max_size=self._max)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Sequence[Any]]:
        rows: list[Sequence[Any]] = await self._pool.fetch(sql, *params)
        return rows

    async def fetch_one(self, sql: str, params: Params = ()) -> Sequence[Any] | None:
        row: Sequence[Any] | None = await self._pool.fetchrow(sql, *params)
        return row

    async def fetch_val(self, sql: str, params: Params = ()) -> Any:
        return await self._pool.fetchval(sql, *params)

    async def execute(self, sql: str, params: Params = ()) -> int:
        self._local_writes += 1
        async with self._pool.acquire() as conn:
            return await _Conn(conn).execute(sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Conn]:
        self._local_writes += 1
        async with self._pool.acquire() as conn, conn.transaction():
            yield _Conn(conn)

    async def execute_script(self, statements: Sequence[str]) -> None:
        async with self.transaction() as tx:
            for stmt in statements:
                await tx.execute(stmt)

    def integrity_problem(self, exc: BaseException) -> IntegrityProblem | None:
        if isinstance(exc, asyncpg.UniqueViolationError):
            detail = getattr(exc, "detail", "") or ""
            cols: tuple[str, ...] = ()
            if detail.startswith("Key ("):
                cols = tuple(c.strip() for c in detail[5 : detail.index(")")].split(","))
            return IntegrityProblem("unique", cols, detail)
        if isinstance(exc, asyncpg.ForeignKeyViolationError):
            return IntegrityProblem("foreign_key", (), getattr(exc, "detail", "") or "")
        if isinstance(exc, asyncpg.NotNullViolationError):
            col = getattr(exc, "column_name", "") or ""
            return IntegrityProblem("not_null", (col,), str(exc))
        if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
            return IntegrityProblem("check", (), str(exc))
        return None

    async def tables(self) -> list[str]:
        rows = await self.fetch_all(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type='BASE TABLE' ORDER BY 1"
        )
        return [r[0] for r in rows]

    async def columns(self, table: str) -> list[str]:
        rows = await self.fetch_all(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            (table,),
        )
        return [r[0] for r in rows]

    async def indexes(self, table: str) -> list[str]:
        rows = await self.fetch_all(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = $1 AND indexname NOT LIKE '%_pkey'",
            (table,),
        )
        return [r[0] for r in rows]

    async def change_counter(self) -> int:
        # No cheap cross-process change marker here: count local writes only; callers
        # must not cache across processes on PostgreSQL.
        return self._local_writes
