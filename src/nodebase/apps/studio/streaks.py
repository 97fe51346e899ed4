"""Daily check-in statistics from the set of UTC dates a user checked in (pure functions)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Stats:
    total: int
    #: consecutive days ending today, or yesterday if today has no check-in yet
    streak: int
    longest_streak: int
    last_date: date | None
    #: this month's check-in dates, oldest first
    month: list[date]


def _run_ending(days: set[date], end: date) -> int:
    n = 0
    while end - timedelta(days=n) in days:
        n += 1
    return n


def stats(dates: Iterable[date], today: date) -> Stats:
    days = set(dates)
    if not days:
        return Stats(0, 0, 0, None, [])
    ordered = sorted(days)
    longest = run = 0
    previous: date | None = None
    for d in ordered:
        run = run + 1 if previous is not None and d - previous == timedelta(days=1) else 1
        longest = max(longest, run)
        previous = d
    streak = _run_ending(days, today) or _run_ending(days, today - timedelta(days=1))
    month = [d for d in ordered if (d.year, d.month) == (today.year, today.month)]
    return Stats(len(days), streak, longest, ordered[-1], month)
