"""bknd's own admin UI, served from nodebase's origin (setting ``bknd_admin_dir``; off by default).

nodebase ships none of bknd's files (bknd is under the FSL-1.1-MIT license): the user installs
npm ``bknd`` and points ``bknd_admin_dir`` at the package (or its ``dist/static``). This module
serves that bundle under ``bknd_admin_path`` (default ``/bknd``) with the HTML shell bknd's
``AdminController`` renders: ``window.__BKND__ = {user, logout_route, admin_basepath, …}``, the
entry script and styles named by the bundle's Vite manifest. The checks are bknd's: an admin
page needs ``system.access.admin`` (without it the browser is sent to ``<path>/auth/login``) and
``system.schema.read`` (without it the page is still served, as bknd serves it, with bknd's
warning notice); a signed-in admin who opens the sign-in page is sent to the admin. A notice is
bknd's ``__bknd_flash`` cookie, which its UI shows and clears.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from nodebase.kernel import jsonutil
from nodebase.kernel.node import Node

#: bknd's admin routes below its base path (AdminController.getController)
SECTIONS = ("data", "auth", "media", "flows", "settings", "tools")
LOGOUT_ROUTE = "/api/auth/logout"
#: bknd's flash-notice cookie (AdminController: ``addFlashMessage``)
FLASH_COOKIE = "__bknd_flash"
NOT_ADMIN = "You are not authorized to access the Admin UI"
NO_SCHEMA = "You are not allowed to read the schema"


class BkndBundleMissing(RuntimeError):
    pass


def find_static(configured: str) -> Path:
    """The bundle directory: ``configured`` itself, its ``dist/static`` (the package) or
    ``bknd/dist/static`` (a ``node_modules`` directory)."""
    base = Path(configured).expanduser()
    for cand in (base, base / "dist" / "static", base / "bknd" / "dist" / "static"):
        if (cand / ".vite" / "manifest.json").is_file():
            return cand.resolve()
    raise BkndBundleMissing(
        f"bknd_admin_dir={configured!r}: no bknd admin bundle there (looked for .vite/manifest.json "
        "in it, in dist/static and in bknd/dist/static); install it with `npm install bknd`")


def entry_assets(static: Path) -> tuple[str, list[str]]:
    """The entry script and its style sheets, from the bundle's Vite manifest."""
    manifest = jsonutil.loads((static / ".vite" / "manifest.json").read_bytes(), what="bknd manifest")
    for item in manifest.values() if isinstance(manifest, dict) else []:
        if isinstance(item, dict) and item.get("isEntry") and isinstance(item.get("file"), str):
            return item["file"], [c for c in item.get("css") or [] if isinstance(c, str)]
    raise BkndBundleMissing(f"{static}/.vite/manifest.json names no entry")


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element."""
    return jsonutil.dumps_str(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def flash(response: Response, request: Request, kind: str, message: str) -> Response:
    """bknd's ``addFlashMessage``: for a browser (``Accept: text/html``) a ``__bknd_flash`` cookie
    ``{type, message}`` (URI-encoded, as Hono's ``setCookie``) that bknd's UI shows as a notice."""
    if "text/html" in request.headers.get("accept", ""):
        value = quote(jsonutil.dumps_str({"type": kind, "message": message}), safe="!*'()")
        response.headers.append("set-cookie", f"{FLASH_COOKIE}={value}; Path=/")
    return response


class BkndAdmin:
    def __init__(self, nb: Node, directory: str, base: str) -> None:
        self.nb = nb
        self.static = find_static(directory)
        self.entry, self.css = entry_assets(self.static)
        self.base = "/" + base.strip("/")
        nb.add_routes(self.routes())

    def routes(self) -> list[BaseRoute]:
        b = self.base
        out: list[BaseRoute] = [
            Mount(b + "/assets", app=StaticFiles(directory=self.static / "assets"), name="bknd-assets"),
            Route(b + "/favicon.ico", self.favicon, methods=["GET"]),
            Route(b, self.page, methods=["GET"]),
            Route(b + "/", self.page, methods=["GET"]),
        ]
        for section in SECTIONS:
            out.append(Route(f"{b}/{section}", self.page, methods=["GET"]))
            out.append(Route(f"{b}/{section}/{{rest:path}}", self.page, methods=["GET"]))
        return out

    async def favicon(self, request: Request) -> Response:
        path = self.static / "favicon.ico"
        return Response(path.read_bytes(), media_type="image/x-icon")

    async def page(self, request: Request) -> Response:
        nb = self.nb
        caller = nb.caller(request)
        path = request.url.path
        sign_in = path in (f"{self.base}/auth/login", f"{self.base}/auth/register")
        admin = nb.guard.check(caller, "system.access.admin").allowed
        notice: tuple[str, str] | None = None
        if sign_in:
            if caller.user is not None and admin:
                return RedirectResponse(self.base + "/", status_code=302)
        elif not path.startswith(self.base + "/auth"):
            if not admin:
                return flash(RedirectResponse(self.base + "/auth/login", status_code=302),
                             request, "error", NOT_ADMIN)
            if not nb.guard.check(caller, "system.schema.read").allowed:
                notice = ("warning", NO_SCHEMA)
        context: dict[str, Any] = {"logout_route": LOGOUT_ROUTE, "admin_basepath": self.base,
                                   "logo_return_path": "/"}
        if caller.user is not None:
            context["user"] = caller.user
        page = HTMLResponse(self.html(context), headers={"Cache-Control": "no-store"})
        return flash(page, request, *notice) if notice else page

    def html(self, context: dict[str, Any]) -> str:
        assets = self.base + "/"
        styles = "".join(f'<link rel="stylesheet" href="{escape(assets + c)}">' for c in self.css)
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1, maximum-scale=1">
<link rel="icon" href="{escape(assets)}favicon.ico" type="image/x-icon">
<title>BKND</title>
<script type="module" src="{escape(assets + self.entry)}"></script>{styles}
<style>body {{ margin: 0; padding: 0; }}</style>
</head><body><div id="root"><div id="loading">Initializing...</div></div>
<script>window.__BKND__ = {_script_json(context)};</script>
</body></html>"""
