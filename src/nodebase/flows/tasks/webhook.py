"""``webhook``: POST JSON to a URL, signed with ``X-Nodebase-Signature`` (see
:mod:`nodebase.flows.signing`); retried with backoff by the runner (1, 4, 16, 64, 256 s by
default), each attempt recorded in the run."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from nodebase.flows import signing
from nodebase.flows.runs import WEBHOOK_RETRY, RetryPolicy, iso
from nodebase.flows.tasks.base import Problem, Task, TaskContext, TaskFailed, allowed_keys
from nodebase.flows.tasks.fetch import headers_of
from nodebase.flows.templates import has_markup, to_text
from nodebase.kernel import jsonutil
from nodebase.kernel.errors import NodebaseError

log = logging.getLogger("nodebase.flows.webhook")
KEYS = {"url", "secret", "body", "headers", "timeout", "retries", "backoff"}


class WebhookTask(Task):
    type = "webhook"
    default_retry: RetryPolicy = WEBHOOK_RETRY

    def check(self, params: dict[str, Any], known: Callable[[str], Any]) -> list[Problem]:
        problems = allowed_keys(params, KEYS)
        url = params.get("url")
        if not isinstance(url, str) or not url:
            problems.append(("params.url", "url is required"))
        elif not has_markup(url) and not url.startswith(("http://", "https://")):
            problems.append(("params.url", "url must start with http:// or https://"))
        secret = params.get("secret")
        if secret is not None and (not isinstance(secret, str) or not secret):
            problems.append(("params.secret", "secret must be a non-empty string"))
        return problems

    def default_body(self, ctx: TaskContext) -> dict[str, Any]:
        return {"event": ctx.meta.get("event", ctx.flow.trigger.type),
                "entity": ctx.meta.get("entity"), "data": ctx.input, "at": iso(time.time())}

    async def run(self, params: dict[str, Any], ctx: TaskContext) -> Any:
        from nodebase.kernel.outbound import fetch

        url = to_text(params.get("url"))
        body_value = params.get("body")
        if body_value is None:
            body_value = self.default_body(ctx)
        body = body_value.encode() if isinstance(body_value, str) else jsonutil.dumps(body_value)
        headers = headers_of(params.get("headers"))
        headers.setdefault("Content-Type", "application/json")
        headers["X-Nodebase-Delivery"] = f"{ctx.run_id}:{ctx.task_id}"
        headers["X-Nodebase-Attempt"] = str(ctx.attempt)
        if ctx.meta.get("event"):
            headers["X-Nodebase-Event"] = str(ctx.meta["event"])
        secret = params.get("secret")
        if secret:
            headers[signing.HEADER] = signing.sign(ctx.services.secret(str(secret)), body)
        started = time.monotonic()
        try:
            resp = await fetch("POST", url, headers=headers, body=body,
                               timeout=float(params.get("timeout") or 10.0),
                               allow_private=ctx.services.allow_private, max_redirects=0)
        except NodebaseError as exc:
            log.info("webhook %s attempt %d to %s failed: %s", ctx.run_id, ctx.attempt, url, exc.message)
            raise TaskFailed(exc.message, type="webhook", attempt=ctx.attempt, **exc.context) from None
        ms = round((time.monotonic() - started) * 1000, 1)
        if not 200 <= resp.status < 300:
            log.info("webhook %s attempt %d to %s answered %d", ctx.run_id, ctx.attempt, url, resp.status)
            raise TaskFailed(f"the receiver answered {resp.status}", type="webhook",
                             status=resp.status, attempt=ctx.attempt)
        log.info("webhook %s delivered to %s on attempt %d (%d, %s ms)", ctx.run_id, url, ctx.attempt,
                 resp.status, ms)
        return {"status": resp.status, "attempts": ctx.attempt}
