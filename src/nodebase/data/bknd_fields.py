"""The field options nodebase has and bknd's strict field schemas do not: bknd keeps unique
and plain indices in ``data.indices`` and has no integer flag nor a json field's schema.

``system/bknd_schema.py`` leaves them out of bknd's view of the config; the Data module keeps
them when bknd's schema editor saves an entity's fields whole (:func:`keep_nodebase_keys`).
"""

from __future__ import annotations

from typing import Any

#: field config keys bknd's field schemas refuse, per field type ("*": every type)
NOT_BKND: dict[str, tuple[str, ...]] = {"*": ("unique", "index"), "number": ("integer",), "json": ("schema",)}


def not_bknd(field_type: Any) -> tuple[str, ...]:
    """The keys of a field of that type that bknd does not know."""
    return NOT_BKND["*"] + NOT_BKND.get(str(field_type), ())


def keep_nodebase_keys(doc: dict[str, Any], path: str | None, value: Any) -> Any:
    """bknd's schema editor saves an entity's fields whole (``overwrite entities.<e>.fields``)
    in bknd's keys, so nodebase's own field options it was never shown (``unique``, ``index``,
    ``integer``, a json field's ``schema``) would silently go. A field that keeps its type keeps
    them unless the new config names them (``"unique": false`` still removes one)."""
    parts = (path or "").split(".")
    if len(parts) != 3 or parts[0] != "entities" or parts[2] != "fields" or not isinstance(value, dict):
        return value
    current = ((doc.get("entities") or {}).get(parts[1]) or {}).get("fields") or {}
    out = {}
    for name, spec in value.items():
        old = current.get(name)
        if isinstance(spec, dict) and isinstance(old, dict) and old.get("type") == spec.get("type"):
            kept = {k: v for k, v in (old.get("config") or {}).items() if k in not_bknd(old.get("type"))}
            if kept:
                spec = {**spec, "config": {**kept, **(spec.get("config") or {})}}
        out[name] = spec
    return out
