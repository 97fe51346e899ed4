"""A parsed, validated read query (bknd's ``limit offset sort select where join with``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000


@dataclass
class RepoQuery:
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    sort: list[tuple[str, str]] = field(default_factory=list)
    select: list[str] | None = None
    where: dict[str, Any] | None = None
    join: list[str] = field(default_factory=list)
    with_: dict[str, RepoQuery] = field(default_factory=dict)
    #: compute meta.count / meta.total (switch off with ``count=false``)
    count: bool = True
