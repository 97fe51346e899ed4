"""``subflow``: run another flow with an input and answer its output (bknd's SubFlowTask;
``loop: true`` runs it once per item of a list input)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nodebase.flows.tasks.base import Problem, Task, TaskContext, TaskFailed, allowed_keys

MAX_DEPTH = 8


class SubflowTask(Task):
    type = "subflow"

    def check(self, params: dict[str, Any], known: Callable[[str], Any]) -> list[Problem]:
        problems = allowed_keys(params, {"flow", "input", "loop"})
        name = params.get("flow")
        if not isinstance(name, str) or not name:
            problems.append(("params.flow", "flow must name a flow"))
        elif not known("flow")(name):
            problems.append(("params.flow", f'no flow named "{name}"'))
        if "loop" in params and not isinstance(params["loop"], bool):
            problems.append(("params.loop", "loop must be true or false"))
        return problems

    async def run(self, params: dict[str, Any], ctx: TaskContext) -> Any:
        if ctx.depth >= MAX_DEPTH:
            raise TaskFailed(f"subflows nest deeper than {MAX_DEPTH} levels", type="subflow")
        flow = ctx.services.flow(str(params.get("flow")))
        if flow is None:
            raise TaskFailed(f'no flow named "{params.get("flow")}"', type="subflow")
        inputs = params.get("input")
        items = (inputs if isinstance(inputs, list) else [inputs]) if params.get("loop") else [inputs]
        results = []
        for item in items:
            result = await ctx.services.run_inline(flow, item, ctx)
            if not result.success:
                raise TaskFailed(f'subflow "{flow.name}" failed', type="subflow", errors=result.errors)
            results.append(result.output)
        return results if params.get("loop") else results[0]
