"""OpenAPI description of the Data module: every entity's routes and row schemas, and the
schema routes (``/api/data``, ``sync``, ``schema.json``, ``schemas``, ``info``, ``types``).

Registered with ``nb.add_openapi(data_openapi)``; called for every document, so it follows the
live schema. Per entity: list, create (one or many), update many, delete many, ``/query``,
``/fn/count``, ``/fn/exists``, read/update/delete one, and one ``/{id}/<reference>`` path per
reference, with the entity's schemas as components: ``<entity>`` (a row as read),
``<entity>Create`` and ``<entity>Update`` (bodies). System entities (users, media) are
read-only through this API, so they get no write operations and no body schemas.

A row as read has no required fields: ``select`` (and ``with``'s ``select``) return only the
fields asked for, so any field may be absent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nodebase.data.describe import entity_json_schema
from nodebase.data.query.model import DEFAULT_LIMIT, MAX_LIMIT
from nodebase.data.schema import DataSchema, Entity
from nodebase.kernel.openapi import (
    JSON,
    SHARED_SCHEMAS,
    Schema,
    errors,
    json_body,
    ok,
    path_param,
    query_param,
    ref,
)

#: the largest offset the query parser accepts (nodebase.data.query.parse)
MAX_OFFSET = 2**53

META_SCHEMA: Schema = {
    "type": "object",
    "properties": {
        "items": {"type": "integer", "description": "Rows in data"},
        "time": {"type": "number", "description": "Database time in milliseconds"},
        "count": {"type": "integer", "description": "Rows matching where, ignoring limit/offset"},
        "total": {"type": "integer", "description": "Rows in the table"},
    },
    "required": ["items"],
}

WHERE_SCHEMA: Schema = {
    "type": "object",
    "description": (
        'A filter. {"field": value} means equal; {"field": {"$op": value}} with $eq $ne $gt $gte '
        "$lt $lte $isnull $in $notin $between $like; $or and $and nest (an object or a list of "
        'objects); "relation.field" keys join the relation.'
    ),
    "examples": [{"id": {"$gt": 1}}, {"$or": {"id": 1, "id_2": {"$in": [2, 3]}}}],
}

#: the Data module's own component schemas
DATA_SCHEMAS: dict[str, Schema] = {"Meta": META_SCHEMA, "Where": WHERE_SCHEMA}


class _Names:
    """Component names: entity names are free-form, so a name is never given twice."""

    def __init__(self, taken: Iterable[str]) -> None:
        self.taken = set(taken)

    def get(self, wanted: str) -> str:
        name, n = wanted, 2
        while name in self.taken:
            name, n = f"{wanted}_{n}", n + 1
        self.taken.add(name)
        return name


def component_names(schema: DataSchema) -> dict[str, tuple[str, str, str]]:
    """entity name -> its (read, create, update) component names, the same on every call, so
    other modules can refer to an entity's rows (auth: ``users``)."""
    names = _Names([*SHARED_SCHEMAS, *DATA_SCHEMAS])
    return {
        name: (names.get(name), names.get(f"{name}Create"), names.get(f"{name}Update"))
        for name in schema.entities
    }


