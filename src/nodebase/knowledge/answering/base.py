"""How an answer is produced from retrieved passages: a stream of text pieces.

The service numbers the passages ``[1]..[n]``, streams what the answerer yields as ``token``
events, then parses the ``[n]`` markers of the whole answer into citations — so a citation is
always one of the retrieved passages, whatever the model writes.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from nodebase.kernel.errors import NodebaseError
from nodebase.knowledge.models import Citation, Passage

MARKER = re.compile(r"\[(\d{1,3})\]")


class AnswerFailed(NodebaseError):
    """The chat model failed, timed out or answered something unusable."""

    status = 502
    type = "AnswerFailedException"


class Answerer(Protocol):
    name: str

    def answer(self, question: str, passages: Sequence[Passage], *,
               history: Sequence[dict[str, str]] = (), task: str = "answer") -> AsyncIterator[str]:
        """Yield the answer piece by piece. ``task`` is ``answer``, ``summary`` or ``outline``."""
        ...

    async def close(self) -> None: ...


def citations(text: str, passages: Sequence[Passage]) -> list[Citation]:
    """The passages ``text`` cites with ``[n]``, in order of first mention; bad numbers dropped."""
    seen: list[int] = []
    for m in MARKER.finditer(text):
        n = int(m.group(1))
        if 1 <= n <= len(passages) and n not in seen:
            seen.append(n)
    return [Citation(n, passages[n - 1]) for n in seen]
