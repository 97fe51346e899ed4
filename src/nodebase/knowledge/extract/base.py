"""What an extractor produces: plain text, a title, page start offsets, metadata.

One extractor per source kind, each in its own file; chunking, hashing and embedding are
shared (the service does them). An extractor that cannot read its input raises
:class:`ExtractionFailed` with a reason a user can act on; the document becomes ``failed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ExtractionFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ExtraMissing(ExtractionFailed):
    """The source kind needs the ``knowledge`` extra."""

    def __init__(self, what: str, package: str) -> None:
        super().__init__(f"{what} needs the {package} package: pip install 'nodebase[knowledge]'")


@dataclass(frozen=True)
class Extracted:
    text: str
    title: str = ""
    #: offset in ``text`` where each page starts (PDFs), empty when the source has no pages
    page_starts: tuple[int, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
