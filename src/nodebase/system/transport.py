"""System routes: ping, info, health, module config (bknd's config API), OpenAPI, Swagger UI."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from nodebase import __version__
from nodebase.kernel.caller import require
from nodebase.kernel.http import json, read_json, truthy
from nodebase.system.config import CONFIG_VERSION
from nodebase.system.swagger import SWAGGER_HTML, swagger_asset  # offline Swagger UI

PING = b'{"pong":true}'


async def ping(request: Request) -> Response:
    return Response(PING, media_type="application/json")


async def health(request: Request) -> Response:
    nb = request.app.state.nb
    ok = True
    try:
        await nb.db.fetch_val("SELECT 1")
    except Exception:
        ok = False
    return json({"status": "ok" if ok else "error", "database": ok}, status=200 if ok else 503)


async def info(request: Request) -> Response:
    nb = request.app.state.nb
    require(nb.guard, nb.caller(request), "system.info")
    return json({
        "id": nb.instance_id,
        "version": {"config": CONFIG_VERSION, "nodebase": __version__, "bknd": "0.20.0"},
        "mode": "db",
        "readonly": False,
        "runtime": "python",
        "connection": {"name": nb.db.dialect.name, "supports": {"batching": False, "softscans": True}},
        "timezone": {"name": time.tzname[0], "offset": -time.timezone // 60},
        "origin": str(request.base_url).rstrip("/"),
        "plugins": [],
        "uptime": round(time.monotonic() - nb.started_at, 3),
        "settings": nb.settings.public(),
    })


async def config_read(request: Request) -> Response:
    nb = request.app.state.nb
    caller = nb.caller(request)
    require(nb.guard, caller, "system.config.read")
    secrets = truthy(request.query_params.get("secrets"))
    if secrets:
        require(nb.guard, caller, "system.config.read.secrets")
    module = request.path_params.get("module")
    if module:
        return json({"version": CONFIG_VERSION, "module": module,
                     "config": nb.config.get(module, secrets=secrets)})
    return json(nb.config.all(secrets=secrets))


def _change(op: str) -> Any:
    async def handler(request: Request) -> Response:
        nb = request.app.state.nb
        require(nb.guard, nb.caller(request), "system.config.write")
        module = request.path_params["module"]
        path = request.path_params.get("path")
        value = await read_json(request, required=op != "remove") if op != "remove" else None
        config = await nb.config.change(
            module, op, path, value,
            drop=truthy(request.query_params.get("drop")),
            force=truthy(request.query_params.get("force")),
        )
        return json({"success": True, "module": module, "config": config}, status=202)

    return handler


async def permissions(request: Request) -> Response:
    nb = request.app.state.nb
    return json({"permissions": nb.permissions.describe(), "context": {"type": "object"}})


async def openapi(request: Request) -> Response:
    nb = request.app.state.nb
    require(nb.guard, nb.caller(request), "system.openapi")
    from nodebase.system.openapi import build_openapi

    return json(build_openapi(nb, server_url=str(request.base_url).rstrip("/")))


async def swagger(request: Request) -> Response:
    nb = request.app.state.nb
    require(nb.guard, nb.caller(request), "system.openapi")
    return HTMLResponse(SWAGGER_HTML)


def routes() -> list[Route]:
    b = "/api/system"
    out = [
        Route(b + "/ping", ping, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route(b + "/info", info, methods=["GET"]),
        Route(b + "/config", config_read, methods=["GET"]),
        Route(b + "/config/{module}", config_read, methods=["GET"]),
        Route(b + "/config/set/{module}", _change("set"), methods=["POST"]),
        Route(b + "/config/add/{module}/{path}", _change("add"), methods=["POST"]),
        Route(b + "/config/patch/{module}/{path}", _change("patch"), methods=["PATCH"]),
        Route(b + "/config/overwrite/{module}/{path}", _change("overwrite"), methods=["PUT"]),
        Route(b + "/config/remove/{module}/{path}", _change("remove"), methods=["DELETE"]),
        Route(b + "/permissions", permissions, methods=["GET"]),
        Route(b + "/openapi.json", openapi, methods=["GET"]),
        Route(b + "/swagger", swagger, methods=["GET"]),
        Route(b + "/swagger/{asset}", swagger_asset, methods=["GET"]),
    ]
    return out
