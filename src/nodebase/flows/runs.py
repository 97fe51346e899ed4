"""Run vocabulary: statuses (one closed enum each, with the terminal set), the retry policy
as a value, and the wire shape of a run (``protocols/flows.md`` §Runs)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"


class TaskStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"


TERMINAL = frozenset({RunStatus.SUCCESS, RunStatus.FAILED})


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` further attempts after the first, waiting ``backoff * coefficient**n`` s."""

    retries: int = 0
    backoff: float = 1.0
    coefficient: float = 4.0
    maximum: float = 3600.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.maximum, self.backoff * self.coefficient ** (attempt - 1)))

    @property
    def attempts(self) -> int:
        return self.retries + 1


NO_RETRY = RetryPolicy()
#: webhooks: attempts after about 1 s, 4 s, 16 s, 64 s, 256 s
WEBHOOK_RETRY = RetryPolicy(retries=5, backoff=1.0)


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Run:
    """One stored run (a row of ``__nodebase_flow_runs``)."""

    id: str
    flow: str
    trigger: str
    status: RunStatus
    started_at: float
    finished_at: float | None
    input: Any
    output: Any
    error: Any
    tasks: list[dict[str, Any]]
    state: dict[str, Any]
    definition: dict[str, Any]
    role: str | None = None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "flow": self.flow,
            "trigger": self.trigger,
            "status": str(self.status),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "duration_ms": None if self.finished_at is None
            else round((self.finished_at - self.started_at) * 1000, 3),
            "input": self.input,
            "output": self.output,
            "tasks": [_task_wire(t) for t in self.tasks],
        }
        if self.error is not None:
            out["error"] = self.error
        return out


def _task_wire(t: dict[str, Any]) -> dict[str, Any]:
    out = {"task": t["task"], "status": t["status"], "started_at": iso(t.get("started_at")),
           "duration_ms": t.get("duration_ms"), "attempts": t.get("attempts", 1)}
    if "output" in t:
        out["output"] = t["output"]
    if t.get("error") is not None:
        out["error"] = t["error"]
    return out
