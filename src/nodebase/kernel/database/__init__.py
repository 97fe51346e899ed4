"""Database access: pick a driver from a URL."""

from __future__ import annotations

from nodebase.kernel.database.base import Database, Executor, IntegrityProblem
from nodebase.kernel.database.dialect import Dialect, PostgresDialect, SqliteDialect


def open_database(url: str) -> Database:
    """``sqlite:///path`` / ``file:path`` → SQLite; ``postgresql://`` → PostgreSQL."""
    if url.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
        from nodebase.kernel.database.postgres import PostgresDatabase

        return PostgresDatabase(url)
    if url.startswith(("sqlite:", "file:")) or "://" not in url:
        from nodebase.kernel.database.sqlite import SqliteDatabase

        return SqliteDatabase(url)
    from nodebase.kernel.errors import BadRequest

    raise BadRequest(f"unsupported database URL scheme: {url.split(':', 1)[0]}")


__all__ = [
    "Database",
    "Dialect",
    "Executor",
    "IntegrityProblem",
    "PostgresDialect",
    "SqliteDialect",
    "open_database",
]
