"""Request metrics and the structured request log: the outermost ASGI wrapper, and ``/metrics``.

One JSON line per request on the ``nodebase.request`` logger (INFO, so it is written when the
``log_level`` setting is ``info`` or ``debug``): ``method``, ``route`` (the route template,
never the raw path with ids in it), ``status``, ``duration_ms`` and ``caller`` (the user id,
``apikey:<id>``, ``system`` or null). Nothing from headers, query strings or bodies is logged,
so tokens, passwords and keys cannot end up there.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nodebase.kernel import metrics
from nodebase.kernel.caller import Caller, require
from nodebase.kernel.errors import BadRequest
from nodebase.kernel.http import json
from nodebase.kernel.logs import LEVELS, RECENT, RequestLog
from nodebase.kernel.permissions import Permission

METRICS_PERMISSION = Permission("system.metrics", description="read /metrics (Prometheus)")
LOGS_PERMISSION = Permission("system.logs", description="read this process's recent log lines (GET /api/system/logs)")
LOGS_MAX = 1000
#: set by the raw fast path (kernel.asgi) to the template of the route it answered
ROUTE_KEY = "nodebase.route"
UNMATCHED = "<unmatched>"


def caller_label(caller: Caller | None) -> str | None:
    if caller is None or caller.via == "anonymous":
        return None
    if caller.user is not None:
        return str(caller.user.get("id"))
    if caller.via == "apikey":
        key = caller.attrs.get("apikey")
        return f"apikey:{key}" if key else "apikey"
    return caller.via


def _endpoint(route: BaseRoute) -> Any:
    """What the route leaves in ``scope["endpoint"]``: a mount, the app it mounts."""
    return route.app if isinstance(route, Mount) else getattr(route, "endpoint", None)


def _template(route: BaseRoute) -> str:
    """A route's path template; a mount's covers everything below it (``/admin/static/{path}``)."""
    return route.path_format if isinstance(route, Mount) else str(getattr(route, "path", UNMATCHED))


class RouteTemplates:
    """The template of the Starlette route that answered (``scope["endpoint"]`` → its routes)."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        self.routes = routes
        self._by_endpoint: dict[Any, list[BaseRoute]] | None = None

    def of(self, scope: Scope) -> str:
        fast = scope.get(ROUTE_KEY)
        if fast is not None:
            return str(fast)
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return UNMATCHED
        if self._by_endpoint is None:
            table: dict[Any, list[BaseRoute]] = {}
            for r in self.routes:
                table.setdefault(_endpoint(r), []).append(r)
            self._by_endpoint = table
        candidates = self._by_endpoint.get(endpoint, ())
        if len(candidates) == 1:
            return _template(candidates[0])
        probe = {**scope, "type": "http" if scope["type"] == "http" else scope["type"]}
        for r in candidates:
            match, _ = r.matches(probe)
            if match == Match.FULL:
                return _template(r)
        return _template(candidates[0]) if candidates else UNMATCHED


class ObserveMiddleware:
    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        self.templates = RouteTemplates(routes)
        self.log = RequestLog()
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        failed = False
        try:
            await self.app(scope, receive, watch)
        except BaseException:
            failed = True
            raise
        finally:
            elapsed = time.perf_counter() - start
            route = self.templates.of(scope)
            method = scope["method"]
            key = (method, route, status)
            children = self._children.get(key)
            if children is None:  # labels() costs a lock and a lookup: once per label set
                children = self._children[key] = (metrics.HTTP_REQUESTS.labels(method, route, str(status)),
                                                  metrics.HTTP_LATENCY.labels(method, route))
            children[0].inc()
            children[1].observe(elapsed)
            if failed or status >= 500:
                metrics.HTTP_ERRORS.labels(route).inc()
            if self.log.enabled():
                self.log.write(method, route, status, elapsed, caller_label(scope.get("nodebase.caller")))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)


async def metrics_endpoint(request: Request) -> Response:
    """``GET /metrics``: Prometheus text format, for callers with ``system.metrics``."""
    nb = request.app.state.nb
    require(nb.guard, nb.caller(request), METRICS_PERMISSION.name)
    return Response(metrics.render(), media_type=metrics.CONTENT_TYPE)


async def logs_endpoint(request: Request) -> Response:
    """``GET /api/system/logs?limit=&level=``: this process's newest log lines (the in-memory
    ring of ``kernel.logs``), newest first, for callers with ``system.logs``."""
    nb = request.app.state.nb
    require(nb.guard, nb.caller(request), LOGS_PERMISSION.name)
    raw_limit = request.query_params.get("limit", "200")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= LOGS_MAX:
        raise BadRequest(f"limit must be an integer from 1 to {LOGS_MAX}", context={"param": "limit", "value": raw_limit})
    level = request.query_params.get("level", "debug").lower()
    if level not in LEVELS:
        raise BadRequest(f"level must be one of {sorted(LEVELS)}", context={"param": "level", "value": level,
                                                                           "valid": sorted(LEVELS)})
    lines = RECENT.tail(int(raw_limit), LEVELS[level])
    return json({"data": lines, "meta": {"items": len(lines), "capacity": RECENT.capacity}})
