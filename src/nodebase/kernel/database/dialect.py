"""What differs between SQL dialects, in one place.

The Data module's query compiler and schema sync ask the dialect for identifiers,
placeholders, JSON construction and type names; nothing else in nodebase writes
dialect-specific SQL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # SQLAlchemy is imported only when DDL is generated (cold start)
    from sqlalchemy.engine import Dialect as SADialect


class Dialect:
    name: str = ""
    #: LIKE operator that matches case-insensitively (as SQLite's LIKE does for ASCII).
    like: str = "LIKE"

    def quote(self, ident: str) -> str:
        return '"' + ident.replace('"', '""') + '"'

    def placeholder(self, n: int) -> str:  # n is 1-based
        raise NotImplementedError

    def json_object(self, pairs: list[tuple[str, str]]) -> str:
        raise NotImplementedError

    def json_agg(self, expr: str) -> str:
        """Aggregate ``expr`` (a JSON object expression) into a JSON array; ``[]`` if none."""
        raise NotImplementedError

    def cast_text(self, expr: str) -> str:
        return f"CAST({expr} AS TEXT)"

    def changes_version(self, tables: str) -> str | None:
        """A scalar subquery giving a number that grows with every committed write to the
        tracked tables named by ``tables`` (a comma list of placeholders of text parameters,
        one per table), or None: read it separately (``Database.change_counter``)."""
        return None

    def bool_param(self, value: bool) -> Any:
        return value

    def sqlalchemy(self) -> SADialect:
        raise NotImplementedError


class SqliteDialect(Dialect):
    name = "sqlite"
    like = "LIKE"

    def placeholder(self, n: int) -> str:
        return "?"

    def json_object(self, pairs: list[tuple[str, str]]) -> str:
        inner = ", ".join(f"'{k}', {v}" for k, v in pairs)
        return f"json_object({inner})"

    def json_agg(self, expr: str) -> str:
        return f"json_group_array(json({expr}))"

    def bool_param(self, value: bool) -> Any:
        return 1 if value else 0

    def sqlalchemy(self) -> SADialect:
        from sqlalchemy.dialects import sqlite

        return sqlite.dialect()


class PostgresDialect(Dialect):
    name = "postgresql"
    like = "ILIKE"

    def placeholder(self, n: int) -> str:
        return f"${n}"

    def json_object(self, pairs: list[tuple[str, str]]) -> str:
        inner = ", ".join(f"'{k}', {v}" for k, v in pairs)
        return f"json_build_object({inner})"

    def json_agg(self, expr: str) -> str:
        return f"coalesce(json_agg({expr}), '[]'::json)"

    def changes_version(self, tables: str) -> str | None:
        # the table and its trigger: kernel/database/postgres.py (track_changes). One text
        # parameter per table, not a text[] with ANY: asyncpg encodes no array (~11,000 fewer
        # client instructions per list, callgrind) and the plan is a plain index lookup
        # (docs/data.md "Counts")
        return ('SELECT coalesce(sum(n), 0)::bigint FROM "__nodebase_changes" '
                f"WHERE entity IN ({tables})")

    def sqlalchemy(self) -> SADialect:
        from sqlalchemy.dialects import postgresql

        return postgresql.dialect()
