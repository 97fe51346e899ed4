"""HTTP routes of the auth module, wire-compatible with bknd (reference §2.3, §3).

JSON or redirect: a request is a JSON request when its ``Content-Type`` is JSON or its
``Accept`` asks for JSON. JSON requests get JSON answers; form posts (HTML ``<form>``) get a
302: to ``?redirect=`` (a path on this server only) or ``cookie.pathSuccess`` on success, and
back to the (same-origin) Referer with a ``__bknd_flash`` cookie on failure, as bknd does.
"""

from __future__ import annotations

import contextlib
import time
from email.utils import formatdate
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from nodebase.auth.middleware import caller_of
from nodebase.auth.page import PASSKEY_PAGE
from nodebase.auth.service import Session
from nodebase.auth.tokens import TokenError
from nodebase.kernel import jsonutil
from nodebase.kernel.caller import Caller, require
from nodebase.kernel.errors import (
    BadRequest,
    NodebaseError,
    NotFound,
    TooManyRequests,
    UnsupportedMediaType,
)
from nodebase.kernel.http import is_json_request, json, read_json

if TYPE_CHECKING:
    from nodebase.auth.module import AuthModule

BASE = "/api/auth"
DEVICE_COOKIE = "nb_device"
DEVICE_COOKIE_AGE = 366 * 24 * 3600


def _auth(request: Request) -> AuthModule:
    module: AuthModule = request.app.state.nb.auth
    if not module.service.config.enabled:
        raise NotFound("Not found", context={"path": request.url.path, "setting": "auth.enabled"})
    return module


def _ip(request: Request) -> str:
    """The client's address (X-Forwarded-For only through the ``trusted_proxies`` setting)."""
    module: AuthModule = request.app.state.nb.auth
    return module.client_address.of(request.scope)


