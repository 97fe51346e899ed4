"""Policy conditions and placeholders (bknd's object queries, reference §2.3).

A condition is an object query evaluated in memory against the permission context
(``{"entity": "posts", "id": 5, "user": {...}}``); a filter is an object query that the data
module turns into SQL. Both may hold ``@path`` placeholders (``@user.id``, ``@entity``) that
are replaced by values from the context before use.
"""

from __future__ import annotations

import re
from typing import Any

OPERATORS = frozenset(
    {"$eq", "$ne", "$like", "$regex", "$isnull", "$notnull", "$in", "$notin",
     "$gt", "$gte", "$lt", "$lte", "$between"}
)
_PLACEHOLDER = re.compile(r"^@([a-zA-Z_][a-zA-Z0-9_.]*)$")


class Unresolved(Exception):
    """A placeholder names a value the context does not have (e.g. ``@user.id`` when anonymous)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def has_placeholders(doc: Any) -> bool:
    if isinstance(doc, str):
        return _PLACEHOLDER.match(doc) is not None
    if isinstance(doc, dict):
        return any(has_placeholders(v) for v in doc.values())
    if isinstance(doc, list):
        return any(has_placeholders(v) for v in doc)
    return False


def lookup(path: str, source: dict[str, Any]) -> Any:
    """``user.id`` in ``{"user": {"id": 1}}``; raises :class:`Unresolved` when missing."""
    node: Any = source
    for part in path.split("."):
        if not isinstance(node, dict) or node.get(part) is None:
            raise Unresolved("@" + path)
        node = node[part]
    return node


def resolve(doc: Any, variables: dict[str, Any]) -> Any:
    """A copy of ``doc`` with every ``@path`` string replaced by its value."""
    if isinstance(doc, str):
        m = _PLACEHOLDER.match(doc)
        return lookup(m.group(1), variables) if m else doc
    if isinstance(doc, dict):
        return {k: resolve(v, variables) for k, v in doc.items()}
    if isinstance(doc, list):
        return [resolve(v, variables) for v in doc]
    return doc


def check_query(doc: Any, path: str) -> list[str]:
    """Problems in an object query (for config validation); empty when it is well formed."""
    problems: list[str] = []
    if not isinstance(doc, dict):
        return [f"{path} must be an object"]
    for key, value in doc.items():
        if key in ("$or", "$and"):
            items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(
                value, list) else None
            if items is None:
                problems.append(f"{path}.{key} must be an object or a list of objects")
                continue
            for k, sub in items:
                if isinstance(value, list):
                    problems += check_query(sub, f"{path}.{key}[{k}]")
                else:
                    problems += check_query({k: sub}, f"{path}.{key}")
            continue
        if key.startswith("$"):
            problems.append(f"{path}: unknown operator {key!r} at the top of a query")
            continue
        if isinstance(value, dict):
            for op, arg in value.items():
                if op not in OPERATORS:
                    problems.append(f"{path}.{key}: unknown operator {op!r}")
                elif op in ("$in", "$notin") and not isinstance(arg, list):
                    problems.append(f"{path}.{key}.{op} needs a list")
                elif op == "$between" and not (isinstance(arg, list) and len(arg) == 2):
                    problems.append(f"{path}.{key}.$between needs a list of two values")
                elif op == "$regex" and isinstance(arg, str):
                    try:
                        re.compile(arg)
                    except re.error as exc:
                        problems.append(f"{path}.{key}.$regex is not a valid regex: {exc}")
    return problems


def _compare(op: str, have: Any, want: Any) -> bool:
    try:
        if op == "$eq":
            return bool(have == want)
        if op == "$ne":
            return bool(have != want)
        if op == "$isnull":
            return (have is None) == bool(want)
        if op == "$notnull":
            return (have is not None) == bool(want)
        if op == "$in":
            return have in want
        if op == "$notin":
            return have not in want
        if have is None:
            return False
        if op == "$gt":
            return bool(have > want)
        if op == "$gte":
            return bool(have >= want)
        if op == "$lt":
            return bool(have < want)
        if op == "$lte":
            return bool(have <= want)
        if op == "$between":
            return bool(want[0] <= have <= want[1])
        if op == "$like":
            pattern = "^" + re.escape(str(want)).replace(r"\*", ".*").replace("%", ".*") + "$"
            return re.match(pattern, str(have), re.IGNORECASE | re.DOTALL) is not None
        if op == "$regex":
            return re.search(str(want), str(have)) is not None
    except TypeError:
        return False
    return False


def _get(subject: dict[str, Any], path: str) -> Any:
    node: Any = subject
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def matches(query: dict[str, Any], subject: dict[str, Any]) -> bool:
    """Evaluate an object query against ``subject`` (keys may be dotted paths)."""
    for key, cond in query.items():
        if key == "$or":
            parts = cond if isinstance(cond, list) else [{k: v} for k, v in cond.items()]
            if not any(matches(p, subject) for p in parts):
                return False
            continue
        if key == "$and":
            parts = cond if isinstance(cond, list) else [{k: v} for k, v in cond.items()]
            if not all(matches(p, subject) for p in parts):
                return False
            continue
        have = _get(subject, key)
        if isinstance(cond, dict):
            if not all(_compare(op, have, arg) for op, arg in cond.items()):
                return False
        elif have != cond:
            return False
    return True
