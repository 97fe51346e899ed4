"""``render``: a Jinja2 template (sandboxed) rendered with the run's scope (bknd's RenderTask)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nodebase.flows.tasks.base import Problem, Task, TaskContext, allowed_keys
from nodebase.flows.templates import to_text


class RenderTask(Task):
    type = "render"

    def check(self, params: dict[str, Any], known: Callable[[str], Any]) -> list[Problem]:
        problems = allowed_keys(params, {"render"})
        if not isinstance(params.get("render"), str):
            problems.append(("params.render", "render must be a template string"))
        return problems

    async def run(self, params: dict[str, Any], ctx: TaskContext) -> Any:
        # params were rendered by the runner: the template's result is the output
        return to_text(params.get("render"))
