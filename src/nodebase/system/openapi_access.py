"""The OpenAPI document as one caller may see it: only the operations its role may use.

Callers with ``system.openapi`` (admins by default) get the whole document. Everyone else —
anonymous visitors of the Swagger UI included — gets the operations that need no permission
(sign-in, registration, ping, …) plus those whose ``x-permission`` their role is granted (for
entity routes, for that entity), and only the component schemas those operations use: an
anonymous visitor learns what it can do, not the rest of the data model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SCHEMA_REF = "#/components/schemas/"

Allowed = Callable[[str, dict[str, Any]], bool]


def _refs(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMA_REF):
            out.add(ref[len(SCHEMA_REF):])
        for value in node.values():
            _refs(value, out)
    elif isinstance(node, list):
        for value in node:
            _refs(value, out)


def _entity_of(path: str, entity_base: str) -> str | None:
    if not path.startswith(entity_base):
        return None
    name = path[len(entity_base):].split("/", 1)[0]
    return name if name and not name.startswith("{") else None


def visible_part(doc: dict[str, Any], allowed: Allowed, *, entity_base: str, who: str) -> dict[str, Any]:
    """``doc`` without the operations ``allowed(permission, context)`` refuses."""
    paths: dict[str, Any] = {}
    for path, item in doc.get("paths", {}).items():
        entity = _entity_of(path, entity_base)
        context = {"entity": entity} if entity else {}
        kept = {k: v for k, v in item.items() if k not in METHODS}
        ops = {m: op for m, op in item.items() if m in METHODS and isinstance(op, dict) and (
            not op.get("x-permission") or allowed(str(op["x-permission"]), context))}
        if ops:
            paths[path] = {**kept, **ops}
    components = dict(doc.get("components", {}))
    schemas: dict[str, Any] = components.get("schemas", {})
    wanted: set[str] = set()
    _refs(paths, wanted)
    _refs(components.get("responses", {}), wanted)
    done: set[str] = set()
    while wanted - done:
        name = (wanted - done).pop()
        done.add(name)
        _refs(schemas.get(name), wanted)
    components["schemas"] = {k: v for k, v in schemas.items() if k in done}
    used_tags = {t for item in paths.values() for m, op in item.items() if m in METHODS
                 for t in op.get("tags", ())}
    info = dict(doc.get("info", {}))
    info["description"] = (
        f"{info.get('description', '')} This document shows what {who} may do; "
        "sign in (or send a token or API key) to see the operations your role is granted."
    ).strip()
    return {**doc, "info": info, "paths": paths, "components": components,
            "tags": [t for t in doc.get("tags", []) if t.get("name") in used_tags]}
