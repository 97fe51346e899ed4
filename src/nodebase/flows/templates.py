"""Templated task parameters: Jinja2 in a sandbox, reading bknd's ``{{ task.output.x }}`` too.

What a template sees (the *scope*): ``input`` (the run's input), ``flow`` (bknd's name for
the same value: ``flow.output``), every finished task by id (``<id>.output``, ``.error``,
``.success``) and ``tasks["<id>"]`` for ids that are not Python names ("Fetch Something").
bknd's ``{{ Fetch Something.output }}`` is rewritten to ``tasks["Fetch Something"].output``.

A string that is exactly one ``{{ expression }}`` gives the expression's value (a dict stays a
dict); anything else renders to text, with missing values and ``None`` as ``""`` (as bknd).
Templates cannot reach Python internals (``ImmutableSandboxedEnvironment``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

_MARKUP = ("{{", "{%", "{#")
_SINGLE = re.compile(r"^\s*\{\{(.+?)\}\}\s*$", re.DOTALL)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@cache
def _env() -> ImmutableSandboxedEnvironment:
    """The sandboxed environment, made on first use: a node without templated flows never
    imports Jinja2 (~20 ms of start)."""
    from jinja2 import ChainableUndefined, Undefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def finalize(value: Any) -> Any:
        return "" if value is None or isinstance(value, Undefined) else value

    return ImmutableSandboxedEnvironment(undefined=ChainableUndefined, finalize=finalize,
                                         autoescape=False, keep_trailing_newline=True)


class TemplateProblem(ValueError):
    """A template does not compile (definition time) or fails (run time)."""


def has_markup(value: str) -> bool:
    return any(m in value for m in _MARKUP)


def _rewrite(source: str, ids: Iterable[str]) -> str:
    """bknd paths that start with a task id Jinja cannot name → ``tasks["id"]``."""
    for task_id in sorted((i for i in ids if not _NAME.match(i)), key=len, reverse=True):
        pattern = re.compile(r"(\{\{-?\s*|\{%-?[^%]*?\s)" + re.escape(task_id) + r"(?=[.\s|}\[])")
        replacement = f"tasks[{task_id!r}]".replace("\\", "\\\\")
        source = pattern.sub(r"\g<1>" + replacement, source)
    return source


def check(source: str, ids: Iterable[str]) -> None:
    """Raise :class:`TemplateProblem` if ``source`` does not compile."""
    from jinja2 import TemplateSyntaxError

    text = _rewrite(source, ids)
    try:
        m = _SINGLE.match(text)
        if m and "{{" not in m.group(1):
            _env().compile_expression(m.group(1))
        else:
            _env().parse(text)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"template syntax error: {exc.message} (line {exc.lineno})") from None


def render_value(value: Any, scope: dict[str, Any]) -> Any:
    """Render every string in ``value`` (recursively through lists and objects)."""
    if isinstance(value, str):
        return render_string(value, scope) if has_markup(value) else value
    if isinstance(value, list):
        return [render_value(v, scope) for v in value]
    if isinstance(value, dict):
        return {render_value(k, scope) if isinstance(k, str) else k: render_value(v, scope)
                for k, v in value.items()}
    return value


def render_string(source: str, scope: dict[str, Any]) -> Any:
    from jinja2 import TemplateSyntaxError, Undefined

    text = _rewrite(source, scope.get("tasks", {}).keys())
    try:
        m = _SINGLE.match(text)
        if m and "{{" not in m.group(1):
            result = _env().compile_expression(m.group(1), undefined_to_none=True)(**scope)
            return None if isinstance(result, Undefined) else result
        return _env().from_string(text).render(**scope)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"template syntax error: {exc.message}") from None
    except Exception as exc:  # SecurityError, TypeError in an expression, ...
        raise TemplateProblem(f"template failed: {type(exc).__name__}: {exc}") from None


def to_text(value: Any) -> str:
    """What a string parameter becomes when a template gave a value (bknd's ``String(v)``)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        from nodebase.kernel import jsonutil

        return jsonutil.dumps_str(value)
    return str(value)
