"""Python functions that flows call by name (the ``python`` task).

    import nodebase.flows

    @nodebase.flows.task("slugify")
    def slugify(args, run):           # or async def
        return args["title"].lower().replace(" ", "-")

``args`` is the task's rendered ``args`` param; ``run`` is a :class:`RunInfo`. The module
holding the functions is named in the ``flows`` config (``python_modules``) and imported
when that config is applied.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_registry: dict[str, Callable[..., Any]] = {}


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    flow: str
    task: str
    attempt: int
    input: Any
    #: outputs of the tasks finished so far, by task id
    outputs: dict[str, Any]


def task(name: str) -> Callable[[F], F]:
    """Register ``fn`` as the flow function ``name``."""
    if not isinstance(name, str) or not name:
        raise ValueError("a flow function needs a non-empty name")

    def register(fn: F) -> F:
        _registry[name] = fn
        return fn

    return register


def lookup(name: str) -> Callable[..., Any] | None:
    return _registry.get(name)


def names() -> list[str]:
    return sorted(_registry)


def import_modules(modules: list[str], project_dir: Path) -> list[tuple[str, str]]:
    """Import each module (project directory on the path); returns (module, error) problems."""
    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    problems = []
    for mod in modules:
        try:
            importlib.import_module(mod)
        except Exception as exc:  # the user's module: any error is a config problem
            problems.append((mod, f"{type(exc).__name__}: {exc}"))
    return problems
