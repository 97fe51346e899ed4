"""``http``: ``{method, path, mode, response_type}`` (bknd's HttpTrigger) plus ``public`` or
``permission``. Without either the caller needs ``flows.run`` (secure by default)."""

from __future__ import annotations

import re
from typing import Any

from nodebase.flows.triggers.base import Problem, Trigger

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
RESPONSE_TYPES = ("json", "text", "html")
#: the node's own routes: a trigger there would never be reached
RESERVED = ("/api/data", "/api/auth", "/api/media", "/api/system", "/api/flows")
_SEGMENT = re.compile(r"^:([A-Za-z_][A-Za-z0-9_]*)$")


class HttpTrigger(Trigger):
    type = "http"
    keys = frozenset({"method", "path", "mode", "response_type", "public", "permission", "timeout"})

    def normalise(self, config: dict[str, Any], problems: list[Problem], ctx: Any) -> dict[str, Any]:
        out = super().normalise(config, problems, ctx)
        path = config.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            problems.append(("trigger.config.path", 'path must start with "/"'))
        elif any(path == r or path.startswith(r + "/") for r in RESERVED):
            problems.append(("trigger.config.path", f"path {path} is inside a module's routes"))
        method = str(config.get("method", "GET")).upper()
        if method not in METHODS:
            problems.append(("trigger.config.method", f"method must be one of {', '.join(METHODS)}"))
        response_type = config.get("response_type", "json")
        if response_type not in RESPONSE_TYPES:
            problems.append(("trigger.config.response_type",
                             f"response_type must be one of {', '.join(RESPONSE_TYPES)}"))
        public = config.get("public", False)
        if not isinstance(public, bool):
            problems.append(("trigger.config.public", "public must be true or false"))
        permission = config.get("permission")
        if permission is not None and (not isinstance(permission, str) or permission not in ctx.permissions):
            problems.append(("trigger.config.permission", f"unknown permission {permission!r}"))
        if public and permission is not None:
            problems.append(("trigger.config.public", "a trigger is public or needs a permission, not both"))
        timeout = config.get("timeout", 30)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300:
            problems.append(("trigger.config.timeout", "timeout must be 0 to 300 seconds"))
        out.update(method=method, response_type=response_type)
        return out


def compile_path(path: str) -> re.Pattern[str]:
    """``/hooks/:id`` → a regex with named groups."""
    parts = []
    for seg in path.strip("/").split("/"):
        m = _SEGMENT.match(seg)
        parts.append(f"(?P<{m.group(1)}>[^/]+)" if m else re.escape(seg))
    return re.compile("^/" + "/".join(parts) + "/?$" if parts != [""] else "^/$")
