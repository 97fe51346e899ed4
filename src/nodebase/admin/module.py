"""Serve the admin UI: the HTML shell at ``/admin`` (and every path below it), static files
under ``/admin/static``. A signed-in caller without ``system.access.admin`` gets a 403 page,
not the UI; an anonymous caller gets the UI's sign-in view (it holds no data)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from nodebase.admin.shell import denied_page, shell_page, wants_chinese
from nodebase.kernel.node import Node

STATIC = Path(__file__).parent / "static"


class AdminModule:
    def __init__(self, nb: Node) -> None:
        self.nb = nb
        nb.add_routes(self.routes())

    def routes(self) -> list[BaseRoute]:
        return [
            Mount("/admin/static", app=StaticFiles(directory=STATIC), name="admin-static"),
            Route("/admin", self.page, methods=["GET"]),
            Route("/admin/{rest:path}", self.page, methods=["GET"]),
        ]

    async def page(self, request: Request) -> Response:
        caller = self.nb.caller(request)
        zh = wants_chinese(request.cookies.get("nb_lang"), request.headers.get("accept-language", ""))
        headers = {"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                   "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
                                              "connect-src 'self' ws: wss:; frame-ancestors 'none'"}
        if caller.user is not None and not self.nb.guard.check(caller, "system.access.admin").allowed:
            return HTMLResponse(denied_page(zh, str(caller.user.get("email", ""))), status_code=403,
                                headers=headers)
        return HTMLResponse(shell_page(zh), headers=headers)
