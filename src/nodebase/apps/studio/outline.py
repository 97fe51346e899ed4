"""The mind-map outline rule of studio.md: one ``#`` root first, then ``##`` branches and
``###`` leaves, no level skipped."""

from __future__ import annotations

import re

_HEADING = re.compile(r"^(#{1,6})\s+\S")


def is_outline(markdown: str) -> bool:
    levels = [len(m.group(1)) for line in markdown.splitlines() if (m := _HEADING.match(line))]
    if not levels or levels[0] != 1 or levels.count(1) != 1 or max(levels) > 3:
        return False
    first_line = next(line for line in markdown.splitlines() if line.strip())
    if not _HEADING.match(first_line):
        return False
    return all(b <= a + 1 for a, b in zip(levels, levels[1:], strict=False))
