"""Check-in statistics across month and year ends (pure function, explicit "today")."""

from __future__ import annotations

from datetime import date, timedelta

from nodebase.apps.studio.streaks import stats


def days(start: date, n: int) -> list[date]:
    return [start + timedelta(days=i) for i in range(n)]


def test_streak_runs_across_a_year_end() -> None:
    s = stats(days(date(2026, 12, 29), 5), today=date(2027, 1, 2))  # 29, 30, 31, 1, 2
    assert (s.total, s.streak, s.longest_streak, s.last_date) == (5, 5, 5, date(2027, 1, 2))
    assert s.month == [date(2027, 1, 1), date(2027, 1, 2)]


def test_streak_runs_across_february_in_a_leap_year_and_not() -> None:
    assert stats(days(date(2028, 2, 27), 4), today=date(2028, 3, 1)).streak == 4  # 27, 28, 29, 1
    assert stats([date(2027, 2, 28), date(2027, 3, 1)], today=date(2027, 3, 1)).streak == 2
    # 2027 has no Feb 29: Feb 27 and Mar 1 are two days apart, not consecutive
    assert stats([date(2027, 2, 27), date(2027, 3, 1)], today=date(2027, 3, 1)).streak == 1


def test_streak_still_counts_until_today_ends_and_breaks_after_a_missed_day() -> None:
    checked = days(date(2026, 4, 28), 4)  # Apr 28 .. May 1
    assert stats(checked, today=date(2026, 5, 1)).streak == 4
    assert stats(checked, today=date(2026, 5, 2)).streak == 4  # not yet checked in today
    assert stats(checked, today=date(2026, 5, 3)).streak == 0  # May 2 missed
    assert stats(checked, today=date(2026, 5, 3)).longest_streak == 4


def test_longest_streak_is_the_longest_run_not_the_latest() -> None:
    checked = days(date(2026, 1, 1), 6) + days(date(2026, 1, 10), 2)
    s = stats(checked, today=date(2026, 1, 11))
    assert (s.streak, s.longest_streak, s.total) == (2, 6, 8)
    assert s.month == checked


def test_no_check_ins() -> None:
    s = stats([], today=date(2026, 6, 1))
    assert (s.total, s.streak, s.longest_streak, s.last_date, s.month) == (0, 0, 0, None, [])
