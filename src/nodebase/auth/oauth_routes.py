"""HTTP routes of OAuth sign-in, bknd's ``OAuthStrategy`` routes (reference §2.3):

* ``POST /api/auth/{name}/login|register`` → 302 to the provider; the state is bound to the
  browser by the ``_challenge`` cookie (HMAC-signed with the auth secret, not bknd's constant).
  A ``GET`` that is a browser navigation (``Sec-Fetch-Mode: navigate`` or an HTML ``Accept``)
  does the same, so a plain link works.
* ``GET /api/auth/{name}/login|register`` (otherwise) → bknd's token mode:
  ``{"url", "challenge", "action"}``; the provider then redirects to ``/{name}/token``.
* ``GET /api/auth/{name}/token`` → ``{"code"}`` (bknd).
* ``GET /api/auth/{name}/callback`` → the sign-in. Browser flow: the auth cookie and a 302 to
  the return URL; token mode (``X-State-Challenge`` header): ``{"user", "token"}`` + cookie.

The return URL is ``?redirect=`` (or a ``redirect`` form field), else the Referer, else
``cookie.pathSuccess``. An explicit one that is neither a path on this server nor under the
strategy's ``return_urls`` is refused (400): no open redirect.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from nodebase.auth.oauth import OAuthService, return_allowed
from nodebase.auth.transport import BASE, _auth, _body, _origin, set_auth_cookie
from nodebase.kernel.errors import BadRequest
from nodebase.kernel.http import is_json_request, json

if TYPE_CHECKING:
    from nodebase.auth.module import AuthModule

STATE_COOKIE = "_challenge"


def _oauth(module: AuthModule) -> OAuthService:
    return module.oauth


def _state_sig(module: AuthModule, state: str) -> str:
    return module.service.tok.mac("oauth-state", state)


def _bound_state(request: Request, module: AuthModule) -> str | None:
    header = request.headers.get("x-state-challenge")
    if header:
        return header
    raw = request.cookies.get(STATE_COOKIE, "")
    state, dot, sig = raw.rpartition(".")
    if not dot or not state or not hmac.compare_digest(sig.encode(), _state_sig(module, state).encode()):
        return None
    return state


def _state_cookie(module: AuthModule, name: str, value: str, max_age: int) -> str:
    c = module.service.config.cookie
    attrs = [f"Max-Age={max_age}", f"Path={BASE}/{name}", "HttpOnly", "SameSite=Lax"]
    if c.secure:
        attrs.append("Secure")
    return f"{STATE_COOKIE}={value}; " + "; ".join(attrs)


def _is_navigation(request: Request) -> bool:
    if request.headers.get("sec-fetch-mode") == "navigate":
        return True
    accept = request.headers.get("accept", "")
    return "text/html" in accept and not is_json_request(request)


def _return_to(request: Request, module: AuthModule, name: str, explicit: str | None) -> str:
    cfg = _oauth(module).strategy(name)
    origin = _origin(request)
    if explicit:
        if not return_allowed(explicit, origin, cfg.return_urls):
            raise BadRequest("This redirect is not allowed: use a path on this server or a URL under "
                             f"auth.strategies.{name}.config.return_urls",
                             context={"field": "redirect", "setting": f"auth.strategies.{name}.config.return_urls"})
        return explicit
    referer = request.headers.get("referer")
    if referer and return_allowed(referer, origin, cfg.return_urls):
        return referer
    return module.service.config.cookie.path_success


async def start(request: Request) -> Response:
    """Start signing in with a provider (see the module docstring for the two modes)."""
    module = _auth(request)
    name, action = request.path_params["name"], request.path_params["action"]
    service = _oauth(module)
    cfg = service.strategy(name)
    explicit = request.query_params.get("redirect")
    if request.method == "POST" and not explicit:
        explicit = (await _body(request)).get("redirect") or None
    browser = request.method == "POST" or _is_navigation(request)
    callback = cfg.callback_url or f"{_origin(request)}{BASE}/{name}/callback"
    if not browser:
        callback = callback.rsplit("/callback", 1)[0] + "/token"
    return_to = _return_to(request, module, name, explicit) if browser or explicit else None
    begun = await service.begin(name, action, callback, return_to, "cookie" if browser else "token")
    if not browser:
        return json({"url": begun.url, "challenge": begun.state, "action": begun.action})
    response = RedirectResponse(begun.url, status_code=302)
    value = f"{begun.state}.{_state_sig(module, begun.state)}"
    response.headers.append("set-cookie", _state_cookie(module, name, value, cfg.state_ttl))
    return response


async def callback(request: Request) -> Response:
    """The provider sent the browser (or the client) back: sign in."""
    module = _auth(request)
    name = request.path_params["name"]
    done = await _oauth(module).finish(name, dict(request.query_params), _bound_state(request, module))
    if done.mode == "token" or is_json_request(request):
        response: Response = json({"user": done.session.user, "token": done.session.token})
    else:
        response = RedirectResponse(done.return_to or module.service.config.cookie.path_success,
                                    status_code=302)
        response.headers.append("set-cookie", _state_cookie(module, name, "", 0))
    set_auth_cookie(response, module, done.session.token)
    return response


async def token(request: Request) -> Response:
    """bknd's token-mode landing page: the code for the client to send to /callback."""
    module = _auth(request)
    _oauth(module).strategy(request.path_params["name"])
    return json({"code": request.query_params.get("code")})


def oauth_routes() -> list[Route]:
    b = BASE
    return [
        Route(b + "/{name}/callback", callback, methods=["GET"]),
        Route(b + "/{name}/token", token, methods=["GET"]),
        Route(b + "/{name}/{action:str}", start, methods=["GET", "POST"]),
    ]

