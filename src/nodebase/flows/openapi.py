"""OpenAPI path items for the Flows routes (appended to ``nb.openapi_paths``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TAG = "Flows"
JSON = "application/json"


def _name() -> dict[str, Any]:
    return {"name": "name", "in": "path", "required": True, "description": "flow name",
            "schema": {"type": "string"}}


def _ok(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": {"type": "object"}}}}


def _errors(*codes: int) -> dict[str, Any]:
    names = {400: "BadRequest", 403: "Forbidden", 404: "NotFound"}
    return {str(c): {"$ref": f"#/components/responses/{names[c]}"} for c in codes}


def _op(op_id: str, summary: str, permission: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"tags": [TAG], "operationId": op_id, "summary": summary, "description": f"Needs `{permission}`.",
            "responses": responses, **extra}


def flows_paths(nb: Any) -> Mapping[str, Any]:
    run_body = {"required": False, "content": {JSON: {"schema": {}}}}
    paths: dict[str, Any] = {
        "/api/flows": {"get": _op("flows_list", "List flows (bknd's shape: tasks as a count)", "flows.read",
                                  {"200": _ok("flows by name"), **_errors(403)})},
        "/api/flows/flow/{name}": {
            "parameters": [_name()],
            "get": _op("flows_get", "A flow's definition", "flows.read", {"200": _ok("the definition"), **_errors(403, 404)}),
            "put": _op("flows_put", "Create or replace a flow", "flows.manage",
                       {"200": _ok("replaced"), "201": _ok("created"), **_errors(400, 403)},
                       requestBody={"required": True, "content": {JSON: {"schema": {"type": "object"}}}}),
            "delete": _op("flows_delete", "Delete a flow", "flows.manage", {"200": _ok("deleted"), **_errors(403, 404)}),
        },
        "/api/flows/flow/{name}/run": {
            "parameters": [_name()],
            "get": _op("flows_run", "Run a flow now (bknd's answer: success, time, errors, response, flow, logs)",
                       "flows.run", {"200": _ok("the finished run"), **_errors(403, 404)}),
            "post": _op("flows_run_with_input", "Run a flow now with the JSON body as input", "flows.run",
                        {"200": _ok("the finished run"), **_errors(400, 403, 404)}, requestBody=run_body),
        },
        "/api/flows/runs": {"get": _op(
            "flows_runs", "Run log", "flows.read", {"200": _ok("{data: [run], meta: {total, limit, offset}}"), **_errors(400, 403)},
            parameters=[{"name": n, "in": "query", "required": False, "schema": {"type": t}}
                        for n, t in (("flow", "string"), ("status", "string"), ("limit", "integer"),
                                     ("offset", "integer"))])},
        "/api/flows/runs/{id}": {"get": _op(
            "flows_run_record", "One run with its task records", "flows.read", {"200": _ok("{data: run}"), **_errors(403, 404)},
            parameters=[{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}])},
    }
    service = getattr(getattr(nb, "flows", None), "service", None)
    for route in getattr(service, "http", []):
        cfg = route.flow.trigger.config
        path = "/" + "/".join("{" + s[1:] + "}" if s.startswith(":") else s
                              for s in cfg["path"].strip("/").split("/"))
        params = [{"name": s[1:], "in": "path", "required": True, "schema": {"type": "string"}}
                  for s in cfg["path"].split("/") if s.startswith(":")]
        perm = "none (public)" if cfg.get("public") else (cfg.get("permission") or "flows.run")
        op: dict[str, Any] = {"tags": [TAG], "operationId": f"flows_trigger_{route.flow.name}", "summary": f"HTTP trigger of flow {route.flow.name} ({cfg['mode']})",
              "description": f"Needs `{perm}`.",
              "responses": {"200": {"description": "the responding task's output"},
                            "202": _ok("async: {success, run_id}"), **_errors(403)}}
        if params:
            op["parameters"] = params
        paths.setdefault(path, {})[route.method.lower()] = op
    return paths
