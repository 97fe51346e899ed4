"""SQLite (WAL) driver, called synchronously inside the event loop.

Measured on the target box (shared/reference/python-stack.md §A.4): direct calls beat any
thread pool by 3-11x for short indexed queries, because sqlite3 releases the GIL on every
step. Writes go through one connection guarded by an asyncio lock, so a transaction that
awaits (event listeners) never interleaves with another request's writes; reads use their
own connection and always see the last commit.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from nodebase.kernel.database.base import IntegrityProblem, Params
from nodebase.kernel.database.dialect import Dialect, SqliteDialect

log = logging.getLogger("nodebase.sqlite")

#: the WAL is checkpointed by a background thread, not inline on the event loop's commits
CHECKPOINT_INTERVAL = 0.25
WRITER_AUTOCHECKPOINT = 4000  # pages (~16 MB of WAL)

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA cache_size=-16000",
    "PRAGMA temp_store=MEMORY",
)


def sqlite_path(url: str) -> str:
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///") :] if not url.startswith("sqlite:////") else url[len("sqlite:///") :]
    if url.startswith("sqlite://"):
        return url[len("sqlite://") :] or ":memory:"
    if url.startswith("file:"):
        return url[len("file:") :]
    return url


def _open(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in _PRAGMAS:
        conn.execute(pragma)
    return conn


class _Conn:
    """Executor over one sqlite3 connection (no locking: the owner holds the lock)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Sequence[Any]]:
        return self.conn.execute(sql, params).fetchall()

    async def fetch_one(self, sql: str, params: Params = ()) -> Sequence[Any] | None:
        row: Sequence[Any] | None = self.conn.execute(sql, params).fetchone()
        return row

    async def fetch_val(self, sql: str, params: Params = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row else None

    async def execute(self, sql: str, params: Params = ()) -> int:
        return self.conn.execute(sql, params).rowcount


class SqliteDatabase:
    dialect: Dialect = SqliteDialect()

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self._write: sqlite3.Connection | None = None
        self._read: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._local_writes = 0
        self._checkpointer: threading.Thread | None = None
        self._stop_checkpoints = threading.Event()

    async def connect(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._write = _open(self.path)
        self._read = self._write if self.path == ":memory:" else _open(self.path)
        if self.path != ":memory:":
            # A commit that crosses the auto-checkpoint threshold copies the WAL back into the
            # database and fsyncs, inside the event loop. A thread does most of that copying
            # (sqlite3 releases the GIL for the I/O); the writer keeps a higher threshold so
            # that its own, now small, checkpoint restarts the WAL and bounds its size.
            self._write.execute(f"PRAGMA wal_autocheckpoint={WRITER_AUTOCHECKPOINT}")
            self._stop_checkpoints.clear()
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, name="nodebase-wal-checkpoint", daemon=True
            )
            self._checkpointer.start()

    def _checkpoint_loop(self) -> None:
        conn = _open(self.path)
        try:
            while not self._stop_checkpoints.wait(CHECKPOINT_INTERVAL):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # busy or locked: try again next round
                    log.debug("wal checkpoint skipped: %s", exc)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error as exc:
            log.warning("wal checkpoint failed: %s", exc)
        finally:
            conn.close()

    @asynccontextmanager
    async def startup_lock(self) -> AsyncIterator[None]:
        """Nothing to hold: SQLite runs each schema statement under its file lock, and the
        setup statements are all ``IF NOT EXISTS``."""
        yield

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._stop_checkpoints.set()
            self._checkpointer.join(timeout=10)
            self._checkpointer = None
        for conn in {id(c): c for c in (self._read, self._write) if c is not None}.values():
            conn.close()
        self._read = self._write = None

    @property
    def _r(self) -> sqlite3.Connection:
        assert self._read is not None, "database not connected"
        return self._read

    @property
    def _w(self) -> sqlite3.Connection:
        assert self._write is not None, "database not connected"
        return self._write

    # -- reads ---------------------------------------------------------------------------
    async def fetch_all(self, sql: str, params: Params = ()) -> list[Sequence[Any]]:
        if self._is_write(sql):
            async with self._lock:
                self._local_writes += 1
                return self._w.execute(sql, params).fetchall()
        return self._r.execute(sql, params).fetchall()

    async def fetch_one(self, sql: str, params: Params = ()) -> Sequence[Any] | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def fetch_val(self, sql: str, params: Params = ()) -> Any:
        row = self._r.execute(sql, params).fetchone()
        return row[0] if row else None

    # -- writes --------------------------------------------------------------------------
    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._lock:
            self._local_writes += 1
            return self._w.execute(sql, params).rowcount

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Conn]:
        async with self._lock:
            self._local_writes += 1
            conn = self._w
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield _Conn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    async def execute_script(self, statements: Sequence[str]) -> None:
        async with self.transaction() as tx:
            for stmt in statements:
                await tx.execute(stmt)

    @staticmethod
    def _is_write(sql: str) -> bool:
        head = sql.lstrip()[:6].upper()
        return head in ("INSERT", "UPDATE", "DELETE", "REPLAC") or head.startswith("WITH")

    # -- errors --------------------------------------------------------------------------
    _UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$")
    _NOTNULL = re.compile(r"NOT NULL constraint failed: (.+)$")

    def integrity_problem(self, exc: BaseException) -> IntegrityProblem | None:
        if not isinstance(exc, sqlite3.IntegrityError):
            return None
        msg = str(exc)
        if m := self._UNIQUE.search(msg):
            cols = tuple(c.strip().split(".")[-1] for c in m.group(1).split(","))
            return IntegrityProblem("unique", cols, msg)
        if m := self._NOTNULL.search(msg):
            return IntegrityProblem("not_null", (m.group(1).split(".")[-1],), msg)
        if "FOREIGN KEY" in msg:
            return IntegrityProblem("foreign_key", (), msg)
        return IntegrityProblem("check", (), msg)

    # -- introspection -------------------------------------------------------------------
    async def tables(self) -> list[str]:
        rows = self._r.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        ).fetchall()
        return [r[0] for r in rows]

    async def columns(self, table: str) -> list[str]:
        rows = self._r.execute(f"PRAGMA table_info({self.dialect.quote(table)})").fetchall()
        return [r[1] for r in rows]

    async def indexes(self, table: str) -> list[str]:
        rows = self._r.execute(
            "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name=? AND sql IS NOT NULL",
            (table,),
        ).fetchall()
        return [r[0] for r in rows]

    async def track_changes(self, tables: Iterable[str]) -> set[str]:
        """Every table is tracked: ``change_counter`` sees every commit to any of them."""
        return set(tables)

    async def change_counter(self) -> int:
        """Changes when any connection (this process or another) commits."""
        version = self._r.execute("PRAGMA data_version").fetchone()[0]
        return int(version) * 1_000_000_007 + self._local_writes
