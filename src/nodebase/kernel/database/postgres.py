"""PostgreSQL driver on an asyncpg pool (the fastest Python path measured here).

Pooled connections are handed back without asyncpg's reset query (``RESET ALL``,
``UNLISTEN *``, ...): nodebase never changes session state on a pooled connection, and that
query cost a second round trip on every request (measured in docs/data.md).

Change tracking: every table the Data module asks to track gets a statement-level trigger
that bumps a per-table counter in ``__nodebase_changes`` inside the writing transaction, one
row per table and backend (so concurrent writers never wait on each other's counter row).
The sum of a table's rows changes with every committed write, is seen by every node the moment
the write commits, and is read by the list statement itself (see ``data/counts.py``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from nodebase.kernel.database.base import IntegrityProblem, Params
from nodebase.kernel.database.dialect import Dialect, PostgresDialect
from nodebase.kernel.errors import BadRequest

log = logging.getLogger("nodebase.postgres")

CHANGES = "__nodebase_changes"
_TRIGGER = "nodebase_changed"
_SETUP = (
    f'CREATE TABLE IF NOT EXISTS "{CHANGES}" (entity text NOT NULL, pid integer NOT NULL, '
    "n bigint NOT NULL, PRIMARY KEY (entity, pid))",
    f"""CREATE OR REPLACE FUNCTION {_TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "{CHANGES}" AS c (entity, pid, n) VALUES (TG_TABLE_NAME, pg_backend_pid(), 1)
  ON CONFLICT (entity, pid) DO UPDATE SET n = c.n + 1;
  RETURN NULL;
END $$""",
    # rows of backends that are gone fold into pid 0: the sums stay the same
    f"""WITH gone AS (
  DELETE FROM "{CHANGES}" WHERE pid <> 0 AND pid NOT IN (SELECT pid FROM pg_stat_activity)
  RETURNING entity, n)
INSERT INTO "{CHANGES}" AS c (entity, pid, n) SELECT entity, 0, sum(n) FROM gone GROUP BY entity
ON CONFLICT (entity, pid) DO UPDATE SET n = c.n + excluded.n""",
)


async def _keep_session(conn: Any) -> None:
    """Pool ``reset`` hook: nothing to undo (asyncpg still rolls back an open transaction)."""


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

    async def fetch_all_col(self, sql: str, params: Params = ()) -> list[Any]:
        return [r[0] for r in await self.conn.fetch(sql, *params)]

    async def execute(self, sql: str, params: Params = ()) -> int:
        status: str = await self.conn.execute(sql, *params)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0


class PostgresDatabase:
    dialect: Dialect = PostgresDialect()

    #: asyncpg's per-connection cache of prepared statements (its default is 100). Statement
    #: texts are stable per query shape (values are parameters), so a list is parsed and
    #: planned once per connection; each cached plan costs memory in its backend, hence a bound.
    STATEMENT_CACHE = 256

    #: connections per worker process; ``?pool_size=N`` in the URL overrides it
    POOL_SIZE = 16

    def __init__(self, url: str, *, min_size: int = 1, max_size: int | None = None) -> None:
        self.url = url
        dsn = url.replace("postgresql+asyncpg://", "postgresql://").replace(
            "postgres://", "postgresql://"
        )
        parts = urlsplit(dsn)
        query = parse_qsl(parts.query, keep_blank_values=True)
        size = [v for k, v in query if k == "pool_size"]
        if max_size is None:
            try:
                max_size = int(size[-1]) if size else self.POOL_SIZE
            except ValueError:
                raise BadRequest("pool_size in the database URL must be a whole number") from None
            if max_size < 1:
                raise BadRequest("pool_size in the database URL must be at least 1")
        rest = urlencode([(k, v) for k, v in query if k != "pool_size"])
        self._dsn = urlunsplit(parts._replace(query=rest))
        self._min, self._max = min(min_size, max_size), max_size
        self._pool: Any = None
        self._local_writes = 0

    async def connect(self) -> None:
        self._pool = await asyncpg.create_pool(
            self._dsn, min_size=self._min, max_size=self._max, reset=_keep_session,
            statement_cache_size=self.STATEMENT_CACHE,
        )

    #: the advisory lock key of :meth:`startup_lock` ("nodebase" in ASCII, as a bigint)
    STARTUP_LOCK_KEY = 0x6E6F646562617365

    @asynccontextmanager
    async def startup_lock(self) -> AsyncIterator[None]:
        """A session-level advisory lock on a connection of its own (not the pool's, so the
        setup it guards can use every pooled connection). Concurrent ``CREATE TABLE IF NOT
        EXISTS`` / ``CREATE FUNCTION`` / ``CREATE TRIGGER`` of several starting nodes otherwise
        fail with ``duplicate key value violates unique constraint "pg_type_typname_nsp_index"``
        (tests/system/test_concurrent_start.py). The lock goes with the session if the process dies."""
        conn = await asyncpg.connect(self._dsn)
        try:
            await conn.execute("SELECT pg_advisory_lock($1)", self.STARTUP_LOCK_KEY)
            yield
        finally:
            await conn.close()

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
        # No cheap database-wide change marker here (see track_changes for per-table ones):
        # local writes only, which callers must not use to cache across processes.
        return self._local_writes

    async def track_changes(self, tables: Iterable[str]) -> set[str]:
        """Install the change trigger on ``tables`` where it is missing; return the tables
        that are tracked (the others must always be counted). A newly tracked table's counter
        is bumped, so no count cached for an earlier table of that name stays valid."""
        wanted = sorted(set(tables))
        if not wanted:
            return set()
        have_sql = (
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = $1 AND c.relnamespace = current_schema()::regnamespace"
        )
        try:
            async with self.transaction() as tx:
                await tx.execute(f"SELECT pg_advisory_xact_lock(hashtext('{CHANGES}'))")
                for stmt in _SETUP:
                    await tx.execute(stmt)
                have = {r[0] for r in await tx.fetch_all(have_sql, (_TRIGGER,))}
                existing = set(await tx.fetch_all_col(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = current_schema() AND table_name = ANY($1::text[])",
                    (wanted,),
                ))
                q = self.dialect.quote
                for table in wanted:
                    if table in have or table not in existing:
                        continue
                    await tx.execute(
                        f"CREATE TRIGGER {_TRIGGER} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                        f"ON {q(table)} FOR EACH STATEMENT EXECUTE FUNCTION {_TRIGGER}()"
                    )
                    await tx.execute(
                        f'INSERT INTO "{CHANGES}" AS c (entity, pid, n) VALUES ($1, 0, 1) '
                        "ON CONFLICT (entity, pid) DO UPDATE SET n = c.n + 1",
                        (table,),
                    )
                    have.add(table)
        except asyncpg.PostgresError as exc:
            log.warning("change tracking unavailable (%s): list totals are counted every time", exc)
            return set()
        return have & set(wanted)
