"""FlowsService: the flows in force and the use cases on them (transport-free).

Holds the parsed definitions, and starts runs for the manual and HTTP triggers; the
scheduler and the event outbox start theirs. Reads runs back for the run log routes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from nodebase.flows.definition import Flow
from nodebase.flows.outbox import EventOutbox
from nodebase.flows.repository import RunRepository
from nodebase.flows.runner import Runner, Services
from nodebase.flows.runs import Run, RunStatus, iso
from nodebase.flows.scheduler import Scheduler
from nodebase.flows.triggers.http import compile_path
from nodebase.kernel.errors import BadRequest, NotFound

MAX_LIMIT = 500


@dataclass(frozen=True)
class HttpRoute:
    flow: Flow
    method: str
    pattern: re.Pattern[str]


class FlowsService:
    def __init__(self, repo: RunRepository, runner: Runner, services: Services, scheduler: Scheduler,
                 outbox: EventOutbox) -> None:
        self.repo = repo
        self.runner = runner
        self.services = services
        self.scheduler = scheduler
        self.outbox = outbox
        self.flows: dict[str, Flow] = {}
        self.http: list[HttpRoute] = []

    def install(self, flows: dict[str, Flow]) -> None:
        self.flows = flows
        self.services.flows = flows
        self.http = [HttpRoute(f, f.trigger.config["method"], compile_path(f.trigger.config["path"]))
                     for f in flows.values() if f.trigger.type == "http"]
        self.scheduler.set_flows(flows)
        self.outbox.set_flows(flows)

    def flow(self, name: str) -> Flow:
        flow = self.flows.get(name)
        if flow is None:
            raise NotFound(f'Flow "{name}" not found', context={"flow": name, "valid": sorted(self.flows)})
        return flow

    def infos(self) -> dict[str, Any]:
        return {name: f.info() for name, f in self.flows.items()}

    # -- starting runs --------------------------------------------------------------------
    async def run(self, flow: Flow, input: Any, trigger: str, meta: dict[str, Any], *,
                  wait: float | None) -> tuple[Run, Run | None]:
        """Start a run here; with ``wait``, also wait (up to that many seconds) for its end."""
        run = self.runner.new_run(flow, input, trigger, meta)
        await self.runner.start_here(run)
        if wait is None:
            return run, None
        return run, await self.runner.wait(run.id, wait)

    def match_http(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        for route in self.http:
            if route.method == method:
                m = route.pattern.match(path)
                if m:
                    return route, m.groupdict()
        return None

    def path_exists(self, path: str) -> bool:
        return any(r.pattern.match(path) for r in self.http)

    # -- reading runs ---------------------------------------------------------------------
    async def list_runs(self, *, flow: str | None, status: str | None, limit: Any, offset: Any
                        ) -> dict[str, Any]:
        if status is not None and status not in {s.value for s in RunStatus}:
            raise BadRequest(f"status must be one of {', '.join(s.value for s in RunStatus)}",
                             context={"status": status})
        lim, off = _int(limit, "limit", 20, 1, MAX_LIMIT), _int(offset, "offset", 0, 0, 10**9)
        runs, total = await self.repo.list_runs(flow=flow or None, status=status, limit=lim, offset=off)
        return {"data": [r.to_wire() for r in runs], "meta": {"total": total, "limit": lim, "offset": off}}

    async def get_run(self, run_id: str) -> Run:
        run = await self.repo.get(run_id)
        if run is None:
            raise NotFound(f'Run "{run_id}" not found', context={"run": run_id})
        return run


def _int(value: Any, name: str, default: int, lo: int, hi: int) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be a whole number", context={name: value}) from None
    if not lo <= n <= hi:
        raise BadRequest(f"{name} must be {lo} to {hi}", context={name: value})
    return n


def bknd_run_answer(flow: Flow, run: Run) -> dict[str, Any]:
    """bknd's ``/flow/:name/run`` answer, from a finished run."""
    logs = []
    for t in run.tasks:
        start = t.get("started_at")
        dur = t.get("duration_ms") or 0
        entry: dict[str, Any] = {"task": t["task"], "success": t["status"] == "success",
                                 "start": iso(start), "end": iso(start + dur / 1000 if start else None),
                                 "time": dur, "attempts": t.get("attempts", 1), "output": t.get("output")}
        if t.get("error") is not None:
            entry["error"] = t["error"]
        logs.append(entry)
    time_ms = 0.0 if run.finished_at is None else round((run.finished_at - run.started_at) * 1000, 3)
    return {"success": run.status == RunStatus.SUCCESS, "time": time_ms,
            "errors": [] if run.error is None else [run.error], "response": run.output,
            "flow": flow.info(), "logs": logs, "run_id": run.id}
