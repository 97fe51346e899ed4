"""Swagger UI assets, served by the node itself so the page works offline.

The swagger-ui-dist files (CSS, bundle, favicons) come from the ``swagger-ui-py`` package
(its ``swagger_ui/static`` folder), located without importing that package; nodebase only
serves the few files the page needs, plus its own initialiser script.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from nodebase.kernel.errors import NotFound

ASSETS_PACKAGE = "swagger_ui"  # from the PyPI package swagger-ui-py
CACHE = "public, max-age=86400"
JS = "text/javascript; charset=utf-8"

#: file name -> content type; nothing else in the package is served
ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": JS,
    "swagger-ui-standalone-preset.js": JS,
    "favicon-16x16.png": "image/png",
    "favicon-32x32.png": "image/png",
}

INIT_NAME = "nodebase-init.js"
#: URLs are relative to the page (/api/system/swagger), so a path prefix in front still works
INIT_JS = """window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  displayRequestDuration: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
});
"""

SWAGGER_HTML = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nodebase API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" type="image/png" href="swagger/favicon-32x32.png">
<link rel="stylesheet" href="swagger/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="swagger/swagger-ui-bundle.js"></script>
<script src="swagger/{INIT_NAME}"></script>
</body></html>"""


@cache
def assets_dir() -> Path | None:
    """The folder holding swagger-ui-dist's files, or None when the package is missing."""
    bundled = getattr(sys, "_MEIPASS", None)  # the sidecar executable carries the files only
    if bundled and (Path(bundled) / ASSETS_PACKAGE / "static" / "swagger-ui-bundle.js").is_file():
        return Path(bundled) / ASSETS_PACKAGE / "static"
    spec = importlib.util.find_spec(ASSETS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        static = Path(location) / "static"
        if (static / "swagger-ui-bundle.js").is_file():
            return static
    return None


async def swagger_asset(request: Request) -> Response:
    name = request.path_params["asset"]
    if name == INIT_NAME:
        return Response(INIT_JS, media_type=JS, headers={"Cache-Control": CACHE})
    folder = assets_dir()
    if name not in ASSETS or folder is None or not (folder / name).is_file():
        reason = (
            "unknown asset" if name not in ASSETS else "the swagger-ui-py package is not installed"
        )
        raise NotFound(
            f'Swagger UI asset "{name}" not found: {reason}',
            context={"asset": name, "valid": [*ASSETS, INIT_NAME]},
        )
    return FileResponse(folder / name, media_type=ASSETS[name], headers={"Cache-Control": CACHE})


__all__ = ["ASSETS", "INIT_NAME", "SWAGGER_HTML", "assets_dir", "swagger_asset"]
