"""System routes: ping, info, health, module config (bknd's config API), OpenAPI, Swagger UI."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from nodebase import __version__
from nodebase.kernel.caller import require
from nodebase.kernel.errors import NotFound
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
        if truthy(request.query_params.get("plan")):  # a dry run: the sync plan, nothing applied
            plan = await nb.config.plan(module, op, path, value, force=truthy(request.query_params.get("force")))
            return json({"success": True, "module": module, "plan": plan})
        config = await nb.config.change(
            module, op, path, value,
            drop=truthy(request.query_params.get("drop")),
            force=truthy(request.query_params.get("force")),
        )
        from nodebase.system.bknd_schema import module_view

        return json({"success": True, "module": module, "config": module_view(nb, module, config)},
                    status=202)

    return handler


async def permissions(request: Request) -> Response:
    nb = request.app.state.nb
    from nodebase.system.bknd_schema import bknd_permissions, guard_context

    return json({"permissions": bknd_permissions(nb), "context": guard_context(nb)})


async def schema(request: Request) -> Response:
    """bknd's ``GET /api/system/schema[/{module}]?config=&secrets=&fresh=``: the config
    modules' JSON Schemas, and with ``config=1`` the configuration (what bknd's admin UI loads)."""
    from nodebase.system.bknd_schema import MODULES, bknd_config, bknd_permissions, schemas

    nb = request.app.state.nb
    caller = nb.caller(request)
    module = request.path_params.get("module")
    require(nb.guard, caller, "system.schema.read", {"module": module} if module else None)
    want_config = truthy(request.query_params.get("config"))
    secrets = truthy(request.query_params.get("secrets"))
    if want_config:
        require(nb.guard, caller, "system.config.read")
    if secrets:
        require(nb.guard, caller, "system.config.read.secrets")
    if truthy(request.query_params.get("fresh")):
        await nb.config.reload_if_changed()
    readonly = not nb.guard.check(caller, "system.config.write").allowed
    all_schemas = schemas()
    if module:
        if module not in MODULES:
            raise NotFound(f'Unknown module "{module}"', context={"module": module, "valid": list(MODULES)})
        return json({"module": module, "readonly": readonly, "version": CONFIG_VERSION,
                     "schema": all_schemas[module],
                     "config": bknd_config(nb, secrets=secrets)[module] if want_config else None})
    return json({"version": CONFIG_VERSION, "readonly": readonly, "schema": all_schemas,
                 "config": bknd_config(nb, secrets=secrets) if want_config else None,
                 "permissions": bknd_permissions(nb)})


async def openapi(request: Request) -> Response:
    """The OpenAPI document: whole with ``system.openapi``, else what the caller may do."""
    nb = request.app.state.nb
    caller = nb.caller(request)
    from nodebase.system.openapi import build_openapi

    doc = build_openapi(nb, server_url=str(request.base_url).rstrip("/"))
    if nb.guard.check(caller, "system.openapi").allowed:
        return json(doc)
    from nodebase.system.openapi_access import visible_part

    base = nb.data.schema.config.get("basepath", "/api/data").rstrip("/") + "/entity/"
    who = f'the role "{caller.role}"' if caller.role else "an anonymous caller"
    return json(visible_part(doc, lambda perm, ctx: bool(nb.guard.check(caller, perm, ctx).allowed),
                             entity_base=base, who=who))


async def swagger(request: Request) -> Response:
    """Swagger UI: a static page, open to anyone (the document it loads is filtered)."""
    return HTMLResponse(SWAGGER_HTML)


ROOT = {"name": "nodebase", "version": __version__, "docs": "/api/system/swagger",
        "openapi": "/api/system/openapi.json", "health": "/health", "admin": "/admin"}
ROOT_HTML = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nodebase</title></head>
<body><h1>nodebase {__version__}</h1>
<p>This is an API server. See <a href="/api/system/swagger">the API documentation</a>
(<a href="/api/system/openapi.json">OpenAPI document</a>).</p>
<p><a href="/admin">Admin UI</a> · <a href="/admin">管理后台</a></p></body></html>"""


async def root(request: Request) -> Response:
    """Where to go from ``/``: a pointer to the API documentation (HTML for browsers)."""
    if "text/html" in request.headers.get("accept", ""):
        return HTMLResponse(ROOT_HTML)
    return json(ROOT)


def routes() -> list[Route]:
    b = "/api/system"
    out = [
        Route("/", root, methods=["GET"]),
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
        Route(b + "/schema", schema, methods=["GET"]),
        Route(b + "/schema/{module}", schema, methods=["GET"]),
        Route(b + "/openapi.json", openapi, methods=["GET"]),
        Route(b + "/swagger", swagger, methods=["GET"]),
        Route(b + "/swagger/{asset}", swagger_asset, methods=["GET"]),
    ]
    return out