def _origin(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _body(request: Request) -> dict[str, Any]:
    """JSON, urlencoded or multipart; always an object."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            form = await request.form()
        except Exception as exc:  # malformed multipart bodies raise several parser errors
            raise BadRequest(f"The form body could not be read: {exc}") from None
        return {k: v for k, v in form.items() if isinstance(v, str)}
    if ctype and ctype != "application/json" and not ctype.endswith("+json") and ctype != "text/plain":
        raise UnsupportedMediaType(f"Send JSON or a form, not {ctype}", context={"content_type": ctype})
    body = await read_json(request, required=False)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object", context={"got": type(body).__name__})
    return body


# -- cookies -----------------------------------------------------------------------------------
def _cookie_attrs(module: AuthModule, max_age: int) -> str:
    c = module.service.config.cookie
    expires = formatdate(time.time() + max_age, usegmt=True) if max_age else \
        "Thu, 01 Jan 1970 00:00:00 GMT"
    parts = [f"Max-Age={max_age}", f"Path={c.path}", f"Expires={expires}"]
    if c.http_only:
        parts.append("HttpOnly")
    if c.secure:
        parts.append("Secure")
    parts.append("SameSite=" + c.same_site.capitalize())
    if c.partitioned:
        parts.append("Partitioned")
    return "; ".join(parts)


def set_auth_cookie(response: Response, module: AuthModule, token: str) -> None:
    value = module.service.tok.sign_cookie(token)
    response.headers.append("set-cookie", f"auth={value}; " +
                            _cookie_attrs(module, module.service.config.cookie.expires))


def set_device_cookie(response: Response, module: AuthModule, value: str) -> None:
    """The device cookie (see nodebase.auth.throttle): sent only to the auth routes, one year."""
    c = module.service.config.cookie
    attrs = [f"Max-Age={DEVICE_COOKIE_AGE}", f"Path={BASE}", "HttpOnly",
             "SameSite=" + c.same_site.capitalize()]
    if c.secure:
        attrs.append("Secure")
    response.headers.append("set-cookie", f"{DEVICE_COOKIE}={value}; " + "; ".join(attrs))


def clear_auth_cookie(response: Response, module: AuthModule) -> None:
    response.headers.append("set-cookie", "auth=; " + _cookie_attrs(module, 0))


def _flash(response: Response, message: str, kind: str) -> None:
    value = quote(jsonutil.dumps_str({"message": message, "type": kind}), safe="")
    response.headers.append("set-cookie", f"__bknd_flash={value}; Path=/; Max-Age=60; SameSite=Lax")


def _local_path(request: Request, target: str | None) -> str | None:
    """``target`` if it stays on this server (a path, or a URL of this origin), else None."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        if f"{parts.scheme}://{parts.netloc}" != _origin(request):
            return None
        target = parts.path + (f"?{parts.query}" if parts.query else "")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def _session_response(request: Request, module: AuthModule, session: Session,
                      status: int = 200) -> Response:
    if is_json_request(request):
        response: Response = json({"user": session.user, "token": session.token}, status=status)
    else:
        success = _local_path(request, request.query_params.get("redirect")) or \
            module.service.config.cookie.path_success
        response = RedirectResponse(success, status_code=302)
    set_auth_cookie(response, module, session.token)
    if session.device:
        set_device_cookie(response, module, session.device)
    return response


def _form_failure(request: Request, module: AuthModule, exc: NodebaseError) -> Response:
    back = _local_path(request, request.query_params.get("redirect")) or \
        _local_path(request, request.headers.get("referer")) or module.service.config.cookie.path_success
    response = RedirectResponse(back, status_code=302)
    _flash(response, exc.message, "error")
    return response


async def _sign_in_action(request: Request, action: str, status: int = 200) -> Response:
    module = _auth(request)
    try:
        body = await _body(request)
        if action == "login":
            session = await module.service.login(body, _ip(request), request.cookies.get(DEVICE_COOKIE))
        else:
            session = await module.service.register(body, _ip(request))
    except TooManyRequests:
        raise
    except NodebaseError as exc:
        if is_json_request(request):
            raise
        return _form_failure(request, module, exc)
    return _session_response(request, module, session, status)


async def login(request: Request) -> Response:
    """Sign in with e-mail and password (JSON: user and token; form post: 302)."""
    return await _sign_in_action(request, "login")


async def register(request: Request) -> Response:
    """Create an account with e-mail and password and sign in."""
    return await _sign_in_action(request, "register")


async def register_plain(request: Request) -> Response:
    """``/api/auth/register`` (the seeds' and Studio's name): as bknd's register, but 201."""
    return await _sign_in_action(request, "register", 201)


async def logout(request: Request) -> Response:
    """Sign out: clear the auth cookie."""
    module = _auth(request)
    if is_json_request(request):
        response: Response = json({"ok": True})
    else:
        target = _local_path(request, request.headers.get("referer")) or \
            module.service.config.cookie.path_logged_out
        response = RedirectResponse(target, status_code=302)
        _flash(response, "Signed out", "info")
    clear_auth_cookie(response, module)
    return response


async def me(request: Request) -> Response:
    """The signed-in user (403 {"user": null} when anonymous)."""
    module = _auth(request)
    caller = caller_of(request)
    if caller.user is None:
        return json({"user": None}, status=403)
    user = await module.service.user_view(caller.user["id"])
    if user is None:
        return json({"user": None}, status=403)
    response = json({"user": user})
    if caller.via == "cookie" and module.service.config.cookie.renew:
        cookie = request.cookies.get("auth")
        if cookie:
            with contextlib.suppress(TokenError):  # an odd second "auth" cookie: no renewal
                set_auth_cookie(response, module, module.service.tok.unsign_cookie(cookie))
    return response


async def refresh(request: Request) -> Response:
    """A new token (and cookie) for the signed-in user."""
    module = _auth(request)
    session = await module.service.refresh(caller_of(request))
    response = json({"user": session.user, "token": session.token})
    set_auth_cookie(response, module, session.token)
    return response


async def change_password(request: Request) -> Response:
    """Change the signed-in user's password; older tokens stop working."""
    module = _auth(request)
    session = await module.service.change_password(caller_of(request), await _body(request), _ip(request))
    response = json({"user": session.user, "token": session.token})
    set_auth_cookie(response, module, session.token)
    return response


async def strategies(request: Request) -> Response:
    """The enabled sign-in strategies."""
    module = _auth(request)
    cfg = module.service.config
    include_disabled = request.query_params.get("include_disabled") in ("1", "true")
    out: dict[str, Any] = {}
    if cfg.password.enabled or include_disabled:
        out["password"] = {"enabled": cfg.password.enabled, "type": "password",
                           "config": {"minLength": cfg.password.min_length}}
    if cfg.passkey.enabled or include_disabled:
        out["passkey"] = {"enabled": cfg.passkey.enabled, "type": "passkey",
                          "config": {"user_verification": cfg.passkey.user_verification}}
    for name, strategy in cfg.oauth.items():
        if strategy.enabled or include_disabled:
            out[name] = strategy.public()
    return json({"strategies": out, "basepath": BASE})


def _require(request: Request, permission: str, context: dict[str, Any] | None = None) -> Caller:
    nb = request.app.state.nb
    caller: Caller = nb.caller(request)
    require(nb.guard, caller, permission, context)
    return caller


async def create_user(request: Request) -> Response:
    """Create a user with any role (admins)."""
    module = _auth(request)
    _require(request, "auth.user.create")
    _require(request, "data.entity.create", {"entity": "users"})
    user = await module.service.create_user(await _body(request))
    return json({"success": True, "action": "create", "strategy": "password", "data": user})


async def manage_user(request: Request) -> Response:
    """An admin changes a user's role, sets a new password or signs the user out everywhere."""
    module = _auth(request)
    _require(request, "auth.user.create")
    _require(request, "data.entity.update", {"entity": "users", "id": request.path_params["id"]})
    user = await module.service.manage_user(request.path_params["id"], await _body(request))
    return json({"data": user})


async def create_user_schema(request: Request) -> Response:
    """JSON schema of the create-user body."""
    module = _auth(request)
    cfg = module.service.config
    return json({
        "type": "object",
        "properties": {
            "email": {"type": "string", "format": "email"},
            "password": {"type": "string", "minLength": cfg.password.min_length},
            "role": {"type": "string", "enum": sorted(cfg.roles)},
        },
        "required": ["email", "password"],
    })


# -- API keys -------------------------------------------------------------------------------
async def apikeys_list(request: Request) -> Response:
    """List API keys (never the keys themselves)."""
    module = _auth(request)
    _require(request, "auth.apikey.manage")
    return json({"data": [k.public() for k in await module.service.apikeys.list()]})


async def apikeys_create(request: Request) -> Response:
    """Create an API key; the key is returned once."""
    from nodebase.auth.apikeys import parse_expiry

    module = _auth(request)
    caller = _require(request, "auth.apikey.manage")
    body = await _body(request)
    if "expires_in" in body:
        expires = parse_expiry(body.get("expires_in"), field="expires_in")
    else:
        expires = parse_expiry(body.get("expires_at"))
    creator = caller.user.get("email") if caller.user else caller.attrs.get("apikey_name") or caller.via
    key, record = await module.service.apikeys.create(
        name=body.get("name"), role=body.get("role"), roles=set(module.service.config.roles),
        expires_at=expires, created_by=str(creator))
    return json({"data": {**record.public(), "key": key}}, status=201)


async def apikeys_revoke(request: Request) -> Response:
    """Revoke an API key."""
    module = _auth(request)
    _require(request, "auth.apikey.manage")
    record = await module.service.apikeys.revoke(request.path_params["id"])
    module.service.forget_credentials()
    return json({"data": record.public()})


# -- passkeys -------------------------------------------------------------------------------
async def passkey_register_options(request: Request) -> Response:
    """WebAuthn creation options for the signed-in user."""
    module = _auth(request)
    user = await module.service.signed_in_user(caller_of(request))
    options = await module.passkeys.registration_options(module.service.config.passkey, user, _origin(request))
    return json(options)


async def passkey_register_verify(request: Request) -> Response:
    """Register a passkey for the signed-in user."""
    module = _auth(request)
    user = await module.service.signed_in_user(caller_of(request))
    body = await _body(request)
    pk = await module.passkeys.register(module.service.config.passkey, user, body.get("credential"),
                                        body.get("name"), _origin(request))
    return json({"data": pk.public()}, status=201)


async def passkey_login_options(request: Request) -> Response:
    """WebAuthn request options (with an e-mail: that account's passkeys)."""
    from nodebase.auth.passwords import normalise_email

    module = _auth(request)
    body = await _body(request)
    user = None
    if body.get("email") not in (None, ""):
        user = await module.service.users.by_email(normalise_email(body.get("email")))
    options = await module.passkeys.login_options(module.service.config.passkey, user, _origin(request))
    return json(options)


async def passkey_login_verify(request: Request) -> Response:
    """Sign in with a passkey."""
    module = _auth(request)
    body = await _body(request)
    credential = body.get("credential")
    ip = _ip(request)
    await module.service.throttle.check_address(ip)
    try:
        pk = await module.passkeys.authenticate(module.service.config.passkey, credential, _origin(request))
    except NodebaseError:
        await module.service.throttle.failed_address(ip)
        raise
    user = await module.service.users.by_id(module.service.users_pk(pk.user_id))
    if user is None:
        raise NotFound("The passkey's account no longer exists")
    session = await module.service.session_for(user)
    return _session_response(request, module, session)


async def passkey_login_start(request: Request) -> Response:
    """``POST /passkey/login``: where bknd's sign-in page sends a listed strategy. A passkey
    sign-in runs in the browser, so a form post is sent to the passkey page (which comes back
    to ``?redirect=``, the referring page or ``cookie.pathSuccess``); a JSON request learns the
    two routes to call."""
    module = _auth(request)
    if is_json_request(request):
        raise BadRequest(
            "A passkey sign-in takes two requests: POST /api/auth/passkey/login/options, then "
            "POST /api/auth/passkey/login/verify with the browser's credential",
            context={"options": BASE + "/passkey/login/options", "verify": BASE + "/passkey/login/verify"})
    back = _local_path(request, request.query_params.get("redirect")) or \
        _local_path(request, request.headers.get("referer")) or module.service.config.cookie.path_success
    return RedirectResponse("/auth/passkeys?" + urlencode({"redirect": back}), status_code=303)


async def passkeys_list(request: Request) -> Response:
    """The signed-in user's passkeys."""
    module = _auth(request)
    user = await module.service.signed_in_user(caller_of(request))
    return json({"data": [p.public() for p in await module.passkeys.list(user)]})


async def passkey_rename(request: Request) -> Response:
    """Rename one of the signed-in user's passkeys."""
    module = _auth(request)
    user = await module.service.signed_in_user(caller_of(request))
    body = await _body(request)
    pk = await module.passkeys.rename(user, request.path_params["id"], body.get("name"))
    return json({"data": pk.public()})


async def passkey_delete(request: Request) -> Response:
    """Delete one of the signed-in user's passkeys."""
    module = _auth(request)
    user = await module.service.signed_in_user(caller_of(request))
    await module.passkeys.delete(user, request.path_params["id"])
    return json({"ok": True})


async def passkey_page(request: Request) -> Response:
    """A page that signs in and manages passkeys in the browser."""
    _auth(request)
    return HTMLResponse(PASSKEY_PAGE, headers={
        "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
        "X-Frame-Options": "DENY",
    })


def routes() -> list[Route]:
    b = BASE
    return [
        Route(b + "/strategies", strategies, methods=["GET"]),
        Route(b + "/password/login", login, methods=["POST"]),
        Route(b + "/login", login, methods=["POST"]),
        Route(b + "/password/register", register, methods=["POST"]),
        Route(b + "/register", register_plain, methods=["POST"]),
        Route(b + "/logout", logout, methods=["GET", "POST"]),
        Route(b + "/me", me, methods=["GET"]),
        Route(b + "/refresh", refresh, methods=["POST"]),
        Route(b + "/password/change", change_password, methods=["POST"]),
        Route(b + "/password/actions/create", create_user, methods=["POST"]),
        Route(b + "/password/actions/create/schema.json", create_user_schema, methods=["GET"]),
        Route(b + "/users/{id}", manage_user, methods=["PATCH"]),
        Route(b + "/apikeys", apikeys_list, methods=["GET"]),
        Route(b + "/apikeys", apikeys_create, methods=["POST"]),
        Route(b + "/apikeys/{id}", apikeys_revoke, methods=["DELETE"]),
        Route(b + "/passkey/register/options", passkey_register_options, methods=["POST"]),
        Route(b + "/passkey/register/verify", passkey_register_verify, methods=["POST"]),
        Route(b + "/passkey/login", passkey_login_start, methods=["POST"]),
        Route(b + "/passkey/login/options", passkey_login_options, methods=["POST"]),
        Route(b + "/passkey/login/verify", passkey_login_verify, methods=["POST"]),
        Route(b + "/passkeys", passkeys_list, methods=["GET"]),
        Route(b + "/passkeys/{id}", passkey_rename, methods=["PATCH"]),
        Route(b + "/passkeys/{id}", passkey_delete, methods=["DELETE"]),
        Route("/auth/passkeys", passkey_page, methods=["GET"]),
    ]