class _DataDoc:
    def __init__(self, nb: Any) -> None:
        schema: DataSchema = nb.data.schema
        self.schema = schema
        self.basepath = str(schema.config.get("basepath") or "/api/data").rstrip("/")
        self.schemas: dict[str, Schema] = dict(DATA_SCHEMAS)
        self.paths: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, Schema] = {}
        self.components = component_names(schema)
        self.system_entities: set[str] = set(getattr(nb.data.service, "system_entities", ()) or ())

    def tag(self, name: str, description: str = "") -> str:
        if name not in self.tags:
            self.tags[name] = {"name": name, **({"description": description} if description else {})}
        return name

    def op(self, path: str, method: str, operation: Schema) -> None:
        self.paths.setdefault(path, {})[method] = operation

    # -- data entities -------------------------------------------------------------------
    def entity_schemas(self, entity: Entity) -> None:
        read_name, create_name, update_name = self.components[entity.name]
        read = entity_json_schema(entity, "read")
        # select returns only the fields asked for: in an answer, any field may be absent
        read.pop("required", None)
        read["description"] = (
            f"A {entity.name} row: every readable field, or those named by select"
        )
        props = read.setdefault("properties", {})
        for rel in entity.references.values():
            if rel.name in props:
                continue
            target = ref(self.components[rel.target][0])
            if rel.many:
                props[rel.name] = {
                    "type": "array",
                    "items": target,
                    "description": f"Related {rel.target} rows (only with `with`)",
                }
            else:
                props[rel.name] = {
                    "anyOf": [target, {"type": "null"}],
                    "description": f"The related {rel.target} row (only with `with`)",
                }
        if entity.config.get("description"):
            read["description"] = f'{entity.config["description"]} ({read["description"]})'
        self.schemas[read_name] = read
        if entity.name not in self.system_entities:  # others are read-only via the data API
            self.schemas[create_name] = entity_json_schema(entity, "create")
            self.schemas[update_name] = entity_json_schema(entity, "update")

    def list_params(self, entity: Entity, *, one: bool = False) -> list[Schema]:
        fields = [f.name for f in entity.readable]
        refs = sorted(entity.references)
        params: list[Schema] = []
        if not one:
            params += [
                query_param(
                    "limit",
                    {
                        "type": "integer",
                        "minimum": 0,
                        "maximum": MAX_LIMIT,
                        "default": DEFAULT_LIMIT,
                    },
                    "Rows to return",
                ),
                query_param("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}, "Rows to skip"),
                query_param(
                    "sort",
                    {"type": "string", "examples": [f"-{entity.sort[0]}", entity.sort[0]]},
                    'A field, "-field" for descending, a comma list, or a JSON object '
                    f'{{"by": "field", "dir": "asc"|"desc"}}. Default: {entity.sort[0]} '
                    f"{entity.sort[1]}.",
                ),
            ]
        params.append(
            query_param(
                "select",
                {"type": "array", "items": {"type": "string", "enum": fields}},
                "Fields to return (repeated keys or a comma list)",
                style="form",
                explode=True,
            )
        )
        if not one:
            params.append(
                {
                    "name": "where",
                    "in": "query",
                    "required": False,
                    "description": "A JSON filter (see the Where schema)",
                    "content": {JSON: {"schema": ref("Where")}},
                }
            )
        if refs:
            params.append(
                query_param(
                    "join",
                    {"type": "array", "items": {"type": "string", "enum": refs}},
                    'Relations to join, so where can use "relation.field"',
                    style="form",
                    explode=True,
                )
            )
            params.append(
                query_param(
                    "with",
                    {"type": "string", "examples": [",".join(refs)]},
                    "Relations to embed: a comma list of "
                    f"{', '.join(refs)}, or a JSON object "
                    '{"relation": {"select", "where", "sort", "limit", "with"}}',
                )
            )
        if not one:
            params.append(
                query_param(
                    "count",
                    {"type": "boolean", "default": True},
                    "false leaves meta.count and meta.total out (faster)",
                )
            )
        return params

    def query_body(self, entity: Entity) -> Schema:
        fields = [f.name for f in entity.readable]
        refs = sorted(entity.references)
        props: Schema = {
            "limit": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_LIMIT,
                "default": DEFAULT_LIMIT,
            },
            "offset": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
            "sort": {
                "anyOf": [
                    {"type": "string"},
                    {
                        "type": "object",
                        "properties": {
                            "by": {"type": "string", "enum": fields},
                            "dir": {"enum": ["asc", "desc"]},
                        },
                        "required": ["by"],
                    },
                    {"type": "array"},
                ]
            },
            "select": {"type": "array", "items": {"type": "string", "enum": fields}},
            "where": ref("Where"),
            "count": {"type": "boolean"},
        }
        if refs:
            props["join"] = {"type": "array", "items": {"type": "string", "enum": refs}}
            props["with"] = {
                "anyOf": [
                    {"type": "string"},
                    {"type": "array", "items": {"type": "string", "enum": refs}},
                    {"type": "object", "propertyNames": {"enum": refs}},
                ]
            }
        return {"type": "object", "properties": props, "additionalProperties": False}

    def entity_paths(self, entity: Entity) -> None:
        name = entity.name
        read_name, create_name, update_name = self.components[name]
        tag = self.tag(name, str(entity.config.get("description") or f"Entity {name}"))
        base = f"{self.basepath}/entity/{name}"
        read = ref(read_name)
        many = {
            "type": "object",
            "properties": {"data": {"type": "array", "items": read}, "meta": ref("Meta")},
            "required": ["data", "meta"],
        }
        one = {
            "type": "object",
            "properties": {"data": read, "meta": ref("Meta")},
            "required": ["data", "meta"],
        }
        writable = name not in self.system_entities
        oid = f"data_{name}_"

        def operation(
            suffix: str, summary: str, permission: str, responses: dict[str, Any], **extra: Any
        ) -> Schema:
            return {
                "tags": [tag],
                "operationId": oid + suffix,
                "summary": summary,
                "x-permission": permission,
                **extra,
                "responses": responses,
            }

        self.op(
            base,
            "get",
            operation(
                "list",
                f"List {name}",
                "data.entity.read",
                {"200": ok(many, f"A page of {name} rows"), **errors(400, 403, 404, 422)},
                parameters=self.list_params(entity),
            ),
        )
        if writable:
            self.op(
                base,
                "post",
                operation(
                    "create",
                    f"Create one or many {name}",
                    "data.entity.create",
                    {
                        "201": ok(
                            {
                                "type": "object",
                                "properties": {
                                    "data": {"anyOf": [read, {"type": "array", "items": read}]},
                                    "meta": ref("Meta"),
                                },
                                "required": ["data", "meta"],
                            },
                            "The created row (an array for an array body)",
                        ),
                        **errors(400, 403, 404, 409, 422),
                    },
                    requestBody=json_body(
                        {
                            "anyOf": [
                                ref(create_name),
                                {"type": "array", "items": ref(create_name)},
                            ]
                        },
                        "One row, or an array of rows",
                    ),
                ),
            )
            self.op(
                base,
                "patch",
                operation(
                    "updateMany",
                    f"Update the {name} rows matching where",
                    "data.entity.update",
                    {"200": ok(many, "The updated rows"), **errors(400, 403, 404, 409, 422)},
                    requestBody=json_body(
                        {
                            "type": "object",
                            "properties": {"update": ref(update_name), "where": ref("Where")},
                            "required": ["update", "where"],
                        }
                    ),
                ),
            )
            self.op(
                base,
                "delete",
                operation(
                    "deleteMany",
                    f"Delete the {name} rows matching where",
                    "data.entity.delete",
                    {"200": ok(many, "The deleted rows"), **errors(400, 403, 404, 422)},
                    requestBody=json_body(ref("Where"), "The where filter (must not be empty)"),
                ),
            )
        self.op(
            base + "/query",
            "post",
            operation(
                "query",
                f"List {name} with the query in the body",
                "data.entity.read",
                {"200": ok(many, f"A page of {name} rows"), **errors(400, 403, 404, 422)},
                requestBody=json_body(self.query_body(entity), required=False),
            ),
        )
        for fn, value, what in (
            ("count", {"type": "integer"}, "Count"),
            ("exists", {"type": "boolean"}, "Whether any"),
        ):
            self.op(
                f"{base}/fn/{fn}",
                "post",
                operation(
                    fn,
                    f"{what} {name} rows matching where",
                    "data.entity.read",
                    {
                        "200": ok(
                            {
                                "type": "object",
                                "properties": {"entity": {"const": name}, fn: value},
                                "required": ["entity", fn],
                            }
                        ),
                        **errors(400, 403, 404, 422),
                    },
                    requestBody=json_body(
                        ref("Where"), "The where filter (optional)", required=False
                    ),
                ),
            )

        id_param = path_param("id", entity.primary.json_schema(), f"The {name} row's id")
        item = f"{base}/{{id}}"
        self.paths.setdefault(item, {})["parameters"] = [id_param]
        self.op(
            item,
            "get",
            operation(
                "read",
                f"Read one {name}",
                "data.entity.read",
                {"200": ok(one, f"The {name} row"), **errors(403, 404, 422)},
                parameters=self.list_params(entity, one=True),
            ),
        )
        if writable:
            self.op(
                item,
                "patch",
                operation(
                    "update",
                    f"Update one {name}",
                    "data.entity.update",
                    {"200": ok(one, "The updated row"), **errors(400, 403, 404, 409, 422)},
                    requestBody=json_body(ref(update_name), "The fields to change"),
                ),
            )
            self.op(
                item,
                "delete",
                operation(
                    "delete",
                    f"Delete one {name}",
                    "data.entity.delete",
                    {"200": ok(one, "The deleted row"), **errors(403, 404)},
                ),
            )
        for rel in entity.references.values():
            target = self.schema.entities[rel.target]
            target_many = {
                "type": "object",
                "properties": {
                    "data": {"type": "array", "items": ref(self.components[rel.target][0])},
                    "meta": ref("Meta"),
                },
                "required": ["data", "meta"],
            }
            path = f"{item}/{rel.name}"
            self.paths.setdefault(path, {})["parameters"] = [id_param]
            self.op(
                path,
                "get",
                operation(
                    f"ref_{rel.name}",
                    f"List the {rel.target} rows related to one {name} ({rel.name})",
                    "data.entity.read",
                    {
                        "200": ok(target_many, f"Related {rel.target} rows"),
                        **errors(403, 404, 422),
                    },
                    parameters=self.list_params(target),
                ),
            )

    # -- data module routes ----------------------------------------------------------------
    def data_routes(self) -> None:
        b = self.basepath
        tag = self.tag("Data", "The Data module: schema and sync")
        names = sorted(self.schema.entities)
        entity_param = path_param(
            "entity", {"type": "string", **({"enum": names} if names else {})}, "An entity name"
        )
        obj = {"type": "object"}

        def get(
            path: str, oid: str, summary: str, permission: str, response: Schema, **extra: Any
        ) -> None:
            self.op(
                path,
                "get",
                {
                    "tags": [tag],
                    "operationId": oid,
                    "summary": summary,
                    "x-permission": permission,
                    **extra,
                    "responses": {"200": response, **errors(403, 404)},
                },
            )

        get(
            b,
            "data_config",
            "The data module's entities, relations and indices",
            "system.schema.read",
            ok(
                {
                    "type": "object",
                    "properties": {"entities": obj, "relations": obj, "indices": obj},
                }
            ),
        )
        get(
            b + "/sync",
            "data_sync",
            "Show (or with force/drop apply) the schema changes",
            "data.database.sync",
            ok(obj, "The planned or applied changes"),
            parameters=[
                query_param("force", {"type": "boolean"}, "Apply non-destructive changes"),
                query_param("drop", {"type": "boolean"}, "Apply destructive changes too"),
            ],
        )
        get(
            b + "/schema.json",
            "data_schema_json",
            "JSON Schema (2020-12) of every entity",
            "system.schema.read",
            ok(obj),
        )
        get(
            b + "/schemas/{entity}",
            "data_entity_schema",
            "JSON Schema of an entity's rows",
            "system.schema.read",
            ok(obj),
            parameters=[entity_param],
        )
        get(
            b + "/schemas/{entity}/{context}",
            "data_entity_schema_context",
            "JSON Schema of an entity's rows or bodies",
            "system.schema.read",
            ok(obj),
            parameters=[
                entity_param,
                path_param(
                    "context",
                    {"type": "string", "enum": ["read", "create", "update"]},
                    "Which schema",
                ),
            ],
        )
        get(
            b + "/info/{entity}",
            "data_entity_info",
            "An entity's fields and relations",
            "system.schema.read",
            ok(obj),
            parameters=[entity_param],
        )
        get(
            b + "/types",
            "data_types",
            "TypeScript declarations of the schema",
            "system.schema.read",
            {
                "description": "TypeScript source",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
        )

    def describe(self) -> dict[str, Any]:
        self.data_routes()
        for entity in self.schema.entities.values():
            self.entity_schemas(entity)
        for entity in self.schema.entities.values():
            self.entity_paths(entity)
        return {
            "paths": self.paths,
            "components": {"schemas": self.schemas},
            "tags": list(self.tags.values()),
        }


def data_openapi(nb: Any) -> dict[str, Any]:
    """The Data module's part of the document (see ``nodebase.kernel.openapi``)."""
    return _DataDoc(nb).describe()


__all__ = ["component_names", "data_openapi"]
