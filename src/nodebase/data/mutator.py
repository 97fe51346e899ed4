"""Check and convert a create/update body against an entity.

Returns the column values to write and the relation operations (m:n links) to run after
the row exists. Every problem is a ValidationFailed naming the entity and field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nodebase.data.schema import DataSchema, Entity, Reference
from nodebase.data.schema.fields import uuid7
from nodebase.kernel.errors import ValidationFailed

REL_OPS = ("$set", "$attach", "$detach", "$create")


@dataclass
class Prepared:
    values: dict[str, Any]
    links: list[tuple[Reference, str, list[Any]]] = field(default_factory=list)


def _fail(entity: Entity, message: str, **ctx: Any) -> ValidationFailed:
    return ValidationFailed(message, context={"entity": entity.name, **ctx})


def _ids(entity: Entity, ref: Reference, value: Any, schema: DataSchema) -> list[Any]:
    target = schema.entities[ref.target]
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        raw = item.get("id") if isinstance(item, dict) else item
        if raw is None:
            raise _fail(entity, f'"{ref.name}" needs ids of {target.name}', field=ref.name)
        out.append(target.primary.to_db(raw))
    return out


def prepare(schema: DataSchema, entity: Entity, body: Any, *, create: bool) -> Prepared:
    if not isinstance(body, dict):
        raise _fail(entity, "The body must be a JSON object", got=type(body).__name__)
    values: dict[str, Any] = {}
    prepared = Prepared(values)
    for key, value in body.items():
        f = entity.fields.get(key)
        if f is None:
            ref = entity.references.get(key)
            if ref is None:
                raise _fail(
                    entity,
                    f'Field "{key}" not found on entity "{entity.name}"',
                    field=key,
                    valid=[n for n, x in entity.fields.items() if x.fillable_create and x.is_column],
                )
            _relation_op(schema, entity, ref, value, prepared)
            continue
        if not f.is_column or not (f.fillable_create if create else f.fillable_update):
            raise _fail(entity, f'Field "{key}" cannot be set', field=key)
        if value is None and f.required:
            raise _fail(entity, f'Field "{key}" is required', field=key)
        values[key] = f.to_db(value)
    if create:
        for f in entity.columns:
            if f.name in values or f.name == "id":
                continue
            if f.has_default:
                values[f.name] = f.default
            elif f.required:
                raise _fail(entity, f'Field "{f.name}" is required', field=f.name)
        if entity.primary_format == "uuid":
            values["id"] = uuid7()
    return prepared


def _relation_op(schema: DataSchema, entity: Entity, ref: Reference, value: Any, out: Prepared) -> None:
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in REL_OPS:
        raise _fail(
            entity,
            f'Relation "{ref.name}" takes one of {list(REL_OPS)}, e.g. {{"$set": {{"id": 1}}}}',
            field=ref.name,
        )
    op, arg = next(iter(value.items()))
    if op == "$create":
        raise _fail(entity, f'"$create" on "{ref.name}" is not supported; create the row first', field=ref.name)
    if ref.kind == "fk":
        if op != "$set":
            raise _fail(entity, f'"{ref.name}" is a to-one relation: use $set', field=ref.name)
        if arg is None or (isinstance(arg, dict) and arg.get("id") is None):
            fk = entity.fields[ref.local]
            if fk.required:
                raise _fail(entity, f'Field "{ref.local}" is required', field=ref.local)
            out.values[ref.local] = None
            return
        out.values[ref.local] = _ids(entity, ref, arg, schema)[0]
        return
    if ref.kind == "through":
        out.links.append((ref, op, _ids(entity, ref, arg, schema)))
        return
    raise _fail(entity, f'"{ref.name}" cannot be changed from {entity.name}; change the other side',
                field=ref.name)
