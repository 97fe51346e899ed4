"""Schedules as pure functions: a cron expression (croniter) or an interval, in a time zone.

Tick times are absolute (cron fields in the zone's wall clock; intervals counted from the
Unix epoch), so every node computes the same ticks and the database claim of a tick is what
makes it run once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ScheduleProblem(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Schedule:
    cron: str | None
    interval: float | None
    timezone: str

    def next_after(self, ts: float) -> float:
        """The first tick strictly after ``ts`` (Unix seconds)."""
        if self.interval is not None:
            return (math.floor(ts / self.interval) + 1) * self.interval
        from croniter import croniter

        start = datetime.fromtimestamp(ts, ZoneInfo(self.timezone))
        nxt: datetime = croniter(self.cron, start).get_next(datetime)
        return nxt.timestamp()

    def label(self, tick: float) -> str:
        """The tick as ISO 8601 in the schedule's zone (the run's ``scheduled_at``)."""
        return datetime.fromtimestamp(tick, ZoneInfo(self.timezone)).isoformat()


def parse_schedule(config: dict[str, object]) -> Schedule:
    cron, interval, tz = config.get("cron"), config.get("interval"), config.get("timezone", "UTC")
    if not isinstance(tz, str):
        raise ScheduleProblem("trigger.config.timezone", "timezone must be an IANA name such as Europe/Berlin")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleProblem("trigger.config.timezone", f'unknown time zone "{tz}"') from None
    if (cron is None) == (interval is None):
        raise ScheduleProblem("trigger.config", "a schedule needs exactly one of cron or interval")
    if interval is not None:
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval < 1:
            raise ScheduleProblem("trigger.config.interval", "interval must be a number of seconds ≥ 1")
        return Schedule(None, float(interval), tz)
    from croniter import croniter

    if not isinstance(cron, str) or len(cron.split()) != 5 or not croniter.is_valid(cron):
        raise ScheduleProblem("trigger.config.cron",
                              f'bad cron expression {cron!r} (five fields: minute hour day month weekday)')
    return Schedule(cron, None, tz)


def utc_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()
