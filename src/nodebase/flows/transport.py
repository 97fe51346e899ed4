"""HTTP only: the ``/api/flows`` routes and the endpoint that serves HTTP triggers.

Every route checks a permission (bknd leaves them all anonymous): ``flows.read`` to list
definitions and runs, ``flows.run`` to start a run, ``flows.manage`` to change a definition.
An HTTP trigger needs ``flows.run`` unless its config says ``public: true`` or names another
``permission``.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from nodebase.flows.service import bknd_run_answer
from nodebase.flows.templates import to_text
from nodebase.kernel import jsonutil
from nodebase.kernel.caller import require
from nodebase.kernel.errors import BadRequest, NodebaseError
from nodebase.kernel.http import json, read_json

if TYPE_CHECKING:
    from nodebase.flows.definition import Flow
    from nodebase.flows.service import FlowsService

BASE = "/api/flows"
MASK = "********"
#: request headers never copied into a run's input (it is stored and shown)
_SECRET_HEADERS = {"authorization", "cookie", "x-api-key", "proxy-authorization"}
MANUAL_WAIT = 60.0
TRIGGER_PATH = BASE + "/_trigger"
PATH_KEY = "nodebase.flows.path"


def _svc(request: Request) -> tuple[Any, FlowsService]:
    nb = request.app.state.nb
    return nb, nb.flows.service


def _check(request: Request, permission: str, **context: Any) -> None:
    nb = request.app.state.nb
    require(nb.guard, nb.caller(request), permission, context or None)


def masked(doc: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    tasks = out.get("tasks")
    if isinstance(tasks, dict):
        for task in tasks.values():
            params = task.get("params") if isinstance(task, dict) else None
            if isinstance(params, dict) and params.get("secret"):
                params["secret"] = MASK
    return out


def _info(flow: Flow) -> dict[str, Any]:
    info = flow.info()
    return {**masked({**info, "tasks": flow.doc.get("tasks", {})}), "tasks": info["tasks"]}


async def list_flows(request: Request) -> Response:
    _check(request, "flows.read")
    _nb, svc = _svc(request)
    return json({name: _info(f) for name, f in svc.flows.items()})


async def get_flow(request: Request) -> Response:
    name = request.path_params["name"]
    _check(request, "flows.read", flow=name)
    _nb, svc = _svc(request)
    return json(masked(svc.flow(name).doc))


async def run_flow(request: Request) -> Response:
    name = request.path_params["name"]
    _check(request, "flows.run", flow=name)
    _nb, svc = _svc(request)
    flow = svc.flow(name)
    value = await read_json(request, required=False) if request.method == "POST" else None
    run, done = await svc.run(flow, value, "manual", {}, wait=MANUAL_WAIT)
    if done is None:
        return json({"success": True, "run_id": run.id, "status": "running"}, status=202)
    return json(bknd_run_answer(flow, done))


async def put_flow(request: Request) -> Response:
    name = request.path_params["name"]
    _check(request, "flows.manage", flow=name)
    nb, svc = _svc(request)
    body = await read_json(request)
    op = "overwrite" if name in svc.flows else "add"
    await nb.config.change("flows", op, f"flows.{name}", body)
    return json({"success": True, "flow": name, "definition": masked(svc.flow(name).doc)},
                status=200 if op == "overwrite" else 201)


async def delete_flow(request: Request) -> Response:
    name = request.path_params["name"]
    _check(request, "flows.manage", flow=name)
    nb, svc = _svc(request)
    svc.flow(name)
    await nb.config.change("flows", "remove", f"flows.{name}", None)
    return json({"success": True, "flow": name})


async def list_runs(request: Request) -> Response:
    _check(request, "flows.read")
    _nb, svc = _svc(request)
    q = request.query_params
    return json(await svc.list_runs(flow=q.get("flow"), status=q.get("status"), limit=q.get("limit"),
                                    offset=q.get("offset")))


async def get_run(request: Request) -> Response:
    _check(request, "flows.read")
    _nb, svc = _svc(request)
    run = await svc.get_run(request.path_params["id"])
    return json({"data": run.to_wire()})


# -- HTTP triggers ----------------------------------------------------------------------------
async def _trigger_input(request: Request, params: dict[str, str]) -> dict[str, Any]:
    raw = await request.body()
    body: Any = None
    if raw:
        ctype = request.headers.get("content-type", "").split(";")[0].strip()
        if ctype.endswith("json"):
            body = jsonutil.loads(raw, what="request body")
        else:
            try:
                body = raw.decode()
            except UnicodeDecodeError:
                raise BadRequest("the request body is not UTF-8 text", context={"path": request.url.path}) from None
    return {"method": request.method, "path": request.scope.get(PATH_KEY), "params": params,
            "query": dict(request.query_params),
            "headers": {k: v for k, v in request.headers.items() if k.lower() not in _SECRET_HEADERS},
            "body": body}


def _respond(flow: Flow, output: Any) -> Response:
    kind = flow.trigger.config.get("response_type", "json")
    if kind == "text":
        return PlainTextResponse(to_text(output))
    if kind == "html":
        return HTMLResponse(to_text(output))
    return json(output)


async def trigger(request: Request) -> Response:
    nb, svc = _svc(request)
    path = request.scope.get(PATH_KEY)
    if not isinstance(path, str):
        raise HTTPException(404)
    found = svc.match_http(request.method, path)
    if found is None:
        raise HTTPException(405 if svc.path_exists(path) else 404)
    route, params = found
    flow = route.flow
    cfg = flow.trigger.config
    if not cfg.get("public"):
        _check(request, cfg.get("permission") or "flows.run", flow=flow.name)
    value = await _trigger_input(request, params)
    if cfg.get("mode") != "sync":
        run, _ = await svc.run(flow, value, "http", {}, wait=None)
        return json({"success": True, "run_id": run.id}, status=202)
    run, done = await svc.run(flow, value, "http", {}, wait=float(cfg.get("timeout", 30)))
    if done is None:
        return json({"success": True, "run_id": run.id, "status": "running"}, status=202)
    if done.error is not None:
        raise FlowFailed(flow.name, done.id, done.error)
    return _respond(flow, done.output)


class FlowFailed(NodebaseError):
    """A sync HTTP trigger's run failed: 502 with the failing task's error (bknd: success false)."""

    status = 502
    type = "FlowFailed"

    def __init__(self, flow: str, run_id: str, error: dict[str, Any]) -> None:
        super().__init__(f'flow "{flow}" failed: {error.get("message", "error")}',
                         context={"flow": flow, "run_id": run_id, "task": error.get("task")},
                         extra={"success": False, "errors": [error]})


METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def routes() -> list[Route]:
    return [
        Route(TRIGGER_PATH, trigger, methods=METHODS),
        Route(BASE, list_flows, methods=["GET"]),
        Route(BASE + "/runs", list_runs, methods=["GET"]),
        Route(BASE + "/runs/{id}", get_run, methods=["GET"]),
        Route(BASE + "/flow/{name}", get_flow, methods=["GET"]),
        Route(BASE + "/flow/{name}", put_flow, methods=["PUT"]),
        Route(BASE + "/flow/{name}", delete_flow, methods=["DELETE"]),
        Route(BASE + "/flow/{name}/run", run_flow, methods=["GET", "POST"]),
    ]


class TriggerPaths:
    """ASGI wrapper: a request whose path is an HTTP trigger's goes on to the node's routes as
    ``/api/flows/_trigger`` (the real path kept in the scope), so it passes the same caller
    resolution and error handling as every route. Other requests pass untouched (one check
    while no flow has an HTTP trigger)."""

    def __init__(self, app: Any, service: FlowsService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.service.http and self.service.path_exists(scope["path"]):
            scope = {**scope, PATH_KEY: scope["path"], "path": TRIGGER_PATH, "raw_path": TRIGGER_PATH.encode()}
        await self.app(scope, receive, send)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)
