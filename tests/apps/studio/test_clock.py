"""Check-in streaks over HTTP across a month end, a year end and a leap day: the server's
clock is moved by the test through NODEBASE_STUDIO_CLOCK_FILE (a test setting, refused
without NODEBASE_TESTING=true)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.apps.studio.conftest import STUDIO_ENV, register
from tests.nodeserver import NodeServer


@pytest.fixture(scope="module")
def clocked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeServer, Path]]:
    tmp = tmp_path_factory.mktemp("studio-clock")
    clock = tmp / "clock.txt"
    node = NodeServer(tmp, env={**STUDIO_ENV, "NODEBASE_STUDIO_CLOCK_FILE": str(clock),
                                "NODEBASE_TESTING": "true"}).start(timeout=40)
    try:
        yield node, clock
    finally:
        node.stop()
        errors = node.server_errors()
        assert not errors, f"the server logged unhandled errors:\n{errors}"


def check_in(c: httpx.Client, clock: Path, at: str) -> dict[str, Any]:
    clock.write_text(at)
    r = c.post("/api/user/check-in")
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def stats_at(c: httpx.Client, clock: Path, at: str) -> dict[str, Any]:
    clock.write_text(at)
    r = c.get("/api/user/check-in/stats")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def test_streaks_across_a_month_end_a_year_end_and_a_leap_day(clocked: tuple[NodeServer, Path]) -> None:
    node, clock = clocked
    with register(node) as c:
        # month end: 30 and 31 January, then 1 February, at the edges of the UTC days
        assert check_in(c, clock, "2027-01-30T23:59:00Z") == {"date": "2027-01-30", "streak": 1, "total": 1}
        clock.write_text("2027-01-30T23:59:59Z")
        assert c.post("/api/user/check-in").status_code == 409  # the same UTC day
        assert check_in(c, clock, "2027-01-31T00:00:01Z") == {"date": "2027-01-31", "streak": 2, "total": 2}
        # a time with an offset is dated in UTC: 1 February 00:30 in Paris is 31 January 23:30 UTC
        clock.write_text("2027-02-01T00:30:00+01:00")
        assert c.post("/api/user/check-in").status_code == 409
        assert check_in(c, clock, "2027-02-01T12:00:00Z") == {"date": "2027-02-01", "streak": 3, "total": 3}
        assert stats_at(c, clock, "2027-02-01T18:00:00Z") == {
            "total": 3, "streak": 3, "longest_streak": 3, "last_date": "2027-02-01", "month": ["2027-02-01"]}
        # the next day without a check-in yet the streak still stands; the day after it is broken
        assert stats_at(c, clock, "2027-02-02T23:59:59Z")["streak"] == 3
        assert stats_at(c, clock, "2027-02-03T00:00:00Z")["streak"] == 0
        # year end: 30 and 31 December, 1 January
        assert check_in(c, clock, "2027-12-30T08:00:00Z")["streak"] == 1
        assert check_in(c, clock, "2027-12-31T23:59:59Z")["streak"] == 2
        assert check_in(c, clock, "2028-01-01T00:00:00Z") == {"date": "2028-01-01", "streak": 3, "total": 6}
        assert stats_at(c, clock, "2028-01-01T10:00:00Z") == {
            "total": 6, "streak": 3, "longest_streak": 3, "last_date": "2028-01-01", "month": ["2028-01-01"]}
        # a leap year's February: 28, 29, 1 March, 2 March
        for day, streak in (("2028-02-28", 1), ("2028-02-29", 2), ("2028-03-01", 3), ("2028-03-02", 4)):
            assert check_in(c, clock, f"{day}T12:00:00Z") == {"date": day, "streak": streak,
                                                             "total": 6 + streak}
        s = stats_at(c, clock, "2028-03-02T13:00:00Z")
        assert s["longest_streak"] == 4 and s["month"] == ["2028-03-01", "2028-03-02"]


def test_the_clock_file_is_refused_without_the_test_flag(tmp_path: Path) -> None:
    node = NodeServer(tmp_path, env={**STUDIO_ENV, "NODEBASE_STUDIO_CLOCK_FILE": str(tmp_path / "clock.txt")})
    with pytest.raises(RuntimeError, match="NODEBASE_STUDIO_CLOCK_FILE is a test setting"):
        node.start(timeout=40)
