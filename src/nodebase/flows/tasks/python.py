"""``python``: call a function registered with ``@nodebase.flows.task("name")``."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from nodebase.flows import functions
from nodebase.flows.tasks.base import Problem, Task, TaskContext, TaskFailed, allowed_keys


class PythonTask(Task):
    type = "python"

    def check(self, params: dict[str, Any], known: Callable[[str], Any]) -> list[Problem]:
        problems = allowed_keys(params, {"function", "args"})
        name = params.get("function")
        if not isinstance(name, str) or not name:
            problems.append(("params.function", "function must name a registered function"))
        elif functions.lookup(name) is None:
            problems.append(("params.function",
                             f'no function "{name}" is registered (registered: '
                             f'{", ".join(functions.names()) or "none"}; list the module that '
                             'registers it in flows.python_modules)'))
        return problems

    async def run(self, params: dict[str, Any], ctx: TaskContext) -> Any:
        name = str(params.get("function"))
        fn = functions.lookup(name)
        if fn is None:
            raise TaskFailed(f'no function "{name}" is registered', type="python")
        info = functions.RunInfo(ctx.run_id, ctx.flow.name, ctx.task_id, ctx.attempt, ctx.input,
                                 dict(ctx.outputs))
        try:
            if inspect.iscoroutinefunction(fn):
                result = await fn(params.get("args"), info)
            else:
                result = await asyncio.to_thread(fn, params.get("args"), info)
        except TaskFailed:
            raise
        except Exception as exc:
            raise TaskFailed(f"{type(exc).__name__}: {exc}", type="python") from None
        return result
