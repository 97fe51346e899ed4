"""Assemble nodebase: kernel services, the modules, and one ASGI application."""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from nodebase.admin.module import AdminModule
from nodebase.auth.module import AuthModule
from nodebase.data.module import DataModule
from nodebase.data.openapi import data_openapi
from nodebase.data.transport import mount_fast as mount_data_fast
from nodebase.data.transport import routes as data_routes
from nodebase.flows.module import FlowsModule
from nodebase.kernel.asgi import FastRouter
from nodebase.kernel.caller import ANONYMOUS, Caller, Guard, OpenGuard
from nodebase.kernel.config import Settings, load_settings
from nodebase.kernel.cors import CorsMiddleware, CorsPolicy
from nodebase.kernel.database import Database, open_database
from nodebase.kernel.database.timed import TimedDatabase
from nodebase.kernel.errors import NodebaseError
from nodebase.kernel.events import EventBus
from nodebase.kernel.http import error_response, json
from nodebase.kernel.logs import configure_logging
from nodebase.kernel.node import AsgiWrapper, ConfigurableModule, Lifecycle, OpenApiPaths
from nodebase.kernel.observe import (
    LOGS_PERMISSION,
    METRICS_PERMISSION,
    ObserveMiddleware,
    logs_endpoint,
    metrics_endpoint,
)
from nodebase.kernel.permissions import PermissionRegistry
from nodebase.kernel.secrets import open_secrets
from nodebase.knowledge.module import KnowledgeModule
from nodebase.media.module import MediaModule
from nodebase.realtime.module import RealtimeModule
from nodebase.system.config import ConfigManager
from nodebase.system.config_store import ConfigStore
from nodebase.system.transport import routes as system_routes

log = logging.getLogger("nodebase")


class _GuardProxy:
    """Lets the Auth module swap the guard after services captured a reference."""

    def __init__(self) -> None:
        self.target: Guard = OpenGuard()

    def check(self, caller: Caller, permission: str, context: dict[str, Any] | None = None) -> Any:
        return self.target.check(caller, permission, context)


