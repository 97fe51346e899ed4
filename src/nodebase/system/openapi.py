"""The node's OpenAPI 3.1 document: built from what every module describes, on each request.

:func:`build_openapi` starts from the shared components (``Error``, one response per error
status, the security schemes: :mod:`nodebase.kernel.openapi`), adds the system routes (ping,
health, info, config read/set/add/patch/overwrite/remove, permissions, openapi.json, swagger),
then every part a module registered with ``nb.add_openapi`` (Data, Auth, Media, ...), in
registration order. A route nobody describes still gets a minimal operation, so nothing the
node serves is missing. Nothing is cached: a schema change shows in the next document.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from starlette.routing import Route

from nodebase import __version__
from nodebase.kernel.openapi import (
    Schema,
    errors,
    json_body,
    ok,
    path_param,
    query_param,
    shared_components,
)

log = logging.getLogger("nodebase.openapi")

OPENAPI_VERSION = "3.1.0"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

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


class _Builder:
    def __init__(self, nb: Any) -> None:
        self.nb = nb
        self.components: dict[str, Any] = shared_components()
        self.paths: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, Schema] = {}

    def tag(self, name: str, description: str = "") -> str:
        if name not in self.tags:
            self.tags[name] = {
                "name": name,
                **({"description": description} if description else {}),
            }
        return name

    def op(self, path: str, method: str, operation: Schema) -> None:
        self.paths.setdefault(path, {})[method] = operation

    # -- system routes ---------------------------------------------------------------------
    def system_routes(self) -> None:
        s = "/api/system"
        tag = self.tag("System", "Ping, health, info, configuration and this description")
        modules = sorted(getattr(self.nb.config, "modules", {}) or {})
        module_param = path_param(
            "module", {"type": "string", **({"enum": modules} if modules else {})}, "A module name"
        )
        dotted_param = path_param(
            "path",
            {"type": "string"},
            "A dotted path inside the module's config, e.g. entities.posts",
        )
        flags = [
            query_param("drop", {"type": "boolean"}, "Allow a change that drops data"),
            query_param("force", {"type": "boolean"}, "set: merge the body over the current config"),
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
            {
                "200": ok(
                    {
                        "type": "object",
                        "properties": {"pong": {"const": True}},
                        "required": ["pong"],
                    }
                )
            },
            security=[],
        )
        health = {
            "type": "object",
            "properties": {"status": {"enum": ["ok", "error"]}, "database": {"type": "boolean"}},
            "required": ["status", "database"],
        }
        add(
            "/health",
            "get",
            "system_health",
            "Health, including the database",
            {
                "200": ok(health, "The node and its database answer"),
                "503": ok(health, "The database does not answer"),
            },
            security=[],
        )
        add(
            s + "/info",
            "get",
            "system_info",
            "Node id, versions, database, uptime and settings",
            {
                "200": ok(
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
                **errors(403),
            },
            "system.info",
        )
        secrets = [
            query_param(
                "secrets", {"type": "boolean"}, "Include secrets (needs system.config.read.secrets)"
            )
        ]
        add(
            s + "/config",
            "get",
            "system_config",
            "Every module's configuration",
            {
                "200": ok(
                    {
                        "type": "object",
                        "description": "The config format's version, then one document per module",
                        "properties": {"version": {"type": "integer"}},
                        "required": ["version"],
                        "additionalProperties": {"type": "object"},
                    }
                ),
                **errors(403),
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
                "200": ok(
                    {
                        "type": "object",
                        "properties": {
                            "version": {"type": "integer"},
                            "module": {"type": "string"},
                            "config": {"type": "object"},
                        },
                    }
                ),
                **errors(403, 404),
            },
            "system.config.read",
            parameters=[module_param, *secrets],
        )
        changed = {"202": ok(CONFIG_CHANGE_SCHEMA, "Applied"), **errors(400, 403, 404, 409)}
        body = json_body({}, "The new value (any JSON)")
        for op, method, summary, with_path in (
            ("set", "post", "Replace a module's configuration", False),
            ("add", "post", "Add a value at a path that does not exist yet", True),
            ("patch", "patch", "Merge the body into the value at a path", True),
            ("overwrite", "put", "Replace the value at a path", True),
            ("remove", "delete", "Remove the value at a path", True),
        ):
            path = f"{s}/config/{op}/{{module}}" + ("/{path}" if with_path else "")
            extra: Schema = {
                "parameters": [module_param, *([dotted_param] if with_path else []), *flags]
            }
            if op == "set":
                extra["requestBody"] = json_body({"type": "object"}, "The module's configuration")
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
            {"200": ok({"type": "object", "properties": {"permissions": {"type": "array"}}})},
        )
        from nodebase.system.bknd_schema import MODULES

        answer = {
            "type": "object",
            "properties": {
                "module": {"type": "string"},
                "version": {"type": "integer"},
                "readonly": {"type": "boolean", "description": "the caller may not change the config"},
                "schema": {"type": "object", "description": "JSON Schema of each config module"},
                "config": {"type": ["object", "null"], "description": "with config=1: bknd's view of it"},
                "permissions": {"type": "array", "items": {"type": "object"}},
            },
            "required": ["version", "readonly", "schema"],
        }
        schema_params = [
            query_param("config", {"type": "boolean"}, "Include the configuration (needs system.config.read)"),
            *secrets,
            query_param("fresh", {"type": "boolean"}, "Pick up changes other workers stored first"),
        ]
        add(
            s + "/schema",
            "get",
            "system_schema",
            "The config modules' JSON Schemas and configuration, as bknd's admin UI loads them",
            {"200": ok(answer), **errors(403)},
            "system.schema.read",
            parameters=schema_params,
        )
        add(
            s + "/schema/{module}",
            "get",
            "system_schema_module",
            "One config module's JSON Schema and configuration",
            {"200": ok(answer), **errors(403, 404)},
            "system.schema.read",
            parameters=[path_param("module", {"type": "string", "enum": list(MODULES)}, "A config module"),
                        *schema_params],
        )
        add(
            s + "/openapi.json",
            "get",
            "system_openapi",
            "This document",
            {"200": ok({"type": "object"}), **errors(403)},
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
                **errors(403),
            },
            "system.openapi",
        )
        add(
            s + "/swagger/{asset}",
            "get",
            "system_swagger_asset",
            "A Swagger UI asset",
            {"200": {"description": "A stylesheet, script or image"}, **errors(404)},
            parameters=[path_param("asset", {"type": "string"}, "The asset's file name")],
            security=[],
        )

    # -- what the modules describe ----------------------------------------------------------
    def merge(self, part: Mapping[str, Any]) -> None:
        """Add a module's part: path items, or ``{"paths", "components", "tags"}``."""
        if any(str(key).startswith("/") for key in part):
            part = {"paths": part}
        for path, item in (part.get("paths") or {}).items():
            if isinstance(item, Mapping):
                self.paths.setdefault(path, {}).update(item)
        for kind, named in (part.get("components") or {}).items():
            have = self.components.setdefault(kind, {})
            for name, value in (named or {}).items():
                if name in have and have[name] != value:
                    log.warning("OpenAPI component %s/%s is given twice; the first is kept", kind, name)
                    continue
                have[name] = value
        for tag in part.get("tags") or []:
            if isinstance(tag, Mapping) and tag.get("name") and tag["name"] not in self.tags:
                self.tags[tag["name"]] = dict(tag)

    def modules(self) -> None:
        for describe in list(getattr(self.nb, "openapi_paths", None) or []):
            try:
                part = describe(self.nb)
            except Exception:
                log.exception("a module's OpenAPI description failed: %r", describe)
                continue
            if part:
                self.merge(part)

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
                params = [path_param(p, {"type": "string"}, p) for p in route.param_convertors]
                if params:
                    op["parameters"] = params
                item = self.paths.setdefault(path, item)
                item[method] = op

    def build(self, server_url: str | None) -> dict[str, Any]:
        self.system_routes()
        self.modules()
        self.undescribed_routes()
        return {
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
            "components": self.components,
        }


def build_openapi(nb: Any, server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1.0 document of ``nb`` as it is now (see the module docstring)."""
    return _Builder(nb).build(server_url)


__all__ = ["OPENAPI_VERSION", "build_openapi"]
