"""Terms for the keyword index, the same on SQLite (FTS5) and PostgreSQL (tsvector).

Latin-script text is cut into lowercased words. Chinese (and other CJK) text has no spaces,
so each run of CJK characters is indexed as its single characters and its overlapping
character pairs (bigrams, as Lucene's CJK analyzer does): "大熊猫" → 大 熊 猫 大熊 熊猫. A
query uses the bigrams of its CJK runs (a single character stands for itself), so "熊猫"
matches any text containing 熊猫 without a dictionary. The terms are stored space-separated
in a plain-text column that the database's simple tokenizer indexes; a term with any
non-ASCII character is written as ``x`` + its UTF-8 bytes in hex, so no database locale or
tokenizer can split or fold it differently.

Measured against a jieba word index on the bilingual fixture (``bench/knowledge.py``, part 4:
same quality, slower, a 42 MB dictionary) and SQLite's trigram tokenizer (cannot match
two-character words): see docs/knowledge.md.
"""

from __future__ import annotations

import functools
import re

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_RUN = re.compile(rf"[{_CJK}]+|[^\W{_CJK}_]+", re.UNICODE)
_CJK_RUN = re.compile(rf"[{_CJK}]")

#: frequent English words left out of queries (they still count in documents)
STOPWORDS = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "by", "do", "does", "did", "for", "from", "has", "have", "how", "i", "in", "is", "it", "its", "of", "on", "or", "that", "the", "their", "this", "to", "was", "were", "what", "when", "where", "which", "who", "why", "will", "with", "you", "your"]
)


def _is_cjk(run: str) -> bool:
    return bool(_CJK_RUN.match(run))


@functools.lru_cache(maxsize=65536)
def encode(term: str) -> str:
    return term if term.isascii() else "x" + term.encode().hex()


def document_terms(text: str) -> str:
    if text.isascii():  # no CJK run and nothing to hex-encode: the lowercased words
        return " ".join(_RUN.findall(text.lower()))
    out: list[str] = []
    for m in _RUN.finditer(text):
        run = m.group()
        if _is_cjk(run):
            out.extend(run)
            out.extend(run[i:i + 2] for i in range(len(run) - 1))
        else:
            out.append(run.lower())
    return " ".join(encode(t) for t in out)


def query_terms(text: str) -> list[str]:
    terms: list[str] = []
    for m in _RUN.finditer(text):
        run = m.group()
        if _is_cjk(run):
            if len(run) == 1:
                terms.append(run)
            else:
                terms.extend(run[i:i + 2] for i in range(len(run) - 1))
        else:
            word = run.lower()
            if word not in STOPWORDS:
                terms.append(word)
    seen: set[str] = set()
    unique = []
    for t in terms:
        if t not in seen:
            seen.add(t)
            unique.append(t)
    return [encode(t) for t in unique]
