"""Bilingual (Chinese and English) sentence-aware chunking; pure functions.

Split, then merge with overlap (llama_index's ``SentenceSplitter`` shape), keeping exact
offsets while splitting: ``chunk.text == text[chunk.start:chunk.end]`` always holds, so a
citation points at the exact span even when a passage repeats.

* Tokens are counted the way both languages read: each CJK character (Han, kana, hangul) is
  one token, each run of letters/digits is one token; punctuation and spaces are free.
* Sentences end at ``. ! ?`` followed by a space, at ``。！？；…`` (no space needed), and at
  line breaks. A sentence longer than the maximum is cut at a clause mark (``, ， 、 ; :``),
  then between words, never inside a word or a CJK run shorter than the cut.
* Sentences are packed up to ``size`` tokens (never above ``max_size``); the next chunk
  starts with the last sentences of the previous one up to ``overlap`` tokens.
* Chunks under ``min_size`` tokens are dropped (a short last one is merged into the one
  before when it fits); a whole document that short yields one chunk if it has any words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
TOKEN_RE = re.compile(rf"[{_CJK}]|[^\W{_CJK}_]+|_+", re.UNICODE)
_SENTENCE_END = re.compile(r"(?:[.!?]+[\"')\]]*(?=\s)|[。！？；…]+[”’」』）)]*|\n+)")
_CLAUSE = re.compile(r"[,，、;；:：](?=.)")

DEFAULT_SIZE = 384
DEFAULT_MAX = 512
DEFAULT_OVERLAP = 64
DEFAULT_MIN = 5


@dataclass(frozen=True)
class Chunk:
    ordinal: int
    text: str
    start: int
    end: int
    tokens: int


def count_tokens(text: str) -> int:
    return sum(1 for _ in TOKEN_RE.finditer(text))


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans (start, end) of ``text``, whitespace trimmed, empty ones left out."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        s, e = _trim(text, pos, m.end())
        if e > s:
            spans.append((s, e))
        pos = m.end()
    s, e = _trim(text, pos, len(text))
    if e > s:
        spans.append((s, e))
    return spans


def _split_long(text: str, start: int, end: int, max_size: int) -> list[tuple[int, int]]:
    """Cut one over-long span at clause marks, then at token boundaries."""
    if count_tokens(text[start:end]) <= max_size:
        return [(start, end)]
    pieces: list[tuple[int, int]] = []
    pos = start
    for m in _CLAUSE.finditer(text, start, end):
        pieces.append((pos, m.end()))
        pos = m.end()
    pieces.append((pos, end))
    out: list[tuple[int, int]] = []
    for ps, pe in pieces:
        if count_tokens(text[ps:pe]) <= max_size:
            out.append((ps, pe))
            continue
        # between tokens: a cut never falls inside a word
        toks = list(TOKEN_RE.finditer(text, ps, pe))
        for i in range(0, len(toks), max_size):
            group = toks[i:i + max_size]
            s = ps if i == 0 else group[0].start()
            e = pe if i + max_size >= len(toks) else toks[i + max_size].start()
            out.append((s, e))
    merged: list[tuple[int, int]] = []
    for s, e in out:  # glue small neighbours back together up to the limit
        s, e = _trim(text, s, e)
        if e <= s:
            continue
        if merged and count_tokens(text[merged[-1][0]:e]) <= max_size:
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def split(text: str, *, size: int = DEFAULT_SIZE, max_size: int = DEFAULT_MAX,
          overlap: int = DEFAULT_OVERLAP, min_size: int = DEFAULT_MIN) -> list[Chunk]:
    if not 0 < size <= max_size:
        raise ValueError("size must be positive and at most max_size")
    if not 0 <= overlap < size:
        raise ValueError("overlap must be smaller than size")
    units: list[tuple[int, int, int]] = []  # start, end, tokens
    for s, e in sentences(text):
        for ps, pe in _split_long(text, s, e, max_size):
            units.append((ps, pe, count_tokens(text[ps:pe])))
    units = [u for u in units if u[2] > 0]
    if not units:
        return []
    groups: list[list[tuple[int, int, int]]] = []
    current: list[tuple[int, int, int]] = []
    tokens = 0
    fresh = 0  # units in ``current`` that are not carried over from the previous chunk
    for unit in units:
        if current and fresh and tokens + unit[2] > size:
            groups.append(current)
            carry: list[tuple[int, int, int]] = []
            carried = 0
            for prev in reversed(current):
                if carried + prev[2] > overlap:
                    break
                carry.insert(0, prev)
                carried += prev[2]
            current, tokens, fresh = carry, carried, 0
            while current and tokens + unit[2] > max_size:
                tokens -= current.pop(0)[2]
        current.append(unit)
        tokens += unit[2]
        fresh += 1
    if current and fresh:
        groups.append(current)
    spans = [(g[0][0], g[-1][1], sum(u[2] for u in g)) for g in groups]
    if len(spans) > 1 and spans[-1][2] < max(min_size, overlap):
        last = spans[-1]
        prev = spans[-2]
        joined = count_tokens(text[prev[0]:last[1]])
        if joined <= max_size:
            spans[-2:] = [(prev[0], last[1], joined)]
    kept = [s for s in spans if s[2] >= min_size] or ([spans[0]] if len(spans) == 1 else [])
    return [Chunk(i, text[s:e], s, e, t) for i, (s, e, t) in enumerate(kept)]


def page_at(page_starts: Sequence[int], offset: int) -> int | None:
    """The 1-based page holding ``offset``, given each page's start offset (or None)."""
    if not page_starts:
        return None
    page = 1
    for i, start in enumerate(page_starts):
        if start <= offset:
            page = i + 1
        else:
            break
    return page
