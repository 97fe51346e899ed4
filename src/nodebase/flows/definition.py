"""Flow definitions parsed from the ``flows`` config (bknd's shapes) and their graph checks.

A bad definition raises :class:`FlowInvalid` (400) naming the flow, the task and the field:
unknown task or trigger type, bad params, an unknown start or responding task, a connection
to a missing task, a cycle, a bad cron expression, a template syntax error.

The graph: connections without ``max_retries`` must form a DAG; a connection on the error
path with ``max_retries`` (bknd's retry loop) may point back to an earlier task.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nodebase.flows import templates
from nodebase.flows.runs import RetryPolicy
from nodebase.flows.tasks import TASK_TYPES
from nodebase.flows.triggers import TRIGGER_TYPES
from nodebase.kernel.errors import ConfigInvalid

FLOW_KEYS = {"trigger", "tasks", "connections", "start_task", "responding_task", "role", "description"}
TASK_KEYS = {"type", "params", "retries", "backoff"}
CONNECTION_KEYS = {"source", "target", "config"}


class FlowInvalid(ConfigInvalid):
    """``400 {"error", "type", "context": {"flow", "task"?, "field"}}`` (+ bknd's ``errors``)."""

    def __init__(self, flow: str, field: str, message: str, task: str | None = None) -> None:
        path = f"flows.flows.{flow}" + (f".tasks.{task}" if task is not None else "") + f".{field}"
        where = f'flow "{flow}"' + (f', task "{task}"' if task is not None else "") + f", {field}"
        super().__init__([{"path": path, "error": f"{where}: {message}"}])
        self.context = {"flow": flow, "field": field, **({"task": task} if task is not None else {})}


@dataclass(frozen=True)
class Condition:
    type: str = "success"  # success | error | matches
    path: str = ""
    value: Any = None

    def met(self, success: bool, output: Any) -> bool:
        if self.type == "success":
            return success
        if self.type == "error":
            return not success
        if not success:
            return False
        node = output
        for part in self.path.split("."):
            if isinstance(node, dict):
                node = node.get(part)
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return False
        return bool(node == self.value or (isinstance(self.value, str) and templates.to_text(node) == self.value))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.type == "matches":
            out.update(path=self.path, value=self.value)
        return out


@dataclass(frozen=True)
class Connection:
    id: str
    source: str
    target: str
    condition: Condition
    max_retries: int = 0

    @property
    def retry_loop(self) -> bool:
        return self.condition.type == "error" and self.max_retries > 0


@dataclass(frozen=True)
class TaskSpec:
    id: str
    type: str
    params: dict[str, Any]
    retry: RetryPolicy


@dataclass(frozen=True)
class TriggerSpec:
    type: str
    config: dict[str, Any]


@dataclass
class Flow:
    name: str
    trigger: TriggerSpec
    tasks: dict[str, TaskSpec]
    connections: list[Connection]
    start_task: str | None
    responding_task: str | None
    role: str | None
    doc: dict[str, Any]
    _out: dict[str, list[Connection]] = field(default_factory=dict, repr=False)
    _in: dict[str, list[Connection]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for c in self.connections:
            self._out.setdefault(c.source, []).append(c)
            self._in.setdefault(c.target, []).append(c)

    def out(self, task: str) -> list[Connection]:
        return self._out.get(task, [])

    def forward_in(self, task: str) -> list[str]:
        return [c.source for c in self._in.get(task, []) if not c.retry_loop]

    def descendants(self, task: str) -> set[str]:
        """``task`` and everything reachable from it along forward connections."""
        seen, todo = {task}, [task]
        while todo:
            for c in self.out(todo.pop()):
                if not c.retry_loop and c.target not in seen:
                    seen.add(c.target)
                    todo.append(c.target)
        return seen

    @property
    def response_task(self) -> str | None:
        """bknd: the responding task, else the last task defined."""
        if self.responding_task:
            return self.responding_task
        return list(self.tasks)[-1] if self.tasks else None

    def info(self) -> dict[str, Any]:
        """bknd's ``getFlowInfo``: the definition with ``tasks`` as a count."""
        return {**copy.deepcopy(self.doc), "tasks": len(self.tasks),
                "connections": copy.deepcopy(self.doc.get("connections", {}))}


@dataclass
class Lookups:
    """What a definition is checked against."""

    flows: set[str]
    permissions: Any  # supports `in`

    def known(self, kind: str) -> Callable[[str], bool]:
        if kind == "flow":
            return lambda name: name in self.flows
        return lambda name: False


def _int(value: Any, lo: int, hi: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and lo <= value <= hi


def parse_flow(name: str, raw: Any, lookups: Lookups) -> Flow:
    def bad(fieldname: str, message: str, task: str | None = None) -> FlowInvalid:
        return FlowInvalid(name, fieldname, message, task)

    if not name or "." in name or "/" in name:
        raise bad("name", 'a flow name must be non-empty and contain no "." or "/"')
    if not isinstance(raw, dict):
        raise bad("definition", "a flow must be an object {trigger, tasks, connections, start_task, responding_task}")
    for key in raw:
        if key not in FLOW_KEYS:
            raise bad(key, f'unknown key "{key}" (valid: {", ".join(sorted(FLOW_KEYS))})')
    doc = copy.deepcopy(raw)

    # -- trigger ------------------------------------------------------------------------
    trig = raw.get("trigger", {"type": "manual"})
    if not isinstance(trig, dict):
        raise bad("trigger", 'trigger must be an object {"type", "config"}')
    ttype = trig.get("type", "manual")
    trigger_type = TRIGGER_TYPES.get(ttype)
    if trigger_type is None:
        raise bad("trigger.type", f'unknown trigger type {ttype!r} (valid: {", ".join(TRIGGER_TYPES)})')
    tconfig = trig.get("config") or {}
    if not isinstance(tconfig, dict):
        raise bad("trigger.config", "trigger config must be an object")
    problems: list[tuple[str, str]] = []
    tconfig = trigger_type.normalise(tconfig, problems, lookups)
    if problems:
        raise bad(*problems[0])
    doc["trigger"] = {"type": ttype, "config": tconfig}

    # -- tasks --------------------------------------------------------------------------
    raw_tasks = raw.get("tasks") or {}
    if not isinstance(raw_tasks, dict):
        raise bad("tasks", "tasks must be an object {id: {type, params}}")
    tasks: dict[str, TaskSpec] = {}
    for tid, spec in raw_tasks.items():
        if not tid or "." in tid:
            raise bad("tasks", f'task id {tid!r} must be non-empty and contain no "."', tid)
        if not isinstance(spec, dict):
            raise bad("definition", "a task must be an object {type, params}", tid)
        for key in spec:
            if key not in TASK_KEYS:
                raise bad(key, f'unknown key "{key}" (valid: {", ".join(sorted(TASK_KEYS))})', tid)
        kind = TASK_TYPES.get(spec.get("type"))  # type: ignore[arg-type]
        if kind is None:
            raise bad("type", f'unknown task type {spec.get("type")!r} (valid: {", ".join(TASK_TYPES)})', tid)
        params = spec.get("params") or {}
        if not isinstance(params, dict):
            raise bad("params", "params must be an object", tid)
        for fieldname, message in kind.check(params, lookups.known):
            raise bad(fieldname, message, tid)
        def bad_param(fieldname: str, message: str, task: str = tid) -> FlowInvalid:
            return bad(fieldname, message, task)

        _check_templates(params, "params", list(raw_tasks), bad_param)
        policy = kind.default_retry
        retries = spec.get("retries", params.get("retries") if kind.type == "webhook" else None)
        backoff = spec.get("backoff", params.get("backoff") if kind.type == "webhook" else None)
        if retries is not None:
            if not _int(retries, 0, 20):
                raise bad("retries", "retries must be 0 to 20", tid)
            policy = RetryPolicy(retries=retries, backoff=policy.backoff)
        if backoff is not None:
            if isinstance(backoff, bool) or not isinstance(backoff, int | float) or not 0 <= backoff <= 3600:
                raise bad("backoff", "backoff must be 0 to 3600 seconds", tid)
            policy = RetryPolicy(retries=policy.retries, backoff=float(backoff))
        tasks[tid] = TaskSpec(tid, kind.type, params, policy)

    # -- connections --------------------------------------------------------------------
    raw_conns = raw.get("connections") or {}
    if not isinstance(raw_conns, dict):
        raise bad("connections", "connections must be an object {id: {source, target, config}}")
    connections: list[Connection] = []
    for cid, c in raw_conns.items():
        fieldname = f"connections.{cid}"
        if not isinstance(c, dict):
            raise bad(fieldname, "a connection must be an object {source, target, config}")
        for key in c:
            if key not in CONNECTION_KEYS:
                raise bad(f"{fieldname}.{key}", f'unknown key "{key}"')
        for end in ("source", "target"):
            if c.get(end) not in tasks:
                raise bad(f"{fieldname}.{end}", f"connection {end} {c.get(end)!r} is not a task of this flow",
                          c.get(end) if isinstance(c.get(end), str) else None)
        cfg = c.get("config") or {}
        if not isinstance(cfg, dict):
            raise bad(f"{fieldname}.config", "config must be an object")
        cond_raw = cfg.get("condition") or {"type": "success"}
        if not isinstance(cond_raw, dict) or cond_raw.get("type") not in ("success", "error", "matches"):
            raise bad(f"{fieldname}.config.condition", 'condition type must be "success", "error" or "matches"')
        if cond_raw["type"] == "matches" and (not isinstance(cond_raw.get("path"), str) or not cond_raw["path"]):
            raise bad(f"{fieldname}.config.condition.path", "a matches condition needs a path")
        cond = Condition(cond_raw["type"], cond_raw.get("path") or "", cond_raw.get("value"))
        max_retries = cfg.get("max_retries", 0)
        if not _int(max_retries, 0, 100):
            raise bad(f"{fieldname}.config.max_retries", "max_retries must be 0 to 100")
        connections.append(Connection(cid, c["source"], c["target"], cond, max_retries))

    # -- start / responding task, cycles ------------------------------------------------
    start = raw.get("start_task")
    if start is None and tasks:
        raise bad("start_task", "start_task is required (the id of the first task)")
    if start is not None and start not in tasks:
        raise bad("start_task", f"start task {start!r} is not a task of this flow", start if isinstance(start, str) else None)
    responding = raw.get("responding_task")
    if responding is not None and responding not in tasks:
        raise bad("responding_task", f"responding task {responding!r} is not a task of this flow",
                  responding if isinstance(responding, str) else None)
    role = raw.get("role")
    if role is not None and (not isinstance(role, str) or not role):
        raise bad("role", "role must name a role")
    cycle = _find_cycle(tasks, [c for c in connections if not c.retry_loop])
    if cycle:
        raise bad("connections", "the connections form a cycle: " + " → ".join(cycle)
                  + ' (only an "error" connection with max_retries may lead back)', cycle[0])
    return Flow(name, TriggerSpec(ttype, tconfig), tasks, connections, start, responding, role, doc)


def _check_templates(value: Any, path: str, ids: list[str], bad: Callable[[str, str], FlowInvalid]) -> None:
    if isinstance(value, str):
        if templates.has_markup(value):
            try:
                templates.check(value, ids)
            except templates.TemplateProblem as exc:
                raise bad(path, str(exc)) from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_templates(v, f"{path}.{k}", ids, bad)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_templates(v, f"{path}[{i}]", ids, bad)


def _find_cycle(tasks: dict[str, TaskSpec], conns: list[Connection]) -> list[str] | None:
    graph: dict[str, list[str]] = {t: [] for t in tasks}
    for c in conns:
        graph[c.source].append(c.target)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for t in tasks:
        if t not in state:
            found = visit(t)
            if found:
                return found
    return None


def parse_flows(raw: Any, lookups: Lookups) -> dict[str, Flow]:
    if not isinstance(raw, dict):
        raise ConfigInvalid([{"path": "flows.flows", "error": "flows must be an object {name: flow}"}])
    lookups.flows = set(raw)
    return {name: parse_flow(name, spec, lookups) for name, spec in raw.items()}
