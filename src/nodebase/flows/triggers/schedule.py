"""``schedule``: ``{cron, timezone?}`` or ``{interval}``; ticks are claimed in the database
(:mod:`nodebase.flows.scheduler`) so each runs once across all nodes."""

from __future__ import annotations

from typing import Any

from nodebase.flows.cron import ScheduleProblem, parse_schedule
from nodebase.flows.triggers.base import Problem, Trigger


class ScheduleTrigger(Trigger):
    type = "schedule"
    keys = frozenset({"cron", "interval", "timezone", "mode"})

    def normalise(self, config: dict[str, Any], problems: list[Problem], ctx: Any) -> dict[str, Any]:
        out = super().normalise(config, problems, ctx)
        try:
            parse_schedule(config)
        except ScheduleProblem as exc:
            problems.append((exc.field, str(exc)))
        if "cron" in out:
            out.setdefault("timezone", "UTC")
        return out
