"""Evaluate a where-document against one row in memory, with the SQL compiler's semantics.

Realtime applies each subscriber's row filter and ``where`` to every change event; asking
the database for each (event, subscriber) pair would cost a query per delivery. This module
gives the same answer as :class:`~nodebase.data.query.compiler.WhereCompiler` would for that
row, including SQL's three-valued logic: a comparison with NULL is *unknown*, ``NOT unknown``
is unknown, and a row matches only when the whole condition is true (so ``{"a": {"$ne": 1}}``
does not match a row whose ``a`` is null, exactly as ``a <> 1`` does not).

Where the dialects differ, the ``dialect`` argument picks: ``$like`` is case-insensitive
for ASCII only on SQLite (``LIKE``) and for all of Unicode on PostgreSQL (``ILIKE``, where a
backslash escapes the next character).

A condition on a related entity (``"author.name"``) or on a field the row does not carry (a
field hidden from reads) cannot be decided from the row alone: :class:`NotEvaluable` is
raised and the caller asks the database instead.

Validate the document with the SQL compiler first (it raises the ``InvalidQuery`` errors the
HTTP API gives); this module assumes a well-formed document.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import orjson

from nodebase.data.schema import Entity
from nodebase.data.schema.fields import Field

_UNKNOWN = None  # SQL's third truth value
_EMPTY = object()  # a group without conditions: dropped, as the compiler drops ""


class NotEvaluable(Exception):
    """The condition needs data the row does not carry (a relation, a hidden field)."""


def row_matches(entity: Entity, where: dict[str, Any] | None, row: dict[str, Any],
                dialect: str = "sqlite") -> bool:
    """True when ``row`` (as the Data API returns it) satisfies ``where``."""
    if not where:
        return True
    result = _Evaluator(entity, row, dialect).doc(where)
    return result is True or result is _EMPTY


class _Evaluator:
    def __init__(self, entity: Entity, row: dict[str, Any], dialect: str) -> None:
        self.entity = entity
        self.row = row
        self.dialect = dialect

    # -- logic ------------------------------------------------------------------------------
    @staticmethod
    def _and(values: list[Any]) -> Any:
        values = [v for v in values if v is not _EMPTY]
        if not values:
            return _EMPTY
        if any(v is False for v in values):
            return False
        return _UNKNOWN if any(v is _UNKNOWN for v in values) else True

    @staticmethod
    def _or(values: list[Any]) -> Any:
        values = [v for v in values if v is not _EMPTY]
        if not values:
            return _EMPTY
        if any(v is True for v in values):
            return True
        return _UNKNOWN if any(v is _UNKNOWN for v in values) else False

    def doc(self, where: dict[str, Any]) -> Any:
        return self._and([self.entry(k, v) for k, v in where.items()])

    def _group(self, value: Any, join: Any) -> Any:
        if isinstance(value, dict):
            return join([self.entry(k, v) for k, v in value.items()])
        return join([self.doc(item) for item in value])

    def entry(self, key: str, value: Any) -> Any:
        if key == "$or":
            return self._group(value, self._or)
        if key == "$and":
            return self._group(value, self._and)
        if key == "$not":
            inner = self.doc(value)
            if inner is _EMPTY or inner is _UNKNOWN:
                return inner
            return not inner
        if "." in key:
            raise NotEvaluable(f'"{key}" is a condition on a related entity')
        field = self.entity.fields.get(key)
        if field is None or key not in self.row:
            raise NotEvaluable(f'the row does not carry "{key}"')
        have = _column_value(field, self.row[key])
        if isinstance(value, dict):
            return self._and([self.op(field, have, op, v) for op, v in value.items()])
        if isinstance(value, list):
            return self.op(field, have, "$in", value)
        return self.op(field, have, "$eq", value)

    # -- comparisons ------------------------------------------------------------------------
    def op(self, field: Field, have: Any, op: str, value: Any) -> Any:
        if op in ("$eq", "$ne"):
            if value is None:
                return (have is None) == (op == "$eq")
            if have is None:
                return _UNKNOWN
            equal = _equal(have, field.to_query(value))
            return equal if op == "$eq" else not equal
        if op in ("$isnull", "$notnull"):
            if isinstance(value, str):
                value = value.lower() in ("1", "true")
            want_null = bool(value) == (op == "$isnull")
            return (have is None) == want_null
        if op in ("$in", "$notin"):
            if isinstance(value, str):
                value = [v for v in value.split(",") if v != ""]
            if not value:
                return op == "$notin"
            if have is None:
                return _UNKNOWN
            wanted = [field.to_query(v) for v in value]
            found = any(w is not None and _equal(have, w) for w in wanted)
            if found:
                return op == "$in"
            if any(w is None for w in wanted):
                return _UNKNOWN
            return op == "$notin"
        if have is None:
            return _UNKNOWN
        if op in ("$gt", "$gte", "$lt", "$lte"):
            return _compare(op, have, field.to_query(value))
        if op == "$between":
            lo, hi = (field.to_query(v) for v in value)
            return _compare("$gte", have, lo) and _compare("$lte", have, hi)
        if op in ("$like", "$ilike"):
            text = have if field.type in ("text", "enum", "date", "json") else self._as_text(have)
            return _like(value.replace("*", "%"), self.dialect).match(text) is not None
        raise NotEvaluable(f'unknown operator "{op}"')

    def _as_text(self, value: Any) -> str:
        """``CAST(value AS TEXT)`` in the active dialect."""
        if isinstance(value, bool):
            if self.dialect == "sqlite":
                return "1" if value else "0"
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer() and self.dialect != "sqlite":
            return str(int(value))
        return str(value)


def _column_value(field: Field, value: Any) -> Any:
    """The row's value as the column holds it (JSON is stored as its text)."""
    if value is None:
        return None
    if field.type == "json":
        return orjson.dumps(value).decode()  # the column holds to_db's orjson text
    return value


def _equal(have: Any, want: Any) -> bool:
    if isinstance(have, str) != isinstance(want, str):
        return False
    return bool(have == want)


def _compare(op: str, have: Any, want: Any) -> bool:
    if isinstance(have, str) != isinstance(want, str):
        # SQLite orders every number before every text; the typed PostgreSQL columns never
        # mix them (the field's to_query already converted the operand)
        have_rank, want_rank = isinstance(have, str), isinstance(want, str)
        have, want = have_rank, want_rank
    if op == "$gt":
        return bool(have > want)
    if op == "$gte":
        return bool(have >= want)
    if op == "$lt":
        return bool(have < want)
    return bool(have <= want)


@lru_cache(maxsize=1024)
def _like(pattern: str, dialect: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and dialect != "sqlite" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    regex = "".join(out)
    if dialect == "sqlite":
        # ASCII letters only: SQLite's LIKE folds nothing else
        regex = re.sub(r"[A-Za-z]", lambda m: f"[{m.group(0).lower()}{m.group(0).upper()}]", regex)
        return re.compile(regex + r"\Z", re.DOTALL)
    return re.compile(regex + r"\Z", re.DOTALL | re.IGNORECASE)


__all__ = ["NotEvaluable", "row_matches"]
