"""One execution of a flow's graph (bknd's ``Execution``), as a state that can be stored.

The queue starts with the start task; every task in the queue runs concurrently, then the
connections whose condition holds decide what runs next. A task joins once all its forward
in-tasks have finished (or, if some branch was not taken, once nothing else can run). An
``error`` connection with ``max_retries`` leads back to an earlier task (bknd's retry loop);
a task's own ``retries`` repeat it after a backoff, which parks a durable run until then.

The state is plain JSON: the runner stores it after every step and another node can carry
on from it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from nodebase.flows.definition import Flow
from nodebase.flows.runs import TaskStatus
from nodebase.flows.tasks import TASK_TYPES, TaskContext, TaskFailed
from nodebase.flows.templates import TemplateProblem, render_value
from nodebase.kernel import jsonutil

log = logging.getLogger("nodebase.flows")

PARKED = "parked"
DONE = "done"


def new_state(flow: Flow, meta: dict[str, Any], depth: int) -> dict[str, Any]:
    return {"queue": [flow.start_task] if flow.start_task else [], "results": {}, "fired": [],
            "loops": {}, "attempts": {}, "retry_at": {}, "meta": meta, "depth": depth,
            "failed": None, "responded": False}


def _jsonable(value: Any) -> Any:
    try:
        return jsonutil.loads(jsonutil.dumps(value))
    except Exception:
        return repr(value)


class Execution:
    """Drives ``state`` forward; ``records`` collects one entry per task attempt."""

    def __init__(self, run_id: str, flow: Flow, input: Any, state: dict[str, Any],
                 records: list[dict[str, Any]], services: Any) -> None:
        self.run_id = run_id
        self.flow = flow
        self.input = input
        self.state = state
        self.records = records
        self.services = services

    # -- what templates see ---------------------------------------------------------------
    def scope(self) -> dict[str, Any]:
        results = self.state["results"]
        tasks = {tid: {"output": r.get("output"), "error": r.get("error"), "success": r["success"]}
                 for tid, r in results.items()}
        scope: dict[str, Any] = {tid: v for tid, v in tasks.items() if tid.isidentifier()}
        scope.update(input=self.input, tasks=tasks,
                     flow={"output": self.input, "params": self.input, "success": True},
                     run={"id": self.run_id, "flow": self.flow.name, **self.state["meta"]})
        return scope

    def outputs(self) -> dict[str, Any]:
        return {tid: r.get("output") for tid, r in self.state["results"].items()}

    @property
    def output(self) -> Any:
        rt = self.flow.response_task
        result = self.state["results"].get(rt) if rt else None
        return None if result is None else result.get("output")

    @property
    def errors(self) -> list[Any]:
        failed = self.state["failed"]
        return [] if failed is None else [failed]

    # -- driving --------------------------------------------------------------------------
    async def drive(self, checkpoint: Callable[[], Awaitable[bool]] | None = None) -> str:
        """Run until done (→ ``DONE``) or, with ``checkpoint``, until a retry waits (→ ``PARKED``)."""
        st = self.state
        while True:
            now = time.time()
            ready = [t for t in st["queue"] if st["retry_at"].get(t, 0) <= now]
            if not ready:
                if st["queue"]:
                    if checkpoint is not None:
                        return PARKED
                    await asyncio.sleep(max(0.0, min(st["retry_at"].values()) - now))
                    continue
                waiting = [t for t in st["fired"] if t not in st["results"]]
                st["fired"] = []
                if waiting and not st["responded"]:
                    st["queue"].extend(waiting)
                    continue
                return DONE
            if len(ready) == 1:  # the usual case: no task object for one attempt
                outcomes = [await self._attempt(ready[0])]
            else:
                outcomes = await asyncio.gather(*(self._attempt(t) for t in ready))
            for tid, outcome in zip(ready, outcomes, strict=True):
                self._settle(tid, outcome)
            self._promote()
            if not st["queue"] and not st["fired"]:
                return DONE  # the caller stores the finished run: no checkpoint in between
            if checkpoint is not None and not await checkpoint():
                raise LeaseLost(self.run_id)

    def _promote(self) -> None:
        st = self.state
        for g in list(st["fired"]):
            if all(src in st["results"] for src in self.flow.forward_in(g)):
                st["fired"].remove(g)
                if g not in st["queue"] and g not in st["results"]:
                    st["queue"].append(g)

    async def _attempt(self, tid: str) -> dict[str, Any]:
        spec = self.flow.tasks[tid]
        kind = TASK_TYPES[spec.type]
        attempt = int(self.state["attempts"].get(tid, 0)) + 1
        self.state["attempts"][tid] = attempt
        started = time.time()
        t0 = time.perf_counter()
        ctx = TaskContext(run_id=self.run_id, flow=self.flow, task_id=tid, attempt=attempt,
                          input=self.input, scope=self.scope(), meta=self.state["meta"],
                          depth=int(self.state["depth"]), services=self.services,
                          outputs=self.outputs())
        outcome: dict[str, Any] = {"started_at": started, "attempt": attempt}
        try:
            params = {k: (v if k in kind.raw_params else render_value(v, ctx.scope))
                      for k, v in spec.params.items()}
            outcome.update(success=True, output=_jsonable(await kind.run(params, ctx)))
        except TaskFailed as exc:
            outcome.update(success=False, error=_jsonable(exc.error))
        except TemplateProblem as exc:
            outcome.update(success=False, error={"type": "template", "message": str(exc)})
        except Exception as exc:
            log.exception("flow %s task %s: unexpected error", self.flow.name, tid)
            outcome.update(success=False, error={"type": "internal", "message": type(exc).__name__})
        outcome["duration_ms"] = round((time.perf_counter() - t0) * 1000, 3)
        return outcome

    def _settle(self, tid: str, o: dict[str, Any]) -> None:
        st = self.state
        spec = self.flow.tasks[tid]
        record: dict[str, Any] = {"task": tid, "status": str(TaskStatus.SUCCESS if o["success"] else TaskStatus.FAILED),
                                  "started_at": o["started_at"], "duration_ms": o["duration_ms"],
                                  "attempts": o["attempt"]}
        if o["success"]:
            record["output"] = o["output"]
        else:
            record["error"] = o["error"]
        self.records.append(record)
        if not o["success"] and o["attempt"] < spec.retry.attempts:
            st["retry_at"][tid] = time.time() + spec.retry.delay(o["attempt"])
            return
        st["queue"] = [t for t in st["queue"] if t != tid]
        st["attempts"].pop(tid, None)
        st["retry_at"].pop(tid, None)
        st["results"][tid] = {"success": o["success"], "output": o.get("output"), "error": o.get("error")}
        if tid == self.flow.responding_task:
            st["responded"] = True
            st["queue"], st["fired"] = [], []
            if not o["success"] and st["failed"] is None:
                st["failed"] = {"task": tid, **o["error"]}
            return
        fired = [c for c in self.flow.out(tid) if c.condition.met(o["success"], o.get("output"))]
        if not o["success"] and not fired and st["failed"] is None:
            st["failed"] = {"task": tid, **o["error"]}
        for c in fired:
            if c.retry_loop:
                n = int(st["loops"].get(c.id, 0)) + 1
                st["loops"][c.id] = n
                if n > c.max_retries:
                    if st["failed"] is None:
                        st["failed"] = {"task": c.target, "type": "max_retries",
                                        "message": f'Task "{c.target}" reached max retries ({c.max_retries})'}
                    continue
                for d in self.flow.descendants(c.target):
                    st["results"].pop(d, None)
                if c.target not in st["queue"]:
                    st["queue"].append(c.target)
                continue
            if c.target in st["results"] or c.target in st["queue"] or c.target in st["fired"]:
                continue
            st["fired"].append(c.target)


class LeaseLost(Exception):
    """Another node took the run over (this node's lease had expired)."""
