"""Hybrid retrieval: keyword (BM25 / ts_rank) and dense (cosine) lists fused by reciprocal
rank (RRF, k = 60), on chunk id. Both lists are already scoped to the caller's collections
(and documents) by their queries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

RRF_K = 60


def rrf(lists: Mapping[str, Sequence[str]], k: int = RRF_K) -> list[tuple[str, float, dict[str, int]]]:
    """Fuse ranked id lists: (id, score, {list name: 1-based rank}) best first.

    Ties are broken by the best single rank, then by the id, so the order is deterministic.
    """
    scores: dict[str, float] = {}
    ranks: dict[str, dict[str, int]] = {}
    for name, ids in lists.items():
        for rank, id in enumerate(ids, start=1):
            scores[id] = scores.get(id, 0.0) + 1.0 / (k + rank)
            ranks.setdefault(id, {})[name] = rank
    return sorted(((id, s, ranks[id]) for id, s in scores.items()),
                  key=lambda t: (-t[1], min(t[2].values()), t[0]))