class Nodebase:
    """One node: settings, database, event bus, guard, config and modules (a kernel ``Node``)."""

    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or load_settings()
        self.secrets = open_secrets(settings.resolved_data_dir)
        self.settings = self.secrets.fill_settings(settings)
        self.instance_id = str(uuid.uuid4())
        self.started_at = time.monotonic()
        self.db: Database = TimedDatabase(open_database(self.settings.resolved_database_url))
        self.events = EventBus()
        self.cors = CorsPolicy(self.settings.cors_origins)
        self._guard = _GuardProxy()
        self.permissions = PermissionRegistry()
        self.permissions.add(METRICS_PERMISSION)
        self.permissions.add(LOGS_PERMISSION)
        self.config = ConfigManager(ConfigStore(self.db))
        self._resolve_caller: Callable[[Request], Caller] = lambda request: ANONYMOUS
        self.routes: list[BaseRoute] = [*system_routes(), *data_routes(),
                                        Route("/metrics", metrics_endpoint, methods=["GET"]),
                                        Route("/api/system/logs", logs_endpoint, methods=["GET"])]
        #: wrap the whole ASGI app, outermost last (auth resolves the caller before any route)
        self.asgi_wrappers: list[AsgiWrapper] = []
        self.websockets: dict[str, Any] = {}
        #: OpenAPI descriptions of module routes, in registration order: each is called with
        #: the node and returns path items or a document part; see nodebase.kernel.openapi
        self.openapi_paths: list[OpenApiPaths] = []
        self._on_start: list[Lifecycle] = []
        self._on_stop: list[Lifecycle] = []
        self._started = False
        self._next_refresh = 0.0
        # the modules, in dependency order
        self.data = DataModule(self.db, self.events, self.guard, self.settings.resolved_schema_file)
        self.data.service.bulk_max_rows = self.settings.bulk_max_rows
        self.data.store = self.config.store
        self.add_config(self.data)
        self.add_openapi(data_openapi)
        self.media = MediaModule(self, self.data)
        self.auth = AuthModule(self, self.data)
        self.realtime = RealtimeModule(self, self.data, self.auth)
        self.flows = FlowsModule(self, self.data)
        self.knowledge = KnowledgeModule(self, self.media)
        self.apps: dict[str, Any] = {}
        if "studio" in self.settings.apps:
            from nodebase.apps.studio.app import StudioApp

            self.apps["studio"] = StudioApp(self, self.data, self.auth, self.media, self.knowledge)
        self.chat: Any = None
        if "chat" in self.settings.apps:
            from nodebase.apps.chat.app import ChatApp

            self.chat = self.apps["chat"] = ChatApp(self, self.data, self.auth, self.realtime)
        self.admin = AdminModule(self)
        if self.settings.bknd_admin_dir:  # bknd's own admin UI, from an npm install (docs/admin.md)
            from nodebase.admin.bknd_bundle import BkndAdmin

            self.bknd_admin = BkndAdmin(self, self.settings.bknd_admin_dir, self.settings.bknd_admin_path)

    # -- kernel.node.Node --------------------------------------------------------------------
    @property
    def guard(self) -> Guard:
        return self._guard

    def add_routes(self, routes: Iterable[BaseRoute], *, first: bool = False) -> None:
        if first:  # an app's route that must win over a module's route on the same path
            self.routes[:0] = list(routes)
        else:
            self.routes.extend(routes)

    def add_openapi(self, paths: OpenApiPaths) -> None:
        self.openapi_paths.append(paths)

    def add_asgi_wrapper(self, wrap: AsgiWrapper) -> None:
        self.asgi_wrappers.append(wrap)

    def add_websocket(self, path: str, app: Any) -> None:
        self.websockets[path] = app

    def add_config(self, module: ConfigurableModule) -> None:
        self.config.register(module)

    def on_start(self, fn: Lifecycle) -> None:
        self._on_start.append(fn)

    def on_stop(self, fn: Lifecycle) -> None:
        self._on_stop.append(fn)

    async def refresh(self) -> None:
        """At most once a second: reload config that another worker or host changed."""
        now = time.monotonic()
        if now < self._next_refresh or not self._started:
            return
        self._next_refresh = now + 1.0
        try:
            await self.config.reload_if_changed()
        except Exception:
            log.exception("reloading configuration failed")

    def caller(self, request: Request) -> Caller:
        return self._resolve_caller(request)

    def set_authenticator(self, fn: Callable[[Request], Caller]) -> None:
        self._resolve_caller = fn

    def set_guard(self, guard: Guard) -> None:
        self._guard.target = guard

    async def start(self) -> None:
        if self._started:
            return
        self.settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
        await self.db.connect()
        # schema setup (config table, each module's tables, change tracking) one process at a
        # time: nodes and workers starting at once on an empty PostgreSQL database race otherwise
        async with self.db.startup_lock():
            await self.config.store.ensure()
            await self.config.load()
            for fn in self._on_start:
                await fn()
        self._started = True

    async def stop(self) -> None:
        if self._started:
            for fn in reversed(self._on_stop):
                try:
                    await fn()
                except Exception:
                    log.exception("a module's stop hook failed: %r", fn)
            used = sys.modules.get("nodebase.kernel.outbound")  # imported on first fetch (httpx is slow to import)
            if used is not None:
                await used.close_pools()
            await self.db.close()
            self._started = False

    def asgi(self) -> Any:
        """The ASGI application: a raw fast path for hot routes in front of Starlette."""
        app = self.starlette()
        router = FastRouter(self, app, self.cors)
        router.static("GET", "/api/system/ping", b'{"pong":true}')
        for path, endpoint in self.websockets.items():
            router.websocket(path, endpoint)
        mount_data_fast(router, self.data.schema.config.get("basepath", "/api/data"))
        router.state = app.state  # type: ignore[attr-defined]
        outer: Any = router
        for wrap in self.asgi_wrappers:
            outer = wrap(outer)
        return ObserveMiddleware(outer, self.routes)

    def starlette(self) -> Starlette:
        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        async def on_nodebase_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, NodebaseError)
            return error_response(exc)

        async def on_http_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            messages = {404: "Not found", 405: "Method not allowed"}
            return json(
                {"error": messages.get(exc.status_code, exc.detail), "type": "HTTPException",
                 "context": {"path": request.url.path, "method": request.method}},
                status=exc.status_code,
            )

        async def on_client_disconnect(request: Request, exc: Exception) -> Response:
            # the client left mid-body: not an error; the answer goes nowhere
            return Response(status_code=400)

        async def on_unexpected(request: Request, exc: Exception) -> Response:
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            return json({"error": "Internal server error", "type": "InternalError", "context": {}}, status=500)

        app = Starlette(
            routes=self.routes,
            lifespan=lifespan,
            exception_handlers={
                NodebaseError: on_nodebase_error,
                ClientDisconnect: on_client_disconnect,
                HTTPException: on_http_error,
                Exception: on_unexpected,
            },
            middleware=[Middleware(CorsMiddleware, policy=self.cors)],
        )
        app.state.nb = self
        return app


def create_app(settings: Settings | None = None) -> Any:
    """ASGI factory (used by ``nodebase serve`` and by ``granian --factory``)."""
    settings = settings or load_settings()
    configure_logging(settings.log_level)
    return Nodebase(settings).asgi()
