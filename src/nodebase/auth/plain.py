"""The seeds' plain user API (SPEC §3.3, seeds ``001``/``002``) on the Auth service.

``GET /api/health``; ``GET /api/users`` and ``POST /api/users`` (permission
``auth.user.manage``); ``GET /api/users/{id}`` (that permission, or the user themself; anyone
else gets 404 so that ids are not revealed). A user is shown as seed ``002``'s
``UserResponse``: ``{"id", "email", "username", "created_at"}``. ``POST /api/auth/register``
and ``/api/auth/login`` live in :mod:`nodebase.auth.transport`; ``POST /api/media/upload``
is the Media module's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nodebase import __version__
from nodebase.kernel.caller import SYSTEM, Caller, require
from nodebase.kernel.errors import BadRequest, NotFound, Unauthorized
from nodebase.kernel.http import json, read_json

if TYPE_CHECKING:
    from nodebase.auth.module import AuthModule

PERMISSION = "auth.user.manage"
MAX_LIMIT = 1000


def user_response(row: dict[str, Any]) -> dict[str, Any]:
    """Seed 002's ``UserResponse``."""
    return {"id": row.get("id"), "email": row.get("email"), "username": row.get("username"),
            "created_at": row.get("created_at")}


def _module(request: Request) -> AuthModule:
    module: AuthModule | None = getattr(request.app.state.nb, "auth", None)
    if module is None:
        raise NotFound("Not found", context={"path": request.url.path, "setting": "auth.enabled"})
    return module


def _caller(request: Request) -> Caller:
    caller: Caller = request.app.state.nb.caller(request)
    return caller


def _manager(request: Request) -> Caller:
    caller = _caller(request)
    require(request.app.state.nb.guard, caller, PERMISSION)
    return caller


def _int_param(request: Request, name: str, default: int, top: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f'"{name}" must be an integer', context={"param": name, "value": raw}) from None
    if not 0 <= value <= top:
        raise BadRequest(f'"{name}" must be between 0 and {top}', context={"param": name, "value": value})
    return value


async def health(request: Request) -> Response:
    """Seed 001's health check: ``{"status": "ok", "version", "database"}``."""
    nb = request.app.state.nb
    try:
        await nb.db.fetch_val("SELECT 1")
    except Exception:
        return json({"status": "error", "version": __version__, "database": nb.db.dialect.name}, status=503)
    return json({"status": "ok", "version": __version__, "database": nb.db.dialect.name})


async def list_users(request: Request) -> Response:
    """All users (newest last), ``?limit=`` (default 100) and ``?offset=``."""
    _manager(request)
    module = _module(request)
    limit = _int_param(request, "limit", 100, MAX_LIMIT)
    offset = _int_param(request, "offset", 0, 2**31)
    rows, _meta = await module.service.data.read_many(
        "users", {"limit": limit, "offset": offset, "sort": "id"}, SYSTEM)
    return json([user_response(dict(r)) for r in rows])


async def create_user(request: Request) -> Response:
    """Seed 002's ``CreateUserRequest`` ``{"email", "username", "password"}`` (+ ``role``)."""
    _manager(request)
    module = _module(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequest('The body must be an object {"email", "username", "password"}')
    row = await module.service.create_user(body)
    return json(user_response(row), status=201)


async def read_user(request: Request) -> Response:
    """One user: for a caller with ``auth.user.manage``, or for that user themself."""
    caller = _caller(request)
    module = _module(request)
    wanted = request.path_params["id"]
    if caller.user is None and not caller.is_system:
        decision = request.app.state.nb.guard.check(caller, PERMISSION)
        if not decision.allowed:
            raise Unauthorized("Sign in to read a user", context={"path": request.url.path})
    own = caller.user is not None and str(caller.id) == wanted
    if not own and not request.app.state.nb.guard.check(caller, PERMISSION).allowed:
        raise NotFound("User not found", context={"entity": "users", "id": wanted})
    pk = module.service.users_pk(wanted)
    row = await module.service.user_view(pk) if pk is not None else None
    if row is None:
        raise NotFound("User not found", context={"entity": "users", "id": wanted})
    return json(user_response(row))


def plain_routes() -> list[Route]:
    return [
        Route("/api/health", health, methods=["GET"]),
        Route("/api/users", list_users, methods=["GET"]),
        Route("/api/users", create_user, methods=["POST"]),
        Route("/api/users/{id}", read_user, methods=["GET"]),
    ]
