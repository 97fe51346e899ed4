"""OpenAPI 3.1 description of a running node, generated from its live schema.

:func:`build_openapi` describes, at the moment it is called:

* every entity of the Data module: list, create (one or many), update many, delete many,
  ``/query``, ``/fn/count``, ``/fn/exists``, read/update/delete one, and one
  ``/{id}/<reference>`` path per reference of the entity, with the entity's JSON schemas
  (read, ``<Entity>Create``, ``<Entity>Update``) as components;
* the Data module's schema routes (``schema.json``, ``schemas``, ``info``, ``types``, ``sync``)
  and the system routes (ping, health, info, config read/set/add/patch/overwrite/remove,
  permissions, openapi.json, swagger);
* whatever other modules add through ``nb.openapi_paths``: a list of callables, each called
  with the node and returning OpenAPI path items (``{"/api/x": {"get": {...}}}``); an
  operation they return replaces one generated here for the same path and method;
* every other route the node serves, with a minimal operation, so nothing is missing.

Changing the schema through the config API changes the next document: nothing is cached.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from starlette.routing import Route

from nodebase import __version__
from nodebase.data.describe import entity_json_schema
from nodebase.data.query.model import DEFAULT_LIMIT, MAX_LIMIT
from nodebase.data.schema import Entity

log = logging.getLogger("nodebase.openapi")

OPENAPI_VERSION = "3.1.0"
JSON = "application/json"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

#: What a module appends to ``nb.openapi_paths``: called with the node, returns path items.
PathsHook = Callable[[Any], Mapping[str, Any]]

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(schema: Schema, description: str = "", required: bool = True) -> Schema:
    body: Schema = {"required": required, "content": {JSON: {"schema": schema}}}
    if description:
        body["description"] = description
    return body


def _ok(schema: Schema, description: str = "Success") -> Schema:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Schema]:
    return {str(c): {"$ref": f"#/components/responses/{ERROR_RESPONSES[c][0]}"} for c in codes}


def _query(name: str, schema: Schema, description: str, **extra: Any) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
        **extra,
    }


def _path_param(name: str, schema: Schema, description: str) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


ERROR_RESPONSES: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Malformed request: invalid JSON, a missing body, a bad configuration"),
    401: ("Unauthorized", "Authentication is required or failed"),
    403: ("Forbidden", "The caller's role lacks the permission (named in the body)"),
    404: ("NotFound", "Unknown entity, row, relation or module"),
    409: ("Conflict", "A unique value is taken, or a change would drop data without ?drop=1"),
    422: (
        "Unprocessable",
        "The query or body names an unknown field or has a value of the wrong type",
    ),
}

ERROR_SCHEMA: Schema = {
    "type": "object",
    "description": "Every error answer: a message, an exception type and a context naming the "
    "entity, field, parameter or operator at fault. Some errors add keys "
    "(permission errors: permission, description; config errors: errors).",
    "properties": {
        "error": {"type": "string", "description": "Human-readable message"},
        "type": {
            "type": "string",
            "description": "Exception type, e.g. InvalidSearchParamsException",
        },
        "context": {"type": "object", "description": "What the error is about"},
    },
    "required": ["error", "type"],
}

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

CONFIG_CHANGE_SCHEMA: Schema = {
    "type": "object",
    "properties": {
        "success": {"type": "boolean", "const": True},
        "module": {"type": "string"},
        "config": {
            "type": "object",
            "description": "The module's new configuration (secrets masked)",
        },
    },
    "required": ["success", "module", "config"],
}


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


class _Builder:
    def __init__(self, nb: Any) -> None:
        self.nb = nb
        schema = nb.data.schema
        self.schema = schema
        self.basepath = str(schema.config.get("basepath") or "/api/data").rstrip("/")
        self.schemas: dict[str, Schema] = {
            "Error": ERROR_SCHEMA,
            "Meta": META_SCHEMA,
            "Where": WHERE_SCHEMA,
        }
        self.paths: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, Schema] = {}
        names = _Names(self.schemas)
        #: entity name -> (read, create, update) component names
        self.components: dict[str, tuple[str, str, str]] = {}
        for name in schema.entities:
            self.components[name] = (
                names.get(name),
                names.get(f"{name}Create"),
                names.get(f"{name}Update"),
            )
        self.system_entities: set[str] = set(getattr(nb.data.service, "system_entities", ()) or ())

    # -- helpers -------------------------------------------------------------------------
    def tag(self, name: str, description: str = "") -> str:
        if name not in self.tags:
            self.tags[name] = {
                "name": name,
                **({"description": description} if description else {}),
            }
        return name

    def op(self, path: str, method: str, operation: Schema) -> None:
        self.paths.setdefault(path, {})[method] = operation

    # -- data entities -------------------------------------------------------------------
    def entity_schemas(self, entity: Entity) -> None:
        read_name, create_name, update_name = self.components[entity.name]
        read = entity_json_schema(entity, "read")
        props = read.setdefault("properties", {})
        for ref in entity.references.values():
            if ref.name in props:
                continue
            target = _ref(self.components[ref.target][0])
            if ref.many:
                props[ref.name] = {
                    "type": "array",
                    "items": target,
                    "description": f"Related {ref.target} rows (only with `with`)",
                }
            else:
                props[ref.name] = {
                    "anyOf": [target, {"type": "null"}],
                    "description": f"The related {ref.target} row (only with `with`)",
                }
        if entity.config.get("description"):
            read["description"] = entity.config["description"]
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
                _query(
                    "limit",
                    {
                        "type": "integer",
                        "minimum": 0,
                        "maximum": MAX_LIMIT,
                        "default": DEFAULT_LIMIT,
                    },
                    "Rows to return",
                ),
                _query("offset", {"type": "integer", "minimum": 0, "default": 0}, "Rows to skip"),
                _query(
                    "sort",
                    {"type": "string", "examples": [f"-{entity.sort[0]}", entity.sort[0]]},
                    'A field, "-field" for descending, a comma list, or a JSON object '
                    f'{{"by": "field", "dir": "asc"|"desc"}}. Default: {entity.sort[0]} '
                    f"{entity.sort[1]}.",
                ),
            ]
        params.append(
            _query(
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
                    "content": {JSON: {"schema": _ref("Where")}},
                }
            )
        if refs:
            params.append(
                _query(
                    "join",
                    {"type": "array", "items": {"type": "string", "enum": refs}},
                    'Relations to join, so where can use "relation.field"',
                    style="form",
                    explode=True,
                )
            )
            params.append(
                _query(
                    "with",
                    {"type": "string", "examples": [",".join(refs)]},
                    "Relations to embed: a comma list of "
                    f"{', '.join(refs)}, or a JSON object "
                    '{"relation": {"select", "where", "sort", "limit", "with"}}',
                )
            )
        if not one:
            params.append(
                _query(
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
            "offset": {"type": "integer", "minimum": 0},
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
            "where": _ref("Where"),
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
        read = _ref(read_name)
        many = {
            "type": "object",
            "properties": {"data": {"type": "array", "items": read}, "meta": _ref("Meta")},
            "required": ["data", "meta"],
        }
        one = {
            "type": "object",
            "properties": {"data": read, "meta": _ref("Meta")},
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
                {"200": _ok(many, f"A page of {name} rows"), **_errors(400, 403, 404, 422)},
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
                        "201": _ok(
                            {
                                "type": "object",
                                "properties": {
                                    "data": {"anyOf": [read, {"type": "array", "items": read}]},
                                    "meta": _ref("Meta"),
                                },
                                "required": ["data", "meta"],
                            },
                            "The created row (an array for an array body)",
                        ),
                        **_errors(400, 403, 404, 409, 422),
                    },
                    requestBody=_json_body(
                        {
                            "anyOf": [
                                _ref(create_name),
                                {"type": "array", "items": _ref(create_name)},
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
                    {"200": _ok(many, "The updated rows"), **_errors(400, 403, 404, 409, 422)},
                    requestBody=_json_body(
                        {
                            "type": "object",
                            "properties": {"update": _ref(update_name), "where": _ref("Where")},
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
                    {"200": _ok(many, "The deleted rows"), **_errors(400, 403, 404, 422)},
                    requestBody=_json_body(_ref("Where"), "The where filter (must not be empty)"),
                ),
            )
        self.op(
            base + "/query",
            "post",
            operation(
                "query",
                f"List {name} with the query in the body",
                "data.entity.read",
                {"200": _ok(many, f"A page of {name} rows"), **_errors(400, 403, 404, 422)},
                requestBody=_json_body(self.query_body(entity), required=False),
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
                        "200": _ok(
                            {
                                "type": "object",
                                "properties": {"entity": {"const": name}, fn: value},
                                "required": ["entity", fn],
                            }
                        ),
                        **_errors(400, 403, 404, 422),
                    },
                    requestBody=_json_body(
                        _ref("Where"), "The where filter (optional)", required=False
                    ),
                ),
            )

        id_param = _path_param("id", entity.primary.json_schema(), f"The {name} row's id")
        item = f"{base}/{{id}}"
        self.paths.setdefault(item, {})["parameters"] = [id_param]
        self.op(
            item,
            "get",
            operation(
                "read",
                f"Read one {name}",
                "data.entity.read",
                {"200": _ok(one, f"The {name} row"), **_errors(403, 404, 422)},
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
                    {"200": _ok(one, "The updated row"), **_errors(400, 403, 404, 409, 422)},
                    requestBody=_json_body(_ref(update_name), "The fields to change"),
                ),
            )
            self.op(
                item,
                "delete",
                operation(
                    "delete",
                    f"Delete one {name}",
                    "data.entity.delete",
                    {"200": _ok(one, "The deleted row"), **_errors(403, 404)},
                ),
            )
        for ref in entity.references.values():
            target = self.schema.entities[ref.target]
            target_many = {
                "type": "object",
                "properties": {
                    "data": {"type": "array", "items": _ref(self.components[ref.target][0])},
                    "meta": _ref("Meta"),
                },
                "required": ["data", "meta"],
            }
            path = f"{item}/{ref.name}"
            self.paths.setdefault(path, {})["parameters"] = [id_param]
            self.op(
                path,
                "get",
                operation(
                    f"ref_{ref.name}",
                    f"List the {ref.target} rows related to one {name} ({ref.name})",
                    "data.entity.read",
                    {
                        "200": _ok(target_many, f"Related {ref.target} rows"),
                        **_errors(403, 404, 422),
                    },
                    parameters=self.list_params(target),
                ),
            )

    # -- data module routes ----------------------------------------------------------------
    def data_routes(self) -> None:
        b = self.basepath
        tag = self.tag("Data", "The Data module: schema and sync")
        names = sorted(self.schema.entities)
        entity_param = _path_param(
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
                    "responses": {"200": response, **_errors(403, 404)},
                },
            )

        get(
            b,
            "data_config",
            "The data module's entities, relations and indices",
            "system.schema.read",
            _ok(
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
            _ok(obj, "The planned or applied changes"),
            parameters=[
                _query("force", {"type": "boolean"}, "Apply non-destructive changes"),
                _query("drop", {"type": "boolean"}, "Apply destructive changes too"),
            ],
        )
        get(
            b + "/schema.json",
            "data_schema_json",
            "JSON Schema (2020-12) of every entity",
            "system.schema.read",
            _ok(obj),
        )
        get(
            b + "/schemas/{entity}",
            "data_entity_schema",
            "JSON Schema of an entity's rows",
            "system.schema.read",
            _ok(obj),
            parameters=[entity_param],
        )
        get(
            b + "/schemas/{entity}/{context}",
            "data_entity_schema_context",
            "JSON Schema of an entity's rows or bodies",
            "system.schema.read",
            _ok(obj),
            parameters=[
                entity_param,
                _path_param(
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
            _ok(obj),
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

    # -- system routes ---------------------------------------------------------------------
    def system_routes(self) -> None:
        s = "/api/system"
        tag = self.tag("System", "Ping, health, info, configuration and this description")
        modules = sorted(getattr(self.nb.config, "modules", {}) or {})
        module_param = _path_param(
            "module", {"type": "string", **({"enum": modules} if modules else {})}, "A module name"
        )
        path_param = _path_param(
            "path",
            {"type": "string"},
            "A dotted path inside the module's config, e.g. entities.posts",
        )
        flags = [
            _query("drop", {"type": "boolean"}, "Allow a change that drops data"),
            _query("force", {"type": "boolean"}, "set: merge the body over the current config"),
        ]

        def add(
            path: str,
            method: str,
            oid: str,
            summary: str,
            responses: dict[str, Any],
            permission: str | None = None,
            **extra: Any,
        ) -> None:
            op: Schema = {"tags": [tag], "operationId": oid, "summary": summary}
            if permission:
                op["x-permission"] = permission
            self.op(path, method, {**op, **extra, "responses": responses})

        add(
            s + "/ping",
            "get",
            "system_ping",
            "Liveness check",
            {"200": _ok({"type": "object", "properties": {"pong": {"const": True}}})},
            security=[],
        )
        add(
            "/health",
            "get",
            "system_health",
            "Health, including the database",
            {
                "200": _ok(
                    {
                        "type": "object",
                        "properties": {
                            "status": {"enum": ["ok", "error"]},
                            "database": {"type": "boolean"},
                        },
                    }
                ),
                "503": {"description": "The database does not answer"},
            },
            security=[],
        )
        add(
            s + "/info",
            "get",
            "system_info",
            "Node id, versions, database, uptime and settings",
            {
                "200": _ok(
                    {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string"},
                            "version": {"type": "object"},
                            "mode": {"type": "string"},
                            "readonly": {"type": "boolean"},
                            "runtime": {"type": "string"},
                            "connection": {"type": "object"},
                            "timezone": {"type": "object"},
                            "origin": {"type": "string"},
                            "uptime": {"type": "number"},
                        },
                    }
                ),
                **_errors(403),
            },
            "system.info",
        )
        secrets = [
            _query(
                "secrets", {"type": "boolean"}, "Include secrets (needs system.config.read.secrets)"
            )
        ]
        add(
            s + "/config",
            "get",
            "system_config",
            "Every module's configuration",
            {
                "200": _ok({"type": "object", "additionalProperties": {"type": "object"}}),
                **_errors(403),
            },
            "system.config.read",
            parameters=secrets,
        )
        add(
            s + "/config/{module}",
            "get",
            "system_config_module",
            "One module's configuration",
            {
                "200": _ok(
                    {
                        "type": "object",
                        "properties": {
                            "version": {"type": "integer"},
                            "module": {"type": "string"},
                            "config": {"type": "object"},
                        },
                    }
                ),
                **_errors(403, 404),
            },
            "system.config.read",
            parameters=[module_param, *secrets],
        )
        changed = {"202": _ok(_ref("ConfigChange"), "Applied"), **_errors(400, 403, 404, 409)}
        body = _json_body({}, "The new value (any JSON)")
        for op, method, summary, with_path in (
            ("set", "post", "Replace a module's configuration", False),
            ("add", "post", "Add a value at a path that does not exist yet", True),
            ("patch", "patch", "Merge the body into the value at a path", True),
            ("overwrite", "put", "Replace the value at a path", True),
            ("remove", "delete", "Remove the value at a path", True),
        ):
            path = f"{s}/config/{op}/{{module}}" + ("/{path}" if with_path else "")
            extra: Schema = {
                "parameters": [module_param, *([path_param] if with_path else []), *flags]
            }
            if op == "set":
                extra["requestBody"] = _json_body({"type": "object"}, "The module's configuration")
            elif op != "remove":
                extra["requestBody"] = body
            add(
                path,
                method,
                f"system_config_{op}",
                summary,
                changed,
                "system.config.write",
                **extra,
            )
        add(
            s + "/permissions",
            "get",
            "system_permissions",
            "The permission names",
            {"200": _ok({"type": "object", "properties": {"permissions": {"type": "array"}}})},
        )
        add(
            s + "/openapi.json",
            "get",
            "system_openapi",
            "This document",
            {"200": _ok({"type": "object"}), **_errors(403)},
            "system.openapi",
        )
        add(
            s + "/swagger",
            "get",
            "system_swagger",
            "Swagger UI for this document (works offline)",
            {
                "200": {
                    "description": "HTML page",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                },
                **_errors(403),
            },
            "system.openapi",
        )
        add(
            s + "/swagger/{asset}",
            "get",
            "system_swagger_asset",
            "A Swagger UI asset",
            {"200": {"description": "A stylesheet, script or image"}, **_errors(404)},
            parameters=[_path_param("asset", {"type": "string"}, "The asset's file name")],
            security=[],
        )

    # -- other modules ---------------------------------------------------------------------
    def hooks(self) -> None:
        for hook in list(getattr(self.nb, "openapi_paths", None) or []):
            try:
                paths = hook(self.nb)
            except Exception:
                log.exception("an openapi_paths hook failed: %r", hook)
                continue
            for path, item in (paths or {}).items():
                if isinstance(item, Mapping):
                    self.paths.setdefault(path, {}).update(item)

    def undescribed_routes(self) -> None:
        """Routes nobody described get a minimal operation (path, method, summary)."""
        used = {
            op.get("operationId")
            for item in self.paths.values()
            for op in item.values()
            if isinstance(op, dict)
        }
        for route in getattr(self.nb, "routes", []):
            if not isinstance(route, Route) or not route.include_in_schema:
                continue
            module = getattr(route.endpoint, "__module__", "")
            if module == "nodebase.data.transport" and "{entity}" in route.path_format:
                continue  # described per entity
            path = route.path_format
            item = self.paths.get(path, {})
            for method in sorted(m.lower() for m in (route.methods or ()) if m != "HEAD"):
                if method not in METHODS or method in item:
                    continue
                segments = [p for p in path.split("/") if p and not p.startswith("{")]
                tag = segments[1] if len(segments) > 1 and segments[0] == "api" else "Other"
                oid = re.sub(r"\W+", "_", f"{method}{path}").strip("_")
                while oid in used:
                    oid += "_"
                used.add(oid)
                doc = (getattr(route.endpoint, "__doc__", None) or "").strip().splitlines()
                op: Schema = {
                    "tags": [self.tag(tag)],
                    "operationId": oid,
                    "summary": doc[0] if doc else f"{method.upper()} {path}",
                    "description": "Registered by a module that does not describe it further.",
                    "responses": {"default": {"description": "See the module's documentation"}},
                }
                params = [_path_param(p, {"type": "string"}, p) for p in route.param_convertors]
                if params:
                    op["parameters"] = params
                item = self.paths.setdefault(path, item)
                item[method] = op

    def build(self, server_url: str | None) -> dict[str, Any]:
        for entity in self.schema.entities.values():
            self.entity_schemas(entity)
        for entity in self.schema.entities.values():
            self.entity_paths(entity)
        self.data_routes()
        self.system_routes()
        self.hooks()
        self.undescribed_routes()
        self.schemas["ConfigChange"] = CONFIG_CHANGE_SCHEMA
        doc: dict[str, Any] = {
            "openapi": OPENAPI_VERSION,
            "info": {
                "title": "nodebase",
                "version": __version__,
                "description": "REST API of this nodebase node, generated from its live schema. "
                "Wire-compatible with bknd.",
                "license": {"name": "MIT", "identifier": "MIT"},
            },
            "servers": [{"url": server_url or "/"}],
            "tags": list(self.tags.values()),
            "security": [{"bearerAuth": []}, {"cookieAuth": []}, {"apiKeyAuth": []}, {}],
            "paths": dict(sorted(self.paths.items())),
            "components": {
                "schemas": self.schemas,
                "responses": {
                    name: _ok(_ref("Error"), description)
                    for name, description in ERROR_RESPONSES.values()
                },
                "securitySchemes": {
                    "bearerAuth": {
                        "type": "http",
                        "scheme": "bearer",
                        "bearerFormat": "JWT",
                        "description": "Authorization: Bearer <token> (read first)",
                    },
                    "cookieAuth": {
                        "type": "apiKey",
                        "in": "cookie",
                        "name": "auth",
                        "description": "The signed auth cookie set at login",
                    },
                    "apiKeyAuth": {
                        "type": "apiKey",
                        "in": "header",
                        "name": "X-API-Key",
                        "description": "An API key",
                    },
                },
            },
        }
        return doc


def build_openapi(nb: Any, server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1.0 document of ``nb`` as it is now (see the module docstring)."""
    return _Builder(nb).build(server_url)


__all__ = ["OPENAPI_VERSION", "PathsHook", "build_openapi"]
