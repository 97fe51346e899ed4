"""HTTP routes of the Data module, wire-compatible with bknd (reference §2.2)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from nodebase.data.describe import entity_info, entity_json_schema, schema_json, typescript
from nodebase.data.query.parse import query_params_to_dict
from nodebase.kernel.caller import require
from nodebase.kernel.errors import NotFound
from nodebase.kernel.http import json, read_json, truthy


def _nb(request: Request) -> Any:
    return request.app.state.nb


def _params(request: Request) -> dict[str, Any]:
    return query_params_to_dict(request.query_params.multi_items())


async def list_rows(request: Request) -> Response:
    nb = _nb(request)
    rows, meta = await nb.data.service.read_many(
        request.path_params["entity"], _params(request), nb.caller(request)
    )
    return json({"data": rows, "meta": meta})


async def query_rows(request: Request) -> Response:
    nb = _nb(request)
    body = await read_json(request, required=False) or {}
    if not isinstance(body, dict):
        from nodebase.kernel.errors import InvalidQuery

        raise InvalidQuery("The query body must be a JSON object", context={"entity": request.path_params["entity"]})
    rows, meta = await nb.data.service.read_many(request.path_params["entity"], body, nb.caller(request))
    return json({"data": rows, "meta": meta})


async def read_row(request: Request) -> Response:
    nb = _nb(request)
    name, id = request.path_params["entity"], request.path_params["id"]
    row = await nb.data.service.read_one(name, id, _params(request), nb.caller(request))
    if row is None:
        return json(
            {"error": "Not found", "type": "NotFoundException",
             "context": {"entity": name, "id": id}, "meta": {"items": 0}},
            status=404,
        )
    return json({"data": row, "meta": {"items": 1}})


async def read_reference(request: Request) -> Response:
    nb = _nb(request)
    p = request.path_params
    rows, meta = await nb.data.service.read_reference(
        p["entity"], p["id"], p["reference"], _params(request), nb.caller(request)
    )
    return json({"data": rows, "meta": meta})


async def create_rows(request: Request) -> Response:
    nb = _nb(request)
    body = await read_json(request)
    result = await nb.data.service.create(request.path_params["entity"], body, nb.caller(request))
    items = len(result) if isinstance(result, list) else 1
    return json({"data": result, "meta": {"items": items}}, status=201)


async def update_row(request: Request) -> Response:
    nb = _nb(request)
    body = await read_json(request)
    row = await nb.data.service.update_one(
        request.path_params["entity"], request.path_params["id"], body, nb.caller(request)
    )
    return json({"data": row, "meta": {"items": 1}})


async def update_rows(request: Request) -> Response:
    nb = _nb(request)
    body = await read_json(request)
    if not isinstance(body, dict) or "update" not in body:
        from nodebase.kernel.errors import BadRequest

        raise BadRequest('The body must be {"update": {...}, "where": {...}}',
                         context={"entity": request.path_params["entity"]})
    rows = await nb.data.service.update_many(
        request.path_params["entity"], body.get("where"), body["update"], nb.caller(request)
    )
    return json({"data": rows, "meta": {"items": len(rows)}})


async def delete_row(request: Request) -> Response:
    nb = _nb(request)
    row = await nb.data.service.delete_one(
        request.path_params["entity"], request.path_params["id"], nb.caller(request)
    )
    return json({"data": row, "meta": {"items": 1}})


async def delete_rows(request: Request) -> Response:
    nb = _nb(request)
    where = await read_json(request)
    rows = await nb.data.service.delete_many(request.path_params["entity"], where, nb.caller(request))
    return json({"data": rows, "meta": {"items": len(rows)}})


async def count_rows(request: Request) -> Response:
    nb = _nb(request)
    where = await read_json(request, required=False)
    name = request.path_params["entity"]
    return json({"entity": name, "count": await nb.data.service.count(name, where, nb.caller(request))})


async def exists_rows(request: Request) -> Response:
    nb = _nb(request)
    where = await read_json(request, required=False)
    name = request.path_params["entity"]
    return json({"entity": name, "exists": await nb.data.service.exists(name, where, nb.caller(request))})


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
    e = basepath + "/entity/{entity}"
    return [
        Route(e, list_rows, methods=["GET"]),
        Route(e, create_rows, methods=["POST"]),
        Route(e, update_rows, methods=["PATCH"]),
        Route(e, delete_rows, methods=["DELETE"]),
        Route(e + "/query", query_rows, methods=["POST"]),
        Route(e + "/fn/count", count_rows, methods=["POST"]),
        Route(e + "/fn/exists", exists_rows, methods=["POST"]),
        Route(e + "/{id}", read_row, methods=["GET"]),
        Route(e + "/{id}", update_row, methods=["PATCH"]),
        Route(e + "/{id}", delete_row, methods=["DELETE"]),
        Route(e + "/{id}/{reference}", read_reference, methods=["GET"]),
        Route(basepath, data_config, methods=["GET"]),
        Route(basepath + "/sync", data_sync, methods=["GET"]),
        Route(basepath + "/schema.json", data_schema_json, methods=["GET"]),
        Route(basepath + "/schemas/{entity}", entity_schema, methods=["GET"]),
        Route(basepath + "/schemas/{entity}/{context}", entity_schema, methods=["GET"]),
        Route(basepath + "/info/{entity}", entity_info_route, methods=["GET"]),
        Route(basepath + "/types", data_types, methods=["GET"]),
    ]
