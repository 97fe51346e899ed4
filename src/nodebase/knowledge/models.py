"""The values of the Knowledge module: collections, documents and their states, passages,
citations and the events of a streamed answer. Frozen dataclasses; behaviour lives in the
service."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class DocumentState(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


TERMINAL = frozenset({DocumentState.READY, DocumentState.FAILED})


class SourceKind(StrEnum):
    TEXT = "text"
    URL = "url"
    PDF = "pdf"
    HTML = "html"
    MEDIA = "media"


@dataclass(frozen=True)
class Collection:
    id: str
    name: str
    owner_id: str | None
    description: str
    created_at: float
    document_count: int = 0
    chunk_count: int = 0

    def public(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Document:
    id: str
    collection_id: str
    owner_id: str | None
    kind: str
    title: str
    source: str  # the URL, the media key, the file name, or "" for text
    state: DocumentState
    error: str | None
    progress: float
    attempts: int
    chunk_count: int
    char_count: int
    page_count: int | None
    metadata: dict[str, Any]
    created_at: float
    updated_at: float

    def public(self) -> dict[str, Any]:
        d = asdict(self)
        d["state"] = str(self.state)
        return d


@dataclass(frozen=True)
class Passage:
    """One retrieved chunk: where it comes from and how it scored."""

    chunk_id: str
    document_id: str
    collection_id: str
    text: str
    start: int
    end: int
    page: int | None
    score: float
    document_title: str = ""
    #: rank in each list that found it (``keyword``, ``vector``), for explaining the fusion
    ranks: dict[str, int] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Citation:
    """``[n]`` in an answer refers to ``passages[n-1]``: always a retrieved passage."""

    n: int
    passage: Passage

    def public(self) -> dict[str, Any]:
        return {"n": self.n, **self.passage.public()}


@dataclass(frozen=True)
class AnswerEvent:
    """One event of a streamed answer.

    ``type`` is ``passages`` (the retrieved passages, numbered from 1, before any token),
    ``token`` (``text`` is the next piece of the answer), ``citations`` (the passages the
    answer cited, after the last token), ``done`` or ``error`` (``text`` is the message).
    """

    type: str
    text: str = ""
    passages: tuple[Passage, ...] = ()
    citations: tuple[Citation, ...] = ()

    def public(self) -> dict[str, Any]:
        if self.type == "passages":
            return {"type": self.type,
                    "passages": [{"n": i + 1, **p.public()} for i, p in enumerate(self.passages)]}
        if self.type == "citations":
            return {"type": self.type, "citations": [c.public() for c in self.citations]}
        if self.type in ("token", "error"):
            return {"type": self.type, "text": self.text}
        return {"type": self.type}
