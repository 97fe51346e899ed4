"""Retrieval-quality floors on the bilingual fixture with the default embedder (WordLlama).

Measured (``python -m tests.knowledge.quality``): hybrid hit@3 0.92, MRR@10 0.883; vector
hit@3 0.90; keyword hit@3 0.84. Everything is deterministic, so the floors sit just below.
"""

from __future__ import annotations

from pathlib import Path

from tests.knowledge.inprocess import run
from tests.knowledge.quality import evaluate, load


def test_fixture_shape() -> None:
    corpus, queries, qrels = load()
    assert len(corpus) >= 8 and len(queries) >= 40
    zh = [q for q in queries.values() if any("\u4e00" <= ch <= "\u9fff" for ch in q)]
    assert len(zh) * 2 >= len(queries)
    assert set(qrels) == set(queries) and set(qrels.values()) <= set(corpus)


def test_retrieval_quality_floors(tmp_path: Path) -> None:
    result = run(evaluate(tmp_path))
    assert result["_info"]["embedder"] == "wordllama-l2-supercat-256"  # type: ignore[index]
    hybrid, vector, keyword = result["hybrid"], result["vector"], result["keyword"]
    assert hybrid["hit@3"] >= 0.90, hybrid
    assert hybrid["mrr@10"] >= 0.85, hybrid
    assert hybrid["hit@3 zh"] >= 0.85 and hybrid["hit@3 en"] >= 0.90, hybrid
    assert vector["hit@3"] >= 0.85, vector
    assert keyword["hit@3"] >= 0.80, keyword
    # fusion is never worse than the better single list on hit@3
    assert hybrid["hit@3"] >= max(vector["hit@3"], keyword["hit@3"])
