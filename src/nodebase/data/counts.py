"""Counts for list metadata (``meta.count``, ``meta.total``): cached, and exact for every caller.

A count is cached per statement (entity × the caller's row filter × ``where``, with the
parameters) together with the *change version* of the tables that statement reads. It is
used again only while that version is unchanged, so a write committed by any process or node
is seen by the very next list. Where the version comes from is the invalidation transport,
behind :class:`ChangeVersions`:

- PostgreSQL: a per-table counter bumped by a trigger inside every writing transaction
  (kernel/database/postgres.py), read by the list statement itself. The page, the version and
  (only when the cached one is stale) the counts come back in one round trip, from one
  snapshot, so a count can never be paired with a newer version than its own.
- SQLite: ``PRAGMA data_version`` (changes with every commit of any process) plus this
  process's writes, read before the statement.

A transport that cannot answer (a broker that is down, a table without its trigger) gives no
version, and then the count is taken, never a cached one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Protocol

from nodebase.kernel.database import Database

CountKey = tuple[str, tuple[Any, ...]]

#: the version passed for a statement without a cached count: versions are never negative
NO_VERSION = -1


class ChangeVersions(Protocol):
    """The invalidation transport: a number per set of tables that changes with every
    committed write to any of them, the same on every node."""

    #: tables whose writes the versions see; counts over any other table are never cached
    tracked: frozenset[str]
    #: True: the version is read by the list statement itself (:meth:`subquery`)
    in_statement: bool

    def subquery(self, tables: str) -> str:
        """SQL of a scalar subquery giving the version (``tables``: a comma list of the
        placeholders of the table names, one text parameter each); only when
        :attr:`in_statement`."""
        ...

    async def current(self, tables: frozenset[str]) -> int | None:
        """The version now, or None when it cannot be known (count, do not trust a cache)."""
        ...


class DatabaseVersions:
    """Versions kept by the database itself (no broker needed)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.tracked: frozenset[str] = frozenset()
        self.in_statement = db.dialect.changes_version("$1") is not None

    async def track(self, tables: Iterable[str]) -> None:
        self.tracked = frozenset(await self.db.track_changes(tables))

    def subquery(self, tables: str) -> str:
        text = self.db.dialect.changes_version(tables)
        assert text is not None
        return text

    async def current(self, tables: frozenset[str]) -> int | None:
        return await self.db.change_counter()


class CountCache:
    """Least recently used (statement → (version, count)), at most ``maxsize`` entries."""

    def __init__(self, maxsize: int = 4096) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[CountKey, tuple[int, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def entry(self, key: CountKey) -> tuple[int, int]:
        """(version, count) cached for ``key``, or (NO_VERSION, 0)."""
        hit = self._items.get(key)
        if hit is None:
            return NO_VERSION, 0
        self._items.move_to_end(key)
        return hit

    def get(self, key: CountKey, version: int) -> int | None:
        seen, count = self.entry(key)
        return count if seen == version else None

    def put(self, key: CountKey, version: int, count: int) -> None:
        self._items[key] = (version, count)
        self._items.move_to_end(key)
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)
