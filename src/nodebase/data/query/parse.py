"""Turn query-string parameters or a JSON query body into a validated RepoQuery.

Accepts every form bknd's client sends (reference §2.2, §3.2): JSON in the query string
with literal ``{ } : $ ,``, repeated ``select``/``join`` keys, comma lists, ``-field`` sorts,
sort objects, and nested ``with`` objects. Every mistake is an InvalidQuery naming the
entity, field or parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from nodebase.data.query.model import DEFAULT_LIMIT, MAX_LIMIT, RepoQuery
from nodebase.data.schema import DataSchema, Entity
from nodebase.kernel.errors import InvalidJson, InvalidQuery

QUERY_KEYS = {"limit", "offset", "sort", "select", "where", "join", "with", "count"}


def _json(value: str, what: str) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise InvalidJson(f"Malformed JSON in {what}: {exc}", context={"param": what}) from None


def _int(value: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isascii() and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidQuery(f'"{what}" must be an integer', context={"param": what, "value": value})
    if not lo <= value <= hi:
        raise InvalidQuery(f'"{what}" must be between {lo} and {hi}', context={"param": what, "value": value})
    return value


def _list(value: Any, what: str) -> list[str]:
    """A comma list, a list of comma lists, or a JSON array string."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        if isinstance(item, str) and item.startswith("["):
            out.extend(_list(_json(item, what), what))
        elif isinstance(item, str):
            out.extend(p.strip() for p in item.split(",") if p.strip())
        else:
            raise InvalidQuery(f'"{what}" must be a list of names', context={"param": what})
    return out


def _readable(entity: Entity, name: str) -> bool:
    f = entity.fields.get(name)
    return f is not None and f.is_column and f.hidden is not True and not (
        isinstance(f.hidden, list) and "read" in f.hidden
    )


def _check_field(entity: Entity, name: str, what: str) -> None:
    if not _readable(entity, name):
        valid = [f.name for f in entity.readable]
        raise InvalidQuery(
            f'Invalid {what}: "{name}" is not a field of entity "{entity.name}"',
            context={"entity": entity.name, "field": name, "param": what, "valid": valid},
        )


def parse_sort(entity: Entity, value: Any) -> list[tuple[str, str]]:
    if value is None or value == "":
        field, direction = entity.sort
        return [(field, direction)]
    if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
        value = _json(value, "sort")
    items: list[Any] = value if isinstance(value, list) else [value]
    out: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, dict):
            by, direction = item.get("by"), item.get("dir", "asc")
            if not isinstance(by, str) or direction not in ("asc", "desc"):
                raise InvalidQuery(
                    'sort objects look like {"by": "field", "dir": "asc"|"desc"}',
                    context={"entity": entity.name, "param": "sort", "value": item},
                )
            parts = [(by, direction)]
        elif isinstance(item, str):
            parts = []
            for p in (s.strip() for s in item.split(",")):
                if p:
                    parts.append((p[1:], "desc") if p.startswith("-") else (p.lstrip("+"), "asc"))
        else:
            raise InvalidQuery("sort must be a field name, -field, or an object", context={"param": "sort"})
        for by, direction in parts:
            _check_field(entity, by, "sort")
            out.append((by, direction))
    return out or [entity.sort]


def parse_with(schema: DataSchema, entity: Entity, value: Any, depth: int = 0) -> dict[str, RepoQuery]:
    if value is None or value == "":
        return {}
    if depth > 5:
        raise InvalidQuery("with is nested too deeply (max 5)", context={"entity": entity.name})
    if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
        value = _json(value, "with")
    specs: dict[str, Any] = {}
    if isinstance(value, dict):
        specs = value
    else:
        for name in _list(value, "with"):
            specs[name] = {}
    out: dict[str, RepoQuery] = {}
    for name, spec in specs.items():
        ref = entity.references.get(name)
        if ref is None:
            raise InvalidQuery(
                f'Invalid with: "{name}" is not a relation of entity "{entity.name}"',
                context={"entity": entity.name, "relation": name, "valid": sorted(entity.references)},
            )
        target = schema.entities[ref.target]
        if spec in (True, None, 1):
            spec = {}
        if not isinstance(spec, dict):
            raise InvalidQuery(f'with.{name} must be an object', context={"entity": entity.name})
        sub = parse_query(schema, target, spec, depth=depth + 1)
        if "limit" not in spec:
            sub.limit = ref.limit or DEFAULT_LIMIT
        if "sort" not in spec:
            sub.sort = [("id", "asc")]
        out[name] = sub
    return out


def parse_query(
    schema: DataSchema, entity: Entity, params: Mapping[str, Any], *, depth: int = 0
) -> RepoQuery:
    """``params``: a dict from a JSON body, or query-string values (str or list of str)."""
    unknown = set(params) - QUERY_KEYS
    if unknown:
        raise InvalidQuery(
            f"Unknown query parameter(s): {', '.join(sorted(unknown))}",
            context={"entity": entity.name, "valid": sorted(QUERY_KEYS)},
        )
    q = RepoQuery()
    if (v := params.get("limit")) is not None:
        q.limit = _int(v, "limit", 0, MAX_LIMIT)
    if (v := params.get("offset")) is not None:
        q.offset = _int(v, "offset", 0, 2**53)
    q.sort = parse_sort(entity, params.get("sort"))
    if (v := params.get("select")) is not None:
        sel = _list(v, "select")
        for name in sel:
            _check_field(entity, name, "select")
        q.select = sel or None
    if (v := params.get("where")) is not None and v != "":
        if isinstance(v, str):
            v = _json(v, "where")
        if not isinstance(v, dict):
            raise InvalidQuery("where must be a JSON object", context={"entity": entity.name})
        q.where = v or None
    for name in _list(params.get("join"), "join"):
        if name not in entity.references:
            raise InvalidQuery(
                f'Invalid join: "{name}" is not a relation of entity "{entity.name}"',
                context={"entity": entity.name, "relation": name, "valid": sorted(entity.references)},
            )
        q.join.append(name)
    q.with_ = parse_with(schema, entity, params.get("with"), depth)
    if (v := params.get("count")) is not None:
        if isinstance(v, str):
            v = v.lower() not in ("0", "false", "no", "off")
        q.count = bool(v)
    return q


def query_params_to_dict(items: list[tuple[str, str]]) -> dict[str, Any]:
    """Query-string pairs → dict; repeated keys become lists."""
    out: dict[str, Any] = {}
    for k, v in items:
        if k in out:
            prev = out[k]
            out[k] = [*prev, v] if isinstance(prev, list) else [prev, v]
        else:
            out[k] = v
    for k in ("limit", "offset", "sort", "where", "with", "count"):
        if isinstance(out.get(k), list):
            raise InvalidQuery(f'"{k}" was given more than once', context={"param": k})
    return out
