"""``fetch``: an HTTP request with templated URL, headers and body (bknd's FetchTask), made
through :mod:`nodebase.kernel.outbound` (private addresses refused unless allowed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nodebase.flows.tasks.base import Problem, Task, TaskContext, TaskFailed, allowed_keys
from nodebase.flows.templates import has_markup, to_text
from nodebase.kernel import jsonutil
from nodebase.kernel.errors import NodebaseError

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
KEYS = {"url", "method", "headers", "body", "timeout", "normal"}
MAX_TIMEOUT = 300.0


def headers_of(value: Any) -> dict[str, str]:
    """bknd's ``[{key, value}]`` (or its JSON text) or a plain object."""
    if isinstance(value, str):
        value = jsonutil.loads(value, what="headers") if value.strip() else []
    if isinstance(value, dict):
        return {str(k): to_text(v) for k, v in value.items()}
    if isinstance(value, list):
        out: dict[str, str] = {}
        for item in value:
            if not (isinstance(item, dict) and "key" in item):
                raise TaskFailed("headers must be [{key, value}] or an object", type="params")
            out[str(item["key"])] = to_text(item.get("value"))
        return out
    if value is None:
        return {}
    raise TaskFailed("headers must be [{key, value}] or an object", type="params")


def body_of(value: Any, headers: dict[str, str]) -> bytes | None:
    if value is None or value == "":
        return None
    if isinstance(value, dict | list):
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        return jsonutil.dumps(value)
    return to_text(value).encode()


def decode(resp: Any) -> Any:
    if resp.content_type.endswith("json"):
        try:
            return jsonutil.loads(resp.body, what="response")
        except NodebaseError:
            return resp.text()
    return resp.text()


class FetchTask(Task):
    type = "fetch"

    def check(self, params: dict[str, Any], known: Callable[[str], Any]) -> list[Problem]:
        problems = allowed_keys(params, KEYS)
        url = params.get("url")
        if not isinstance(url, str) or not url:
            problems.append(("params.url", "url is required"))
        elif not has_markup(url) and not url.startswith(("http://", "https://")):
            problems.append(("params.url", "url must start with http:// or https://"))
        method = params.get("method", "GET")
        if isinstance(method, str) and not has_markup(method) and method.upper() not in METHODS:
            problems.append(("params.method", f"method must be one of {', '.join(METHODS)}"))
        timeout = params.get("timeout")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                                    or not 0 < timeout <= MAX_TIMEOUT):
            problems.append(("params.timeout", f"timeout must be 0 to {MAX_TIMEOUT:g} seconds"))
        return problems

    async def run(self, params: dict[str, Any], ctx: TaskContext) -> Any:
        from nodebase.kernel.outbound import fetch

        method = to_text(params.get("method") or "GET").upper()
        if method not in METHODS:
            raise TaskFailed("Invalid method", type="params", given=method, valid=list(METHODS))
        url = to_text(params.get("url"))
        headers = headers_of(params.get("headers"))
        body = body_of(params.get("body"), headers)
        try:
            resp = await fetch(method, url, headers=headers, body=body,
                               timeout=float(params.get("timeout") or 10.0),
                               allow_private=ctx.services.allow_private)
        except NodebaseError as exc:
            raise TaskFailed(exc.message, type="fetch", **exc.context) from None
        if not 200 <= resp.status < 300:
            raise TaskFailed("Failed to fetch", type="fetch", status=resp.status, url=url)
        return decode(resp)
