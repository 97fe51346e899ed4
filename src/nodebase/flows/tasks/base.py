"""What every task type is: a ``type``, a check of its params at definition time, a default
retry policy, and ``run`` (rendered params → output). One subclass per file."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nodebase.flows.runs import NO_RETRY, RetryPolicy

if TYPE_CHECKING:
    from nodebase.flows.definition import Flow


class TaskFailed(Exception):
    """A task ran and failed; ``error`` is what the run record shows (JSON)."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.error: dict[str, Any] = {"type": details.pop("type", "runtime"), "message": message,
                                      **details}


@dataclass
class TaskContext:
    """What a running task may use; built by the runner for each attempt."""

    run_id: str
    flow: Flow
    task_id: str
    attempt: int
    input: Any
    #: the template scope: input, flow, tasks, <task id> → {output, error, success}
    scope: dict[str, Any]
    #: trigger details, e.g. {"event": "data.create.after", "entity": "posts"}
    meta: dict[str, Any]
    depth: int
    services: Any  # nodebase.flows.runner.Services
    outputs: dict[str, Any] = field(default_factory=dict)


Problem = tuple[str, str]  # (field, message)


class Task:
    type: str = ""
    #: params whose strings are not rendered before ``run`` (the task renders them itself)
    raw_params: frozenset[str] = frozenset()
    default_retry: RetryPolicy = NO_RETRY

    def check(self, params: dict[str, Any], known: Callable[[str], Any]) -> list[Problem]:
        """Problems with ``params``; ``known(kind)`` answers lookups (flows, functions...)."""
        return []

    async def run(self, params: dict[str, Any], ctx: TaskContext) -> Any:
        raise NotImplementedError


def allowed_keys(params: dict[str, Any], keys: set[str]) -> list[Problem]:
    return [(f"params.{k}", f'unknown parameter "{k}" (valid: {", ".join(sorted(keys))})')
            for k in params if k not in keys]


AsyncFn = Callable[..., Awaitable[Any]]
