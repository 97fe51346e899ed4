"""The database interface every module uses: async methods over plain SQL and tuples.

Rows come back as tuples in the order of the SELECT list (the query compiler knows the
column names), which is the cheapest shape both drivers produce.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from nodebase.kernel.database.dialect import Dialect

Params = Sequence[Any]


@dataclass(frozen=True)
class IntegrityProblem:
    """A constraint violation translated out of the driver's exception."""

    kind: str  # "unique" | "foreign_key" | "not_null" | "check"
    columns: tuple[str, ...] = ()
    detail: str = ""


class Executor(Protocol):
    async def fetch_all(self, sql: str, params: Params = ()) -> list[Sequence[Any]]: ...
    async def fetch_one(self, sql: str, params: Params = ()) -> Sequence[Any] | None: ...
    async def fetch_val(self, sql: str, params: Params = ()) -> Any: ...
    async def execute(self, sql: str, params: Params = ()) -> int: ...


class Database(Executor, Protocol):
    dialect: Dialect
    url: str

    async def connect(self) -> None: ...
    async def close(self) -> None: ...
    def startup_lock(self) -> AbstractAsyncContextManager[None]:
        """Held while a process sets up the schema at start, so that nodes (and workers)
        starting at once on one database do it one after the other."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Executor]: ...
    async def execute_script(self, statements: Sequence[str]) -> None: ...
    def integrity_problem(self, exc: BaseException) -> IntegrityProblem | None: ...
    async def tables(self) -> list[str]: ...
    async def columns(self, table: str) -> list[str]: ...
    async def indexes(self, table: str) -> list[str]: ...
    async def change_counter(self) -> int:
        """SQLite: a number that changes whenever any process commits to the database."""
        ...

    async def track_changes(self, tables: Iterable[str]) -> set[str]:
        """Make ``dialect.changes_version`` cover ``tables``; return those it covers."""
        ...
