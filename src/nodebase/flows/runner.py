"""Executes runs: claims a run's lease, drives its execution, checkpoints after each step.

A run is first written (``start``: manual, HTTP and schedule runs by this node, event runs
inside the data change's transaction), then executed by whichever node claims it. A node
renews the leases of the runs it executes; when a node dies its leases expire and the poll
loop of another node (or of the restarted one) claims the runs and carries on from the last
checkpoint. A task's retry after a backoff parks the run (lease released, ``wake_at`` set).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nodebase.flows.checkpoints import CheckpointWriter
from nodebase.flows.definition import Flow, FlowInvalid, Lookups, parse_flow
from nodebase.flows.execution import DONE, Execution, LeaseLost, new_state
from nodebase.flows.repository import RunRepository
from nodebase.flows.runs import Run, RunStatus
from nodebase.flows.tasks.base import TaskFailed
from nodebase.kernel import metrics
from nodebase.kernel.caller import Caller
from nodebase.kernel.database import Executor

if TYPE_CHECKING:
    from nodebase.data.service import DataService
    from nodebase.flows.tasks.base import TaskContext
    from nodebase.kernel.secrets import Secrets

log = logging.getLogger("nodebase.flows")

MAX_CONCURRENT = 32


@dataclass
class InlineResult:
    success: bool
    output: Any
    errors: list[Any]


#: a webhook secret written as ``$secret:NAME`` names a secret of the node's provider
SECRET_REF = "$secret:"


class Services:
    """What tasks reach: the Data service, the outbound switch, other flows, subflow runs."""

    def __init__(self, data: DataService, allow_private: bool, flows: dict[str, Flow]) -> None:
        self.data = data
        self.allow_private = allow_private
        self.flows = flows
        #: the node's secret provider: a webhook ``secret`` of ``$secret:NAME`` is read from it
        self.secrets: Secrets | None = None

    def secret(self, value: str) -> str:
        """``value`` itself, or for ``$secret:NAME`` the provider's secret of that name."""
        if not value.startswith(SECRET_REF):
            return value
        name = value[len(SECRET_REF):]
        found = self.secrets.text(name) if self.secrets is not None else None
        if not found:
            raise TaskFailed(f"the secret {name} is not set in the node's secret provider", type="webhook")
        return found

    def flow(self, name: str) -> Flow | None:
        return self.flows.get(name)

    def caller_for(self, ctx: TaskContext) -> Caller:
        role = ctx.flow.role or ctx.meta.get("role")
        depth = {"flow_depth": ctx.depth + 1, "flow": ctx.flow.name}
        if not role:
            return Caller(via="anonymous", attrs=depth)
        return Caller(role=role, via="flow", attrs=depth)

    async def run_inline(self, flow: Flow, input: Any, ctx: TaskContext) -> InlineResult:
        state = new_state(flow, dict(ctx.meta), ctx.depth + 1)
        ex = Execution(ctx.run_id, flow, input, state, [], self)
        await ex.drive()
        return InlineResult(ex.state["failed"] is None, ex.output, ex.errors)


