"""HTTP routes of the Data module, wire-compatible with bknd (reference §2.2)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from nodebase.data.describe import entity_info, entity_json_schema, schema_json, typescript
from nodebase.data.query.parse import query_params_to_dict
from nodebase.kernel.asgi import Call, FastRouter, Handler
from nodebase.kernel.caller import require
from nodebase.kernel.errors import BadRequest, InvalidQuery, NotFound
from nodebase.kernel.http import json, truthy


def _nb(request: Request) -> Any:
    return request.app.state.nb


# -- entity routes (served by the raw-ASGI fast path, kernel/asgi.py) -----------------------
def _params(call: Call) -> dict[str, Any]:
    return query_params_to_dict(call.query())


async def list_rows(call: Call) -> tuple[int, Any]:
    rows, meta = await call.nb.data.service.read_many(call.params["entity"], _params(call), call.caller)
    return 200, {"data": rows, "meta": meta}


async def query_rows(call: Call) -> tuple[int, Any]:
    body = await call.json(required=False) or {}
    if not isinstance(body, dict):
        raise InvalidQuery("The query body must be a JSON object", context={"entity": call.params["entity"]})
    rows, meta = await call.nb.data.service.read_many(call.params["entity"], body, call.caller)
    return 200, {"data": rows, "meta": meta}


async def read_row(call: Call) -> tuple[int, Any]:
    name, id = call.params["entity"], call.params["id"]
    row = await call.nb.data.service.read_one(name, id, _params(call), call.caller)
    if row is None:
        return 404, {"error": "Not found", "type": "NotFoundException",
                     "context": {"entity": name, "id": id}, "meta": {"items": 0}}
    return 200, {"data": row, "meta": {"items": 1}}


async def read_reference(call: Call) -> tuple[int, Any]:
    p = call.params
    rows, meta = await call.nb.data.service.read_reference(
        p["entity"], p["id"], p["reference"], _params(call), call.caller
    )
    return 200, {"data": rows, "meta": meta}


async def create_rows(call: Call) -> tuple[int, Any]:
    result = await call.nb.data.service.create(call.params["entity"], await call.json(), call.caller)
    items = len(result) if isinstance(result, list) else 1
    return 201, {"data": result, "meta": {"items": items}}


async def update_row(call: Call) -> tuple[int, Any]:
    p = call.params
    row = await call.nb.data.service.update_one(p["entity"], p["id"], await call.json(), call.caller)
    return 200, {"data": row, "meta": {"items": 1}}


async def update_rows(call: Call) -> tuple[int, Any]:
    body = await call.json()
    if not isinstance(body, dict) or "update" not in body:
        raise BadRequest('The body must be {"update": {...}, "where": {...}}',
                         context={"entity": call.params["entity"]})
    rows = await call.nb.data.service.update_many(call.params["entity"], body.get("where"), body["update"], call.caller)
    return 200, {"data": rows, "meta": {"items": len(rows)}}


async def delete_row(call: Call) -> tuple[int, Any]:
    row = await call.nb.data.service.delete_one(call.params["entity"], call.params["id"], call.caller)
    return 200, {"data": row, "meta": {"items": 1}}


async def delete_rows(call: Call) -> tuple[int, Any]:
    rows = await call.nb.data.service.delete_many(call.params["entity"], await call.json(), call.caller)
    return 200, {"data": rows, "meta": {"items": len(rows)}}


async def count_rows(call: Call) -> tuple[int, Any]:
    name = call.params["entity"]
    return 200, {"entity": name, "count": await call.nb.data.service.count(name, await call.json(required=False), call.caller)}


async def exists_rows(call: Call) -> tuple[int, Any]:
    name = call.params["entity"]
    return 200, {"entity": name, "exists": await call.nb.data.service.exists(name, await call.json(required=False), call.caller)}


async def _post_two(call: Call) -> tuple[int, Any]:
    """POST /entity/{e}/query."""
    if call.params.get("id") == "query":
        return await query_rows(call)
    raise NotFound("Not found", context={"path": call.scope["path"]})


async def _post_three(call: Call) -> tuple[int, Any]:
    """POST /entity/{e}/fn/count|exists."""
    if call.params.get("id") == "fn":
        action = call.params.get("reference")
        if action == "count":
            return await count_rows(call)
        if action == "exists":
            return await exists_rows(call)
    raise NotFound("Not found", context={"path": call.scope["path"]})


def mount_fast(router: FastRouter, basepath: str = "/api/data") -> None:
    """Entity CRUD on the fast path: /api/data/entity/{entity}[/{id}[/{reference}]]."""
    table: dict[int, dict[str, Handler]] = {
        1: {"GET": list_rows, "POST": create_rows, "PATCH": update_rows, "DELETE": delete_rows},
        2: {"GET": read_row, "PATCH": update_row, "DELETE": delete_row, "POST": _post_two},
        3: {"GET": read_reference, "POST": _post_three},
    }
    router.add(basepath + "/entity", ["entity", "id", "reference"], table)


# -- schema description ---------------------------------------------------------------
def _schema_read(request: Request) -> Any:
    nb = _nb(request)
    require(nb.guard, nb.caller(request), "system.schema.read")
    return nb


async def data_config(request: Request) -> Response:
    nb = _schema_read(request)
    cfg = nb.data.schema.config
    return json({"entities": cfg.get("entities", {}), "relations": cfg.get("relations", {}),
                 "indices": cfg.get("indices", {})})


async def data_schema_json(request: Request) -> Response:
    nb = _schema_read(request)
    return json(schema_json(nb.data.schema))


async def entity_schema(request: Request) -> Response:
    nb = _schema_read(request)
    entity = nb.data.service.entity(request.path_params["entity"])
    context = request.path_params.get("context") or "read"
    if context not in ("read", "create", "update"):
        raise NotFound(f'Unknown schema context "{context}"', context={"valid": ["read", "create", "update"]})
    return json(entity_json_schema(entity, context))


async def entity_info_route(request: Request) -> Response:
    nb = _schema_read(request)
    entity = nb.data.service.entity(request.path_params["entity"])
    return json(entity_info(nb.data.schema, entity))


async def data_types(request: Request) -> Response:
    nb = _schema_read(request)
    return PlainTextResponse(typescript(nb.data.schema))


async def data_sync(request: Request) -> Response:
    nb = _nb(request)
    require(nb.guard, nb.caller(request), "data.database.sync")
    drop = truthy(request.query_params.get("drop"))
    apply = truthy(request.query_params.get("force")) or drop
    return json(await nb.data.sync(apply=apply, drop=drop))


def routes(basepath: str = "/api/data") -> list[Route]:
    return [
        Route(basepath, data_config, methods=["GET"]),
        Route(basepath + "/sync", data_sync, methods=["GET"]),
        Route(basepath + "/schema.json", data_schema_json, methods=["GET"]),
        Route(basepath + "/schemas/{entity}", entity_schema, methods=["GET"]),
        Route(basepath + "/schemas/{entity}/{context}", entity_schema, methods=["GET"]),
        Route(basepath + "/info/{entity}", entity_info_route, methods=["GET"]),
        Route(basepath + "/types", data_types, methods=["GET"]),
    ]
