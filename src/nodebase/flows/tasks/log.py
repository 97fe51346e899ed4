"""``log``: wait ``delay`` milliseconds, write a log line, answer ``true`` (bknd's LogTask)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from nodebase.flows.tasks.base import Problem, Task, TaskContext, allowed_keys

log = logging.getLogger("nodebase.flows")
MAX_DELAY = 3_600_000


class LogTask(Task):
    type = "log"

    def check(self, params: dict[str, Any], known: Callable[[str], Any]) -> list[Problem]:
        problems = allowed_keys(params, {"delay", "message"})
        delay = params.get("delay", 10)
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= MAX_DELAY:
            problems.append(("params.delay", f"delay must be 0 to {MAX_DELAY} milliseconds"))
        return problems

    async def run(self, params: dict[str, Any], ctx: TaskContext) -> Any:
        await asyncio.sleep(float(params.get("delay", 10)) / 1000)
        message = params.get("message")
        log.info("[DONE] LogTask: %s (flow %s, run %s)%s", ctx.task_id, ctx.flow.name, ctx.run_id,
                 f": {message}" if message else "")
        return True
