"""The answer without a chat model: the passages' sentences that share most terms with the
question (earlier-ranked passages first on ties), each followed by its ``[n]`` marker.

For a summary, the first sentences of each passage; for an outline, a Markdown heading tree
(document titles, then each passage's lead sentence).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence

from nodebase.knowledge.chunking import sentences
from nodebase.knowledge.keywords import document_terms, query_terms
from nodebase.knowledge.models import Passage

MAX_SENTENCES = 4


def _lead(text: str, limit: int = 160) -> str:
    spans = sentences(text)
    if not spans:
        return ""
    s, e = spans[0]
    lead = text[s:e].strip()
    return lead if len(lead) <= limit else lead[:limit].rstrip() + "…"


@functools.lru_cache(maxsize=1024)
def _sentence_terms(text: str) -> tuple[tuple[str, frozenset[str]], ...]:
    """A passage's sentences with their terms: the same chunks come back question after
    question, so this is cut and tokenised once per chunk text, not once per answer."""
    out = []
    for s, e in sentences(text):
        sentence = text[s:e].strip()
        out.append((sentence, frozenset(document_terms(sentence).split())))
    return tuple(out)


class ExtractiveAnswerer:
    name = "extractive"

    def _answer(self, question: str, passages: Sequence[Passage]) -> str:
        wanted = set(query_terms(question))
        scored: list[tuple[float, int, int, str]] = []
        for n, p in enumerate(passages, start=1):
            for order, (sentence, terms) in enumerate(_sentence_terms(p.text)):
                overlap = len(wanted & terms)
                if overlap:
                    scored.append((overlap / (1 + 0.002 * len(sentence)), n, order, sentence))
        if not scored:
            if not passages:
                return "No passage in the selected sources answers this question."
            return f"{_lead(passages[0].text)} [1]"
        scored.sort(key=lambda t: (-t[0], t[1], t[2]))
        best = sorted(scored[:MAX_SENTENCES], key=lambda t: (t[1], t[2]))
        return " ".join(f"{sentence} [{n}]" for _, n, _, sentence in best)

    def _summary(self, passages: Sequence[Passage]) -> str:
        lines = []
        for n, p in enumerate(passages, start=1):
            lead = _lead(p.text, 240)
            if lead:
                lines.append(f"- {lead} [{n}]")
        return "\n".join(lines) or "There is nothing to summarise yet."

    def _outline(self, title: str, passages: Sequence[Passage]) -> str:
        out = [f"# {title or 'Sources'}"]
        current = None
        for n, p in enumerate(passages, start=1):
            if p.document_id != current:
                current = p.document_id
                out.append(f"## {p.document_title or 'Untitled'}")
            lead = _lead(p.text, 100)
            if lead:
                out.append(f"### {lead} [{n}]")
        return "\n".join(out)

    async def answer(self, question: str, passages: Sequence[Passage], *,
                     history: Sequence[dict[str, str]] = (), task: str = "answer") -> AsyncIterator[str]:
        if task == "summary":
            text = self._summary(passages)
        elif task == "outline":
            text = self._outline(question, passages)
        else:
            text = self._answer(question, passages)
        # streamed word by word, keeping the spacing and line breaks exactly
        piece = ""
        for ch in text:
            piece += ch
            if ch in " \n":
                yield piece
                piece = ""
        if piece:
            yield piece

    async def close(self) -> None:
        pass
