"""What a module sees of the node it is part of.

Modules never import :mod:`nodebase.app` (the wiring). They are given a :class:`Node`: the
kernel's services (settings, database, events, guard, permissions) and the registration hooks
through which a module adds its routes, its OpenAPI description, ASGI wrappers, its config
document and its start/stop work. Another module a module depends on (e.g. Auth on Data) is
passed to its constructor explicitly, so the dependency shows in the code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.routing import BaseRoute
    from starlette.types import ASGIApp

    from nodebase.kernel.caller import Caller, Guard
    from nodebase.kernel.config import Settings
    from nodebase.kernel.database import Database
    from nodebase.kernel.events import EventBus
    from nodebase.kernel.permissions import PermissionRegistry
    from nodebase.kernel.secrets import Secrets

#: called with the node, returns OpenAPI path items (``{"/api/x": {"get": {...}}}``) or a part
#: ``{"paths", "components", "tags"}``; helpers and shared components: nodebase.kernel.openapi
OpenApiPaths = Callable[[Any], Mapping[str, Any]]
#: wraps the whole ASGI application (outermost last)
AsgiWrapper = Callable[[Any], Any]
Lifecycle = Callable[[], Awaitable[None]]


class ConfigurableModule(Protocol):
    """A module with a config document (``GET /api/system/config/<name>``).

    Two optional methods, looked up when present (system/config.py):

    - ``prepare_change(op, path, value, current) -> value``: adjust the value of a config
      change (``op`` one of ``set add patch overwrite remove``, ``path`` its dot path,
      ``current`` the stored document) before it is applied, in a dry run (``?plan=1``) too;
      e.g. Data keeps the field options bknd's schema editor never shows;
    - ``async plan(doc) -> (parsed, sync_plan)``: what applying ``doc`` would change in the
      database (``?plan=1``).
    """

    name: str

    def default_config(self) -> dict[str, Any]: ...

    async def apply_config(self, doc: dict[str, Any], *, drop: bool) -> dict[str, Any]:
        """Validate ``doc``, make it live, and return the normalised document to store."""
        ...

    async def start(self, stored: dict[str, Any] | None) -> dict[str, Any]:
        """At start: make the stored document (or the module's own source) live."""
        ...

    def secret_paths(self) -> list[str]: ...


class Node(Protocol):
    """The kernel services and registration hooks of one node."""

    settings: Settings
    db: Database
    events: EventBus
    permissions: PermissionRegistry
    #: every secret (signing keys, credentials) comes from here: nodebase.kernel.secrets
    secrets: Secrets
    instance_id: str

    @property
    def guard(self) -> Guard: ...

    def caller(self, request: Request) -> Caller: ...

    # -- registration ----------------------------------------------------------------------
    def add_routes(self, routes: Iterable[BaseRoute], *, first: bool = False) -> None:
        """Add routes; ``first`` puts them before every route added so far (an app overriding
        a module's route on the same path)."""
        ...

    def add_openapi(self, paths: OpenApiPaths) -> None: ...

    def add_asgi_wrapper(self, wrap: AsgiWrapper) -> None: ...

    def add_websocket(self, path: str, app: ASGIApp) -> None:
        """Serve WebSocket connections to ``path`` with the raw ASGI ``app``, from the front router:
        past Starlette's middleware and routing, whose frames would stay on every open
        connection's stack for its whole life (memory per idle connection). The wrappers added
        with :meth:`add_asgi_wrapper` (the caller from the Auth module) still apply."""
        ...

    def add_config(self, module: ConfigurableModule) -> None: ...

    def on_start(self, fn: Lifecycle) -> None:
        """Run ``fn`` once the database is open and every config document is live."""
        ...

    def on_stop(self, fn: Lifecycle) -> None:
        """Run ``fn`` at shutdown (in reverse registration order), before the database closes."""
        ...

    # -- what the Auth module installs -----------------------------------------------------
    def set_authenticator(self, fn: Callable[[Request], Caller]) -> None: ...

    def set_guard(self, guard: Guard) -> None: ...
