"""The clock Studio dates check-ins (and stamps rows) with.

Production: the system clock, UTC. Tests move it across days through HTTP with a file:
``NODEBASE_STUDIO_CLOCK_FILE=<path>`` makes every reading come from that file (an ISO-8601
time, e.g. ``2026-12-31T23:30:00Z``; the system clock while the file does not exist). It is a
test setting: the app refuses to start with it unless ``NODEBASE_TESTING=true`` is set too, so
a stray variable cannot move a real deployment's days.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from nodebase.kernel.testing import only_in_tests

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def file_clock(path: Path) -> Clock:
    def now() -> datetime:
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            return system_clock()
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return now


def clock_from_env(env: Mapping[str, str] = os.environ) -> Clock:
    path = only_in_tests("NODEBASE_STUDIO_CLOCK_FILE", env)
    return file_clock(Path(path)) if path else system_clock