class Runner:
    def __init__(self, repo: RunRepository, services: Services, owner: str) -> None:
        self.repo = repo
        #: checkpoints of the runs executing here, committed in batches
        self.checkpoints = CheckpointWriter(repo)
        self.services = services
        self.owner = owner
        self.lease_seconds = 30.0
        self.poll_interval = 0.5
        self.enabled = True
        self._active: dict[str, asyncio.Task[None]] = {}
        self._waiters: dict[str, list[asyncio.Future[Run]]] = {}
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._sem = asyncio.Semaphore(MAX_CONCURRENT)
        self._timers: list[asyncio.TimerHandle] = []

    # -- creating runs ---------------------------------------------------------------------
    def new_run(self, flow: Flow, input: Any, trigger: str, meta: dict[str, Any],
                depth: int = 0) -> Run:
        now = time.time()
        return Run(id=str(uuid.uuid4()), flow=flow.name, trigger=trigger, status=RunStatus.RUNNING,
                   started_at=now, finished_at=None, input=input, output=None, error=None, tasks=[],
                   state=new_state(flow, meta, depth), definition=flow.doc, role=flow.role)

    async def enqueue(self, run: Run, *, ex: Executor | None = None, key: str | None = None) -> bool:
        """Store a run claimed by this node, to be executed after ``ex`` commits (:meth:`spawn`).
        If this node dies first, the lease expires and any node takes the run over."""
        return await self.repo.insert(ex, run, key=key, owner=self.owner if self.enabled else None,
                                      lease_until=time.time() + self.lease_seconds if self.enabled else None,
                                      wake_at=run.started_at)

    def spawn(self, runs: list[Run]) -> None:
        """Execute runs this node stored with :meth:`enqueue` (their transaction committed)."""
        if not self.enabled:
            return
        for run in runs:
            self._spawn(run.id, run)

    async def start_here(self, run: Run, *, key: str | None = None) -> bool:
        """Store a run already claimed by this node and execute it in the background."""
        ok = await self.repo.insert(None, run, key=key, owner=self.owner,
                                    lease_until=time.time() + self.lease_seconds, wake_at=run.started_at)
        if ok:
            self._spawn(run.id, run)
        return ok

    def wake(self) -> None:
        self._wake.set()

    async def wait(self, run_id: str, timeout: float) -> Run | None:
        """The finished run, or None if it did not finish within ``timeout`` seconds."""
        fut: asyncio.Future[Run] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(run_id, []).append(fut)
        deadline = time.monotonic() + timeout
        try:
            while True:
                run = await self.repo.get(run_id)
                if run is not None and run.status != RunStatus.RUNNING:
                    return run
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                # finished here: the future; finished on another node: the next look
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(asyncio.shield(fut), min(left, 1.0))
        finally:
            waiters = self._waiters.get(run_id, [])
            if fut in waiters:
                waiters.remove(fut)
            if not waiters:
                self._waiters.pop(run_id, None)

    # -- executing -------------------------------------------------------------------------
    def _spawn(self, run_id: str, run: Run | None = None) -> None:
        if run_id in self._active:
            return
        task = asyncio.get_running_loop().create_task(self._execute(run_id, run))
        self._active[run_id] = task
        task.add_done_callback(lambda _t: self._active.pop(run_id, None))

    async def _execute(self, run_id: str, run: Run | None) -> None:
        async with self._sem:
            try:
                await self._execute_claimed(run_id, run)
            except LeaseLost:
                log.warning("flow run %s: another node took it over", run_id)
            except Exception:
                log.exception("flow run %s: the runner failed", run_id)

    async def _execute_claimed(self, run_id: str, run: Run | None) -> None:
        if run is None:
            run = await self.repo.get(run_id)
            if run is None or run.status != RunStatus.RUNNING:
                return
        current = self.services.flows.get(run.flow)
        try:
            if current is not None and (current.doc is run.definition or current.doc == run.definition):
                flow: Flow | None = current  # the definition in force: already parsed
            else:
                flow = parse_flow(run.flow, run.definition,
                                  Lookups(set(self.services.flows) | {run.flow}, _AnyPermission()))
        except FlowInvalid as exc:
            run.state["failed"] = {"type": "definition", "message": exc.message}
            flow = None
        if flow is None:
            await self._finish(run, None)
            return
        ex = Execution(run.id, flow, run.input, run.state, run.tasks, self.services)

        async def checkpoint() -> bool:
            return await self.checkpoints.store(run, self.owner, lease_until=time.time() + self.lease_seconds,
                                                wake_at=time.time())

        outcome = await ex.drive(checkpoint)
        if outcome == DONE:
            await self._finish(run, ex)
            return
        wake_at = min(run.state["retry_at"].values())
        if not await self.checkpoints.store(run, self.owner, lease_until=None, wake_at=wake_at, release=True):
            raise LeaseLost(run.id)
        handle = asyncio.get_running_loop().call_later(max(0.0, wake_at - time.time()) + 0.01, self.wake)
        self._timers.append(handle)

    async def _finish(self, run: Run, ex: Execution | None) -> None:
        failed = run.state.get("failed")
        run.status = RunStatus.FAILED if failed is not None else RunStatus.SUCCESS
        run.error = failed
        run.output = ex.output if ex is not None else None
        run.finished_at = time.time()
        if not await self.checkpoints.store(run, self.owner, lease_until=None, wake_at=run.finished_at,
                                            release=True):
            raise LeaseLost(run.id)
        metrics.FLOW_RUNS.labels("failed" if failed is not None else "success").inc()
        if failed is not None:
            log.info("flow %s run %s failed: %s", run.flow, run.id, failed.get("message"))
        for fut in self._waiters.get(run.id, []):
            if not fut.done():
                fut.set_result(run)

    # -- the poll loop --------------------------------------------------------------------
    async def start(self) -> None:
        if self._loop_task is None and self.enabled:
            self._loop_task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        for h in self._timers:
            h.cancel()
        self._timers.clear()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        active = list(self._active.values())
        for t in active:
            t.cancel()
        for t in active:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self.checkpoints.drain()

    async def _loop(self) -> None:
        next_renew = 0.0
        while True:
            try:
                now = time.time()
                if now >= next_renew:
                    await self.repo.renew(list(self._active), self.owner, now + self.lease_seconds)
                    next_renew = now + self.lease_seconds / 3
                free = MAX_CONCURRENT - len(self._active)
                if free > 0:
                    for run_id in await self.repo.due(now, free):
                        if run_id in self._active:
                            continue
                        if await self.repo.claim(run_id, self.owner, now, now + self.lease_seconds):
                            self._spawn(run_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("flows: the run poll failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)


class _AnyPermission:
    """A stored run is resumed with the definition it started with: permissions were checked."""

    def __contains__(self, name: object) -> bool:
        return True
