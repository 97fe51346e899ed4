"""Retrieval quality on the bilingual fixture (``fixtures/bilingual``, BEIR layout: corpus.jsonl,
queries.jsonl, qrels/test.tsv): 10 documents (5 English, 5 Chinese), 50 questions (25 in
Chinese; one per document asks across languages), written for nodebase.

Run ``python -m tests.knowledge.quality`` for the table of hit@1, hit@3 and MRR@10 by mode
(keyword, vector, hybrid) with the default embedder; the test asserts floors.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
from pathlib import Path
from typing import Any

from tests.knowledge.inprocess import knowledge_node, user

FIXTURE = Path(__file__).with_name("fixtures") / "bilingual"
MODES = ("keyword", "vector", "hybrid")


def load() -> tuple[dict[str, dict[str, str]], dict[str, str], dict[str, str]]:
    corpus = {d["_id"]: d for d in map(json.loads, (FIXTURE / "corpus.jsonl").read_text().splitlines())}
    queries = {q["_id"]: q["text"] for q in map(json.loads, (FIXTURE / "queries.jsonl").read_text().splitlines())}
    qrels = {}
    for line in (FIXTURE / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, did, _ = line.split("\t")
        qrels[qid] = did
    return corpus, queries, qrels


def _is_zh(text: str) -> bool:
    return bool(re.search("[\u4e00-\u9fff]", text))


async def evaluate(tmp: Path, embedding_url: str = "") -> dict[str, dict[str, float]]:
    corpus, queries, qrels = load()
    out: dict[str, dict[str, float]] = {}
    async with knowledge_node(tmp, embedding_url=embedding_url) as (nb, svc, _):
        a = user("eval")
        c = await svc.create_collection(a, "fixture")
        doc_of: dict[str, str] = {}
        for did, d in corpus.items():
            doc = await svc.add_text(a, c.id, d["text"], title=d["title"])
            doc_of[doc.id] = did
        for doc_id in list(doc_of):
            await svc.wait_for(a, doc_id, 120)
        for mode in MODES:
            stats: dict[str, list[float]] = {"hit@1": [], "hit@3": [], "mrr@10": []}
            by_lang: dict[str, list[float]] = {"hit@3 zh": [], "hit@3 en": []}
            for qid, text in queries.items():
                hits = await svc.search(a, text, k=30, mode=mode)
                ranked: list[str] = []
                for h in hits:
                    did = doc_of[h.document_id]
                    if did not in ranked:
                        ranked.append(did)
                gold = qrels[qid]
                rank = ranked.index(gold) + 1 if gold in ranked[:10] else 0
                stats["hit@1"].append(1.0 if rank == 1 else 0.0)
                stats["hit@3"].append(1.0 if 1 <= rank <= 3 else 0.0)
                stats["mrr@10"].append(1.0 / rank if rank else 0.0)
                by_lang["hit@3 zh" if _is_zh(text) else "hit@3 en"].append(1.0 if 1 <= rank <= 3 else 0.0)
            out[mode] = {k: sum(v) / len(v) for k, v in {**stats, **by_lang}.items()}
        out["_info"] = {"embedder": nb.knowledge.embedder.name if nb.knowledge.embedder else "none"}  # type: ignore[dict-item]
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result: dict[str, Any] = asyncio.run(evaluate(Path(tmp)))
    info = result.pop("_info")
    print(f"embedder: {info['embedder']}")
    print("| mode | hit@1 | hit@3 | MRR@10 | hit@3 (zh questions) | hit@3 (en questions) |")
    print("|---|---|---|---|---|---|")
    for mode, m in result.items():
        print(f"| {mode} | {m['hit@1']:.2f} | {m['hit@3']:.2f} | {m['mrr@10']:.3f} | {m['hit@3 zh']:.2f} | {m['hit@3 en']:.2f} |")


if __name__ == "__main__":
    main()
