"""Schedule ticks: each node computes the same tick times; the first to insert the tick's run
(unique ``run_key`` ``schedule:<flow>:<tick>``) runs it, so a tick runs once across nodes.

Ticks missed while no node was running are not made up. The clock can be replaced for tests:
``NODEBASE_FLOWS_CLOCK_FILE`` names a file holding the current time in Unix seconds (a test
setting: refused unless ``NODEBASE_TESTING=true``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Protocol

from nodebase.flows.cron import Schedule, parse_schedule
from nodebase.flows.definition import Flow
from nodebase.flows.runner import Runner
from nodebase.kernel.testing import only_in_tests

log = logging.getLogger("nodebase.flows")


class Clock(Protocol):
    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class FileClock:
    """Reads the time from a file (tests move it forward); a missing file means real time."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def now(self) -> float:
        try:
            return float(self.path.read_text().strip())
        except (OSError, ValueError):
            return time.time()


def clock_from_env() -> tuple[Clock, float]:
    """The clock and how often to look at it."""
    path = only_in_tests("NODEBASE_FLOWS_CLOCK_FILE")  # refused without NODEBASE_TESTING=true
    if path:
        return FileClock(Path(path)), 0.05
    return SystemClock(), 0.25


class Scheduler:
    def __init__(self, runner: Runner, clock: Clock | None = None, interval: float | None = None) -> None:
        env_clock, env_interval = clock_from_env()
        self.runner = runner
        self.clock = clock or env_clock
        self.interval = interval or env_interval
        self._flows: dict[str, tuple[Flow, Schedule]] = {}
        self._next: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    def set_flows(self, flows: dict[str, Flow]) -> None:
        now = self.clock.now()
        old = self._flows
        self._flows = {}
        nxt: dict[str, float] = {}
        for name, flow in flows.items():
            if flow.trigger.type != "schedule":
                continue
            schedule = parse_schedule(flow.trigger.config)
            self._flows[name] = (flow, schedule)
            if name in old and old[name][1] == schedule and name in self._next:
                nxt[name] = self._next[name]
            else:
                nxt[name] = schedule.next_after(now)
        self._next = nxt

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def tick(self) -> None:
        now = self.clock.now()
        for name, due in list(self._next.items()):
            if due > now or name not in self._flows:
                continue
            flow, schedule = self._flows[name]
            tick = due
            while (following := schedule.next_after(tick)) <= now:
                tick = following
            self._next[name] = schedule.next_after(tick)
            scheduled_at = schedule.label(tick)
            run = self.runner.new_run(flow, {"scheduled_at": scheduled_at}, "schedule",
                                      {"scheduled_at": scheduled_at})
            if await self.runner.start_here(run, key=f"schedule:{name}:{tick:.3f}"):
                log.info("flows: schedule tick %s of %s claimed by this node", scheduled_at, name)

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("flows: the scheduler failed")
            await asyncio.sleep(self.interval)
