"""The Knowledge service through its Python interface (what Nano Studio uses), in process, on
SQLite and PostgreSQL, with the deterministic hashing embedder and the embedded vector store.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from nodebase.kernel.errors import BadRequest, Forbidden, NotFound
from nodebase.knowledge import repository as repo_mod
from nodebase.knowledge.ingest import Ingestor
from nodebase.knowledge.models import DocumentState
from tests.conftest import _database_url
from tests.knowledge.inprocess import ADMIN, collect, knowledge_node, run, user
from tests.knowledge.pdfs import bomb_pdf, make_pdf

PANDAS_EN = ("Giant pandas live in the mountain forests of Sichuan. They eat bamboo for most of "
             "the day, up to fourteen kilograms of it. ") * 3
PANDAS_ZH = "大熊猫生活在四川的山区森林里。它们一天中大部分时间都在吃竹子，每天多达十四公斤。" * 3
RIVER_EN = ("The Yangtze is the longest river in Asia. It flows from the Tibetan plateau to the East "
            "China Sea near Shanghai. ") * 3
RIVER_ZH = "长江是亚洲最长的河流。它从青藏高原流向上海附近的东海。" * 3


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest) -> str:
    return _database_url(backend, request)


def _node(tmp_path: Path, db_url: str, **kw: Any) -> Any:
    return knowledge_node(tmp_path, database_url=db_url, **kw)


def test_collections_documents_states_counts(tmp_path: Path, db_url: str) -> None:
    async def go() -> None:
        async with _node(tmp_path, db_url) as (nb, svc, _):
            alice = user("alice")
            c = await svc.create_collection(alice, "  Notes  ", "my notes")
            assert (c.name, c.description, c.owner_id) == ("Notes", "my notes", "alice")
            d = await svc.add_text(alice, c.id, PANDAS_EN + PANDAS_ZH, title="Pandas")
            assert d.state == DocumentState.PENDING and d.progress == 0.0
            d = await svc.wait_for(alice, d.id, 120)
            assert d.state == DocumentState.READY, d.error
            assert d.error is None and d.progress == 1.0 and d.attempts == 1
            assert d.char_count == len(PANDAS_EN + PANDAS_ZH)
            assert d.chunk_count >= 1
            c = await svc.get_collection(alice, c.id)
            assert (c.document_count, c.chunk_count) == (1, d.chunk_count)
            assert [x.id for x in await svc.list_documents(alice, c.id)] == [d.id]
            c2 = await svc.update_collection(alice, c.id, name="Renamed")
            assert c2.name == "Renamed" and c2.description == "my notes"
    run(go())


def test_search_hybrid_scoped_with_offsets(tmp_path: Path, db_url: str) -> None:
    async def go() -> None:
        async with _node(tmp_path, db_url) as (nb, svc, _):
            a = user("alice")
            c1 = await svc.create_collection(a, "animals")
            c2 = await svc.create_collection(a, "rivers")
            d1 = await svc.add_text(a, c1.id, PANDAS_EN + "\n\n" + PANDAS_ZH, title="Pandas")
            d2 = await svc.add_text(a, c2.id, RIVER_EN + "\n\n" + RIVER_ZH, title="Yangtze")
            for d in (d1, d2):
                assert (await svc.wait_for(a, d.id, 120)).state == DocumentState.READY
            for q, want in [("what do pandas eat", d1.id), ("熊猫吃什么", d1.id),
                            ("longest river in Asia", d2.id), ("长江流向哪里", d2.id)]:
                hits = await svc.search(a, q)
                assert hits and hits[0].document_id == want, q
                top = hits[0]
                assert top.ranks.get("keyword") == 1
                assert "vector" in top.ranks
            # scope: only the requested collection / document, inside the queries
            hits = await svc.search(a, "熊猫 长江", collection_ids=[c2.id])
            assert hits and {h.collection_id for h in hits} == {c2.id}
            hits = await svc.search(a, "熊猫 长江", document_ids=[d1.id])
            assert hits and {h.document_id for h in hits} == {d1.id}
            hits = await svc.search(a, "bamboo", mode="keyword")
            assert [h.document_id for h in hits] == [d1.id] and list(hits[0].ranks) == ["keyword"]
            hits = await svc.search(a, "bamboo", mode="vector")
            assert d1.id in {h.document_id for h in hits}
            assert all(list(h.ranks) == ["vector"] for h in hits)
            # offsets point at the exact span of the document text
            text = PANDAS_EN + "\n\n" + PANDAS_ZH
            for h in await svc.search(a, "bamboo 竹子", collection_ids=[c1.id]):
                assert text[h.start:h.end] == h.text
                assert h.document_title == "Pandas"
            with pytest.raises(BadRequest):
                await svc.search(a, "  ")
            with pytest.raises(BadRequest):
                await svc.search(a, "x", mode="magic")
            with pytest.raises(BadRequest):
                await svc.search(a, "x", k=0)
    run(go())


def test_users_never_see_each_others_collections(tmp_path: Path, db_url: str) -> None:
    async def go() -> None:
        async with _node(tmp_path, db_url) as (nb, svc, guard):
            alice, bob = user("alice"), user("bob")
            ca = await svc.create_collection(alice, "alice's")
            cb = await svc.create_collection(bob, "bob's")
            da = await svc.add_text(alice, ca.id, "Alice keeps her secret recipe: saffron and 藏红花. " * 5)
            db_ = await svc.add_text(bob, cb.id, "Bob writes about saffron fields and 藏红花. " * 5)
            for who, d in ((alice, da), (bob, db_)):
                await svc.wait_for(who, d.id, 120)
            # listing, reading and searching
            assert [c.id for c in await svc.list_collections(alice)] == [ca.id]
            assert [c.id for c in await svc.list_collections(bob)] == [cb.id]
            for q in ("saffron", "藏红花", "recipe"):
                assert {h.document_id for h in await svc.search(bob, q)} <= {db_.id}
                assert {h.document_id for h in await svc.search(alice, q)} <= {da.id}
            # naming the other user's ids is "not found", everywhere
            for call in (svc.get_collection(bob, ca.id), svc.list_documents(bob, ca.id),
                         svc.get_document(bob, da.id), svc.delete_document(bob, da.id),
                         svc.delete_collection(bob, ca.id), svc.retry_document(bob, da.id),
                         svc.add_text(bob, ca.id, "intrusion"), svc.search(bob, "saffron", collection_ids=[ca.id]),
                         svc.search(bob, "saffron", document_ids=[da.id]), svc.mind_map(bob, ca.id),
                         svc.summary(bob, ca.id), svc.ask(bob, "saffron", collection_ids=[ca.id]),
                         svc.update_collection(bob, ca.id, name="mine")):
                with pytest.raises(NotFound):
                    await call
            events = await collect(await svc.ask(bob, "saffron recipe"))
            cited = {c.passage.document_id for e in events for c in e.citations}
            retrieved = {p.document_id for e in events for p in e.passages}
            assert retrieved == {db_.id} and cited <= {db_.id}
            # an admin (knowledge.manage) sees both
            assert {c.id for c in await svc.list_collections(ADMIN)} == {ca.id, cb.id}
            assert {h.document_id for h in await svc.search(ADMIN, "saffron")} == {da.id, db_.id}
            # permissions come from the guard
            guard.denied = {"knowledge.read"}
            with pytest.raises(Forbidden):
                await svc.list_collections(alice)
            guard.denied = {"knowledge.write"}
            with pytest.raises(Forbidden):
                await svc.create_collection(alice, "x")
            guard.denied = set()
            anonymous = user("x").__class__()  # Caller() without a user
            with pytest.raises(Forbidden):
                await svc.create_collection(anonymous, "x")
            assert await svc.list_collections(anonymous) == []
    run(go())


def test_delete_cascades_to_chunks_vectors_and_files(tmp_path: Path, db_url: str) -> None:
    async def go() -> None:
        async with _node(tmp_path, db_url) as (nb, svc, _):
            a = user("alice")
            kn = nb.knowledge
            c = await svc.create_collection(a, "c")
            d1 = await svc.add_file(a, c.id, make_pdf([PANDAS_EN, PANDAS_ZH]), filename="pandas.pdf",
                                    content_type="application/pdf")
            d2 = await svc.add_text(a, c.id, RIVER_EN)
            for d in (d1, d2):
                assert (await svc.wait_for(a, d.id, 120)).state == DocumentState.READY
            files = tmp_path / "knowledge" / "files"
            assert [p.name for p in files.iterdir() if p.is_file()] == [f"{d1.id}-pandas.pdf"]
            n1 = (await svc.get_document(a, d1.id)).chunk_count
            assert await kn.vectors.count(c.id) == n1 + (await svc.get_document(a, d2.id)).chunk_count
            await svc.delete_document(a, d1.id)
            assert not [p for p in files.iterdir() if p.is_file()]
            assert await kn.vectors.count(c.id) == (await svc.get_document(a, d2.id)).chunk_count
            assert await svc.search(a, "bamboo", mode="keyword") == []
            # only the river is left for the vector search
            assert {h.document_id for h in await svc.search(a, "bamboo", mode="vector")} == {d2.id}
            with pytest.raises(NotFound):
                await svc.get_document(a, d1.id)
            await svc.delete_collection(a, c.id)
            assert await kn.vectors.count(c.id) == 0
            assert await nb.db.fetch_val(f"SELECT count(*) FROM {repo_mod.CHUNKS}") == 0
            assert await nb.db.fetch_val(f"SELECT count(*) FROM {repo_mod.DOCUMENTS}") == 0
            if not kn.repo.pg:
                assert await nb.db.fetch_val(f"SELECT count(*) FROM {repo_mod.FTS}") == 0
            with pytest.raises(NotFound):
                await svc.get_collection(a, c.id)
    run(go())


def test_pdf_pages_kept_and_bad_pdfs_fail_with_a_reason(tmp_path: Path, db_url: str) -> None:
    async def go() -> None:
        async with _node(tmp_path, db_url) as (nb, svc, _):
            a = user("alice")
            c = await svc.create_collection(a, "pdfs")
            pages = [f"第{i}页。这一页讲的是主题{i}号，内容独特：编号{i}{i}{i}。Page {i} is about topic number {i}."
                     for i in range(1, 6)]
            good = await svc.add_file(a, c.id, make_pdf(pages, title="Five pages"), filename="five.pdf",
                                      content_type="application/pdf")
            bad = {
                "encrypted": make_pdf(["secret"], password="pw"),
                "damaged": make_pdf(["abc"])[:200],
                "bomb": bomb_pdf(),
                "scan": make_pdf([""]),
            }
            ids = {k: (await svc.add_file(a, c.id, v, filename=f"{k}.pdf",
                                          content_type="application/pdf")).id for k, v in bad.items()}
            g = await svc.wait_for(a, good.id, 120)
            assert g.state == DocumentState.READY and g.page_count == 5 and g.title == "Five pages"
            hits = await svc.search(a, "编号333", mode="keyword")
            assert hits and hits[0].page is not None
            reasons = {k: (await svc.wait_for(a, i, 120)) for k, i in ids.items()}
            assert {k: d.state for k, d in reasons.items()} == dict.fromkeys(bad, DocumentState.FAILED)
            assert reasons["encrypted"].error == "the PDF is encrypted"
            assert "damaged or unreadable" in (reasons["damaged"].error or "")
            assert reasons["bomb"].error == "the PDF has a stream that decompresses past the size limit"
            assert "no extractable text" in (reasons["scan"].error or "")
            # the worker is still alive after all that
            d = await svc.add_text(a, c.id, "still working after bad PDFs, fine.")
            assert (await svc.wait_for(a, d.id, 120)).state == DocumentState.READY
            # a failed document can be retried; a ready one cannot
            r = await svc.retry_document(a, ids["encrypted"])
            assert r.state == DocumentState.PENDING and r.error is None
            assert (await svc.wait_for(a, r.id, 120)).state == DocumentState.FAILED
            with pytest.raises(BadRequest):
                await svc.retry_document(a, good.id)
    run(go())


def test_page_numbers_follow_the_pdf(tmp_path: Path, db_url: str) -> None:
    async def go() -> None:
        async with _node(tmp_path, db_url) as (nb, svc, _):
            a = user("alice")
            c = await svc.create_collection(a, "pdfs")
            filler = "Filler sentence about nothing in particular. " * 60
            pages = [filler + f" The unique marker zebra{i} appears here." for i in range(1, 4)]
            d = await svc.add_file(a, c.id, make_pdf(pages), filename="p.pdf", content_type="application/pdf")
            assert (await svc.wait_for(a, d.id, 120)).state == DocumentState.READY
            for i in range(1, 4):
                hits = await svc.search(a, f"zebra{i}", mode="keyword", k=1)
                assert hits[0].page == i
    run(go())


def test_each_job_is_taken_once_by_competing_workers(tmp_path: Path, db_url: str) -> None:
    async def go() -> None:
        async with _node(tmp_path, db_url) as (nb, svc, _):
            kn = nb.knowledge
            await kn.ingestor.stop()  # only the two workers below
            a = user("alice")
            c = await svc.create_collection(a, "c")
            ids = [(await svc.add_text(a, c.id, f"Document number {i} about topic {i}. " * 3)).id
                   for i in range(12)]
            w1 = Ingestor(kn.repo, kn.vectors, kn.embedder, kn._read_blob)
            w2 = Ingestor(kn.repo, kn.vectors, kn.embedder, kn._read_blob)
            seen: dict[str, list[str]] = {w1.worker_id: [], w2.worker_id: []}
            for w in (w1, w2):
                orig = w.process

                async def tracking(doc_id: str, w: Ingestor = w, orig: Any = orig) -> None:
                    seen[w.worker_id].append(doc_id)
                    await orig(doc_id)

                w.process = tracking  # type: ignore[method-assign]
            import asyncio

            async def drain(w: Ingestor) -> None:
                while await w.run_once():
                    await asyncio.sleep(0)

            await asyncio.gather(drain(w1), drain(w2))
            taken = seen[w1.worker_id] + seen[w2.worker_id]
            assert sorted(taken) == sorted(ids)  # every job exactly once
            docs = [await svc.get_document(a, i) for i in ids]
            assert all(d.state == DocumentState.READY and d.attempts == 1 for d in docs)
    run(go())


def test_restart_resumes_and_abandoned_jobs_are_retried_then_failed(tmp_path: Path, db_url: str) -> None:
    async def go() -> None:
        async with _node(tmp_path, db_url) as (nb, svc, _):
            kn = nb.knowledge
            await kn.ingestor.stop()
            a = user("alice")
            c = await svc.create_collection(a, "c")
            d = await svc.add_text(a, c.id, "A document that survives restarts, every time. " * 3)
            # a worker claims it and dies (its lease expires)
            assert await kn.repo.claim("dead-worker", lease=-1) == d.id
            assert (await svc.get_document(a, d.id)).state == DocumentState.PROCESSING
        # a new process starts: its worker retries the abandoned job
        async with _node(tmp_path, db_url) as (nb, svc, _):
            done = await svc.wait_for(a, d.id, 120)
            assert done.state == DocumentState.READY and done.attempts == 2
            kn = nb.knowledge
            await kn.ingestor.stop()
            d2 = await svc.add_text(a, c.id, "A document whose workers keep dying, sadly. " * 3)
            for n in range(repo_mod.MAX_ATTEMPTS):
                assert await kn.repo.claim(f"dead-{n}", lease=-1) == d2.id
            assert await kn.repo.claim("another") is None
            assert await kn.repo.fail_abandoned() == 1
            failed = await svc.get_document(a, d2.id)
            assert failed.state == DocumentState.FAILED
            assert failed.error == f"processing was interrupted {repo_mod.MAX_ATTEMPTS} times"
            # a worker that stops cleanly hands its job back: it resumes, not counted as an attempt
            d3 = await svc.add_text(a, c.id, "A document interrupted by a clean shutdown. " * 3)
            w = Ingestor(kn.repo, kn.vectors, kn.embedder, kn._read_blob)
            assert await kn.repo.claim(w.worker_id) == d3.id
            w._current.add(d3.id)
            await w.stop()
            back = await svc.get_document(a, d3.id)
            assert back.state == DocumentState.PENDING and back.attempts == 0
    run(go())


def test_ask_extractive_cites_retrieved_passages(tmp_path: Path, db_url: str) -> None:
    async def go() -> None:
        async with _node(tmp_path, db_url) as (nb, svc, _):
            a = user("alice")
            c = await svc.create_collection(a, "c")
            for text in (PANDAS_EN, RIVER_ZH):
                d = await svc.add_text(a, c.id, text)
                await svc.wait_for(a, d.id, 120)
            events = await collect(await svc.ask(a, "How much bamboo do pandas eat?"))
            types = [e.type for e in events]
            assert types[0] == "passages" and types[-2:] == ["citations", "done"]
            assert set(types[1:-2]) == {"token"}
            answer = "".join(e.text for e in events if e.type == "token")
            assert answer == events[-1].text
            assert "fourteen kilograms" in answer and "[1]" in answer
            passages = events[0].passages
            cites = events[-2].citations
            assert cites and all(ci.passage == passages[ci.n - 1] for ci in cites)
            # summaries and the mind map come from the same passages
            summary = await collect(await svc.summary(a, c.id))
            assert summary[-2].type == "citations" and len(summary[-2].citations) >= 2
            outline = await svc.mind_map(a, c.id)
            lines = outline.splitlines()
            assert lines[0] == "# c"
            assert sum(1 for ln in lines if ln.startswith("## ")) == 2
            assert all(ln.startswith(("# ", "## ", "### ")) for ln in lines)
    run(go())


def test_input_limits(tmp_path: Path, db_url: str) -> None:
    async def go() -> None:
        async with _node(tmp_path, db_url) as (nb, svc, _):
            a = user("alice")
            with pytest.raises(BadRequest):
                await svc.create_collection(a, "")
            with pytest.raises(BadRequest):
                await svc.create_collection(a, "x" * 201)
            c = await svc.create_collection(a, "c")
            with pytest.raises(BadRequest):
                await svc.add_text(a, c.id, "   ")
            with pytest.raises(BadRequest):
                await svc.add_url(a, c.id, "ftp://example.com/x")
            with pytest.raises(BadRequest):
                await svc.add_file(a, c.id, b"\x00\x01", filename="x.exe", content_type="application/x-msdownload")
            with pytest.raises(NotFound):
                await svc.add_text(a, "nope", "text")
    run(go())


def test_keyword_only_without_an_embedder(tmp_path: Path, db_url: str) -> None:
    async def go() -> None:
        async with _node(tmp_path, db_url, embedding_url="none") as (nb, svc, _):
            assert nb.knowledge.describe()["embedder"] is None
            a = user("alice")
            c = await svc.create_collection(a, "c")
            d = await svc.add_text(a, c.id, PANDAS_ZH)
            assert (await svc.wait_for(a, d.id, 120)).state == DocumentState.READY
            hits = await svc.search(a, "竹子")
            assert hits and list(hits[0].ranks) == ["keyword"]
            assert await svc.search(a, "竹子", mode="vector") == []
    run(go())


def test_wait_for_times_out_as_an_upper_bound(tmp_path: Path, db_url: str) -> None:
    async def go() -> None:
        async with _node(tmp_path, db_url) as (nb, svc, _):
            await nb.knowledge.ingestor.stop()
            a = user("alice")
            c = await svc.create_collection(a, "c")
            d = await svc.add_text(a, c.id, "never processed here, ever.")
            t = time.monotonic()
            with pytest.raises(TimeoutError):
                await svc.wait_for(a, d.id, 0.2)
            assert time.monotonic() - t < 5
    run(go())


def test_sqlite_keyword_query_leaves_out_terms_in_most_chunks(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A term in more than half of all chunks is left out of the FTS5 query (it would score
    every row for no ranking gain); a query of only such terms keeps the rarest."""
    monkeypatch.setattr(repo_mod, "PRUNE_FROM_CHUNKS", 0)  # the real threshold needs 1,000 chunks

    async def go() -> None:
        async with knowledge_node(tmp_path, embedding_url="none") as (nb, svc, _):
            a = user("alice")
            c = await svc.create_collection(a, "c")
            texts = {"bamboo": "Giant pandas eat bamboo all day long in the forest.",
                     "trees": "Giant pandas sleep in the trees after a long meal.",
                     "rivers": "Giant rivers cross the plain on their way to the sea.",
                     "ledger": "The ledger of the harbour lists every ship and its cargo."}
            ids = {}
            for name, text in texts.items():
                d = await svc.add_text(a, c.id, text, title=name)
                assert (await svc.wait_for(a, d.id, 120)).state == DocumentState.READY
                ids[d.id] = name
            # "giant" is in 3 of 4 chunks: only "bamboo" is searched
            hits = await svc.search(a, "giant bamboo", mode="keyword")
            assert [ids[h.document_id] for h in hits] == ["bamboo"]
            # "pandas" is in 2 of 4 (not more than half): kept
            hits = await svc.search(a, "giant pandas", mode="keyword")
            assert sorted(ids[h.document_id] for h in hits) == ["bamboo", "trees"]
            # only common terms: the rarest of them ("pandas", 2 chunks) is kept
            monkeypatch.setattr(repo_mod, "COMMON_TERM_SHARE", 0.25)
            hits = await svc.search(a, "giant pandas", mode="keyword")
            assert sorted(ids[h.document_id] for h in hits) == ["bamboo", "trees"]
    run(go())
