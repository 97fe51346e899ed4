"""Knowledge benchmark: nodebase next to chromadb and LanceDB (embedded, what a Python user
picks first) in one run, with the same vectors, the same documents and the same embedder.

    pip install chromadb lancedb jieba      # into the venv that has nodebase[knowledge]
    python bench/knowledge.py               # the quick run (≤ 3 minutes on a quiet machine)
    python bench/knowledge.py --full        # every peer at every size (chromadb's 100k add
                                            # alone takes minutes)
    python bench/knowledge.py --sizes 10000 --queries 100 --pdf-pages 50

Parts (every run is bounded; everything stays in a temporary directory):

1. Vector search at each size: clustered 256-d vectors (like real embeddings, unlike uniform
   noise), queries near stored points, scoped to one collection of the store (the way
   nodebase always searches). p50/p99 latency, sequential queries per second, and recall@10
   against exact numpy search.
2. nodebase hybrid search (keyword + vector + RRF + passage fetch) through the service at
   10k chunks of generated bilingual text.
3. Ingesting a generated 300-page PDF (English and Chinese) and 1,000 web pages served by a
   local HTTP server, with the default embedder: for nodebase the whole pipeline (fetch or
   store the file, extract, chunk, index keywords, embed, store); for the peers the same
   fetch, extraction, chunks and embeddings, then their ``add``. Wall seconds and the
   process CPU seconds of the timed part (all threads, the page server's too: the same for
   every system). ``--ingest-jobs 1,4`` adds nodebase one document at a time next to the
   shipped worker (4 at once); ``--ingest-rounds N`` repeats the part, interleaved.
4. The CJK keyword index: the bigram index nodebase uses next to a jieba word index, on the
   bilingual quality fixture (keyword and hybrid hit@3 / MRR@10) and on indexing speed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as nodebase.knowledge sets it for the server

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DIM = 256
CONCURRENCY = 4  # nodebase.knowledge.ingest.CONCURRENCY, the shipped worker's default


def clustered(n: int, dim: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(10, n // 100), dim)).astype(np.float32)
    which = rng.integers(0, len(centres), size=n)
    vecs = centres[which] + 0.6 * rng.normal(size=(n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs


def queries_for(vecs: np.ndarray, q: int, seed: int = 11) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = vecs[rng.integers(0, len(vecs), size=q)]
    qs = picks + 0.3 * rng.normal(size=picks.shape).astype(np.float32)
    qs /= np.linalg.norm(qs, axis=1, keepdims=True)
    return qs


def exact_top(vecs: np.ndarray, qs: np.ndarray, k: int = 10) -> list[set[int]]:
    out = []
    for q in qs:
        s = vecs @ q
        out.append(set(np.argpartition(-s, k)[:k].tolist()))
    return out


#: process CPU seconds of each query of the current run (all threads: a peer's native threads
#: count too). Unlike latency, it survives a loaded machine.
CPU: list[float] = []


def summarise(name: str, lat: list[float], found: list[set[int]], truth: list[set[int]],
              add_s: float) -> dict[str, Any]:
    lat_ms = sorted(x * 1000 for x in lat)
    recall = statistics.mean(len(f & t) / len(t) for f, t in zip(found, truth, strict=True))
    return {"system": name, "add_s": add_s, "p50_ms": lat_ms[len(lat_ms) // 2],
            "p99_ms": lat_ms[min(len(lat_ms) - 1, int(len(lat_ms) * 0.99))],
            "qps": len(lat) / sum(lat), "recall@10": recall,
            "cpu_ms": statistics.median(CPU) * 1000 if CPU else float("nan")}


# -- part 1: vector search ---------------------------------------------------------------------
def bench_nodebase_vectors(vecs: np.ndarray, qs: np.ndarray, tmp: Path) -> tuple[float, list[float], list[set[int]]]:
    from nodebase.knowledge.vectors import VectorRecord
    from nodebase.knowledge.vectors.embedded import EmbeddedVectorStore

    async def go() -> tuple[float, list[float], list[set[int]]]:
        store = EmbeddedVectorStore(tmp / "vectors.db")
        await store.start()
        t = time.perf_counter()
        for i in range(0, len(vecs), 5000):
            await store.add("bench", [VectorRecord(str(j), f"d{j // 50}", "c", "u", vecs[j])
                                      for j in range(i, min(i + 5000, len(vecs)))])
        add_s = time.perf_counter() - t
        await store.search("bench", qs[0], collection_ids=["c"], k=10)  # loads the matrix
        lat, found = [], []
        for q in qs:
            t, c = time.perf_counter(), time.process_time()
            hits = await store.search("bench", q, collection_ids=["c"], k=10)
            lat.append(time.perf_counter() - t)
            CPU.append(time.process_time() - c)
            found.append({int(h.chunk_id) for h in hits})
        await store.close()
        return add_s, lat, found

    return asyncio.run(go())


def bench_chroma(vecs: np.ndarray, qs: np.ndarray, tmp: Path) -> tuple[float, list[float], list[set[int]]]:
    import chromadb

    client = chromadb.PersistentClient(path=str(tmp / "chroma"))
    col = client.create_collection("bench", metadata={"hnsw:space": "cosine"})
    t = time.perf_counter()
    batch = 5000
    for i in range(0, len(vecs), batch):
        ids = [str(j) for j in range(i, min(i + batch, len(vecs)))]
        col.add(ids=ids, embeddings=vecs[i:i + batch],
                metadatas=[{"collection_id": "c", "document_id": f"d{int(j) // 50}"} for j in ids])
    add_s = time.perf_counter() - t
    col.query(query_embeddings=[qs[0]], n_results=10, where={"collection_id": "c"})
    lat, found = [], []
    for q in qs:
        t, c = time.perf_counter(), time.process_time()
        r = col.query(query_embeddings=[q], n_results=10, where={"collection_id": "c"})
        lat.append(time.perf_counter() - t)
        CPU.append(time.process_time() - c)
        found.append({int(x) for x in r["ids"][0]})
    return add_s, lat, found


def bench_lance(vecs: np.ndarray, qs: np.ndarray, tmp: Path) -> tuple[float, list[float], list[set[int]]]:
    import lancedb
    import pyarrow as pa

    db = lancedb.connect(str(tmp / "lance"))
    t = time.perf_counter()
    table = None
    batch = 20000
    for i in range(0, len(vecs), batch):
        part = vecs[i:i + batch]
        data = pa.table({
            "id": pa.array(range(i, i + len(part)), pa.int64()),
            "collection_id": pa.array(["c"] * len(part)),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(part.reshape(-1)), DIM),
        })
        if table is None:
            table = db.create_table("bench", data)
        else:
            table.add(data)
    assert table is not None
    add_s = time.perf_counter() - t

    def one(q: np.ndarray) -> Any:
        return (table.search(q).metric("cosine").where("collection_id = 'c'", prefilter=True)
                .limit(10).select(["id", "_distance"]).to_arrow())

    one(qs[0])
    lat, found = [], []
    for q in qs:
        t, c = time.perf_counter(), time.process_time()
        r = one(q)
        lat.append(time.perf_counter() - t)
        CPU.append(time.process_time() - c)
        found.append(set(r.column("id").to_pylist()))
    return add_s, lat, found


PEERS: dict[str, Callable[..., tuple[float, list[float], list[set[int]]]]] = {
    "nodebase": bench_nodebase_vectors, "chromadb": bench_chroma, "lancedb": bench_lance}


# -- part 2: hybrid search through the service -----------------------------------------------
WORDS_EN = ["river", "mountain", "bamboo", "panda", "tea", "garden", "rail", "station", "harbour", "ledger", "bread", "starter", "colony", "queen", "window", "packet", "orbit", "crater", "compost", "leaf", "winter", "summer", "market"]
WORDS_ZH = list("长江山竹熊猫茶园林铁路港口面包蜜蜂窗口轨道月球堆肥树叶冬夏市场")


def sentence(rnd: random.Random) -> str:
    if rnd.random() < 0.5:
        return " ".join(rnd.choice(WORDS_EN) for _ in range(12)).capitalize() + ". "
    return "".join(rnd.choice(WORDS_ZH) for _ in range(20)) + "。"


def bench_hybrid(chunks: int, queries: int, tmp: Path) -> dict[str, Any]:
    from tests.knowledge.inprocess import knowledge_node, user

    async def go() -> dict[str, Any]:
        rnd = random.Random(3)
        async with knowledge_node(tmp, embedding_url="") as (nb, svc, _):
            a = user("bench")
            c = await svc.create_collection(a, "bench")
            per_doc = 100
            t = time.perf_counter()
            ids = []
            for _ in range(chunks // per_doc):
                # ~30 sentences ≈ one 384-token chunk
                text = "\n".join("".join(sentence(rnd) for _ in range(30)) for _ in range(per_doc))
                ids.append((await svc.add_text(a, c.id, text)).id)
            for i in ids:
                await svc.wait_for(a, i, 3600)
            ingest_s = time.perf_counter() - t
            n = (await svc.get_collection(a, c.id)).chunk_count
            qs = [f"{rnd.choice(WORDS_EN)} {rnd.choice(WORDS_EN)} {''.join(rnd.choice(WORDS_ZH) for _ in range(3))}"
                  for _ in range(queries)]
            from nodebase.knowledge import repository

            await svc.search(a, qs[0])
            # interleaved A/B: with the common-term pruning (as shipped) and without it
            lat: dict[str, list[float]] = {"hybrid": [], "hybrid, no pruning": [], "keyword": [],
                                           "keyword, no pruning": []}
            shipped = repository.PRUNE_FROM_CHUNKS
            for q in qs:
                for name in lat:
                    repository.PRUNE_FROM_CHUNKS = 10**12 if "no pruning" in name else shipped
                    t = time.perf_counter()
                    await svc.search(a, q, k=10, mode=name.split(",")[0])
                    lat[name].append(time.perf_counter() - t)
            repository.PRUNE_FROM_CHUNKS = shipped
            rows = []
            for name, xs in lat.items():
                ms = sorted(x * 1000 for x in xs)
                rows.append({"mode": name, "p50_ms": ms[len(ms) // 2],
                             "p99_ms": ms[min(len(ms) - 1, int(len(ms) * 0.99))], "qps": len(xs) / sum(xs)})
            return {"chunks": n, "ingest_s": ingest_s, "rows": rows}

    return asyncio.run(go())


# -- part 3: ingest a PDF ----------------------------------------------------------------------
def make_book(pages: int) -> bytes:
    from tests.knowledge.pdfs import make_pdf

    rnd = random.Random(5)
    return make_pdf(["\n".join(sentence(rnd) for _ in range(25)) for _ in range(pages)])


def bench_pdf(pages: int, only: list[str], tmp: Path, jobs: list[int]) -> list[dict[str, Any]]:
    from tests.knowledge.inprocess import knowledge_node, user

    from nodebase.knowledge import chunking
    from nodebase.knowledge.embedding.local import WordLlamaEmbedder
    from nodebase.knowledge.extract.pdf import extract_pdf

    pdf = make_book(pages)
    rows = []
    for n_jobs in jobs if "nodebase" in only else []:
        async def go(n_jobs: int = n_jobs) -> tuple[float, float]:
            async with knowledge_node(tmp / f"nb-pdf-{n_jobs}-{time.time_ns()}", embedding_url="") as (nb, svc, _):
                nb.knowledge.ingestor.concurrency = n_jobs
                a = user("bench")
                c = await svc.create_collection(a, "pdf")
                warm = await svc.add_text(a, c.id, "Warm the model up. " * 20)  # loads it
                await svc.wait_for(a, warm.id, 600)
                t, cpu = time.perf_counter(), time.process_time()
                d = await svc.add_file(a, c.id, pdf, filename="book.pdf", content_type="application/pdf")
                d = await svc.wait_for(a, d.id, 3600)
                assert d.state == "ready", d.error
                return time.perf_counter() - t, time.process_time() - cpu

        secs, cpu_s = asyncio.run(go())
        rows.append({"system": f"nodebase (whole pipeline, {n_jobs} job{'s' if n_jobs > 1 else ''} at once)",
                     "seconds": secs, "cpu_s": cpu_s})
    peers = [p for p in only if p != "nodebase"]
    if peers:
        emb = WordLlamaEmbedder()
        asyncio.run(emb.embed_documents(["warm the model up"]))  # loads it, as nodebase's warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        ex = extract_pdf(pdf)
        pieces = chunking.split(ex.text)
        vecs = np.asarray(asyncio.run(emb.embed_documents([p.text for p in pieces])), dtype=np.float32)
        prep, prep_cpu = time.perf_counter() - t0, time.process_time() - c0
        for peer in peers:
            t, c = time.perf_counter(), time.process_time()
            if peer == "chromadb":
                import chromadb

                col = chromadb.PersistentClient(path=str(tmp / f"chroma-pdf-{time.time_ns()}")).create_collection(
                    "pdf", metadata={"hnsw:space": "cosine"})
                col.add(ids=[str(p.ordinal) for p in pieces], embeddings=vecs,
                        documents=[p.text for p in pieces])
            elif peer == "lancedb":
                import lancedb

                db = lancedb.connect(str(tmp / f"lance-pdf-{time.time_ns()}"))
                db.create_table("pdf", [{"id": p.ordinal, "text": p.text, "vector": v.tolist()}
                                        for p, v in zip(pieces, vecs, strict=True)])
            rows.append({"system": f"{peer} (same extraction + embeddings, then add)",
                         "seconds": prep + time.perf_counter() - t,
                         "cpu_s": prep_cpu + time.process_time() - c})
    return rows


# -- part 3b: ingest web pages from a local server ---------------------------------------------
def make_pages(count: int) -> list[bytes]:
    rnd = random.Random(9)
    pages = []
    for i in range(count):
        paras = "".join(f"<p>{''.join(sentence(rnd) for _ in range(6))}</p>" for _ in range(5))
        pages.append((f"<html><head><title>Page {i}</title></head><body><nav>home | about</nav>"
                      f"<article><h1>Page {i}</h1>{paras}</article><footer>(c) bench</footer>"
                      "</body></html>").encode())
    return pages


class PageServer:
    """The pages on 127.0.0.1 (a free port), one thread per request, stopped on exit."""

    def __init__(self, pages: list[bytes]) -> None:
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                try:
                    body = pages[int(self.path.strip("/").removesuffix(".html"))]
                except (ValueError, IndexError):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> PageServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def bench_pages(count: int, only: list[str], tmp: Path, jobs: list[int]) -> list[dict[str, Any]]:
    import httpx
    from tests.knowledge.inprocess import knowledge_node, user

    from nodebase.knowledge import chunking
    from nodebase.knowledge.embedding.local import WordLlamaEmbedder
    from nodebase.knowledge.extract.html import extract_html

    rows = []
    with PageServer(make_pages(count)) as server:
        urls = [f"{server.url}/{i}.html" for i in range(count)]
        for n_jobs in jobs if "nodebase" in only else []:
            async def go(n_jobs: int = n_jobs) -> tuple[float, float, int]:
                async with knowledge_node(tmp / f"nb-pages-{n_jobs}-{time.time_ns()}", embedding_url="",
                                          fetch_allow_private=True) as (nb, svc, _):
                    nb.knowledge.ingestor.concurrency = n_jobs
                    a = user("bench")
                    c = await svc.create_collection(a, "pages")
                    warm = await svc.add_text(a, c.id, "Warm the model up. " * 20)  # loads it
                    await svc.wait_for(a, warm.id, 600)
                    t, cpu = time.perf_counter(), time.process_time()
                    docs = [await svc.add_url(a, c.id, u) for u in urls]
                    for d in docs:
                        d = await svc.wait_for(a, d.id, 3600)
                        assert d.state == "ready", d.error
                    secs, cpu_s = time.perf_counter() - t, time.process_time() - cpu
                    return secs, cpu_s, (await svc.get_collection(a, c.id)).chunk_count

            secs, cpu_s, chunks = asyncio.run(go())
            rows.append({"system": f"nodebase (whole pipeline, {n_jobs} job{'s' if n_jobs > 1 else ''} at once, "
                                   f"{chunks:,} chunks)", "seconds": secs, "cpu_s": cpu_s})
        peers = [p for p in only if p != "nodebase"]
        if peers:
            emb = WordLlamaEmbedder()
            asyncio.run(emb.embed_documents(["warm the model up"]))  # loads it
            t0, c0 = time.perf_counter(), time.process_time()
            texts: list[str] = []
            with httpx.Client() as http:
                for u in urls:
                    ex = extract_html(http.get(u).text, u)
                    texts.extend(p.text for p in chunking.split(ex.text))
            vecs = np.asarray(asyncio.run(emb.embed_documents(texts)), dtype=np.float32)
            prep, prep_cpu = time.perf_counter() - t0, time.process_time() - c0
            for peer in peers:
                t, c = time.perf_counter(), time.process_time()
                if peer == "chromadb":
                    import chromadb

                    col = chromadb.PersistentClient(path=str(tmp / f"chroma-pages-{time.time_ns()}")).create_collection(
                        "pages", metadata={"hnsw:space": "cosine"})
                    for i in range(0, len(texts), 5000):
                        col.add(ids=[str(j) for j in range(i, min(i + 5000, len(texts)))],
                                embeddings=vecs[i:i + 5000], documents=texts[i:i + 5000])
                elif peer == "lancedb":
                    import lancedb

                    db = lancedb.connect(str(tmp / f"lance-pages-{time.time_ns()}"))
                    db.create_table("pages", [{"id": i, "text": x, "vector": v.tolist()}
                                              for i, (x, v) in enumerate(zip(texts, vecs, strict=True))])
                rows.append({"system": f"{peer} (same fetch, extraction + embeddings, then add)",
                             "seconds": prep + time.perf_counter() - t,
                             "cpu_s": prep_cpu + time.process_time() - c})
    return rows


# -- part 4: CJK keyword index: bigrams vs jieba words -----------------------------------------
def jieba_terms() -> tuple[Callable[[str], str], Callable[[str], list[str]]]:
    """document_terms/query_terms with jieba words for CJK runs (search mode for documents:
    words and their dictionary sub-words), Latin words as nodebase has them."""
    import logging

    import jieba

    from nodebase.knowledge import keywords as kw

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()

    def doc(text: str) -> str:
        out: list[str] = []
        for m in kw._RUN.finditer(text):
            run = m.group()
            if kw._is_cjk(run):
                out.extend(w for w in jieba.cut_for_search(run) if w.strip())
            else:
                out.append(run.lower())
        return " ".join(kw.encode(t) for t in out)

    def query(text: str) -> list[str]:
        terms: list[str] = []
        for m in kw._RUN.finditer(text):
            run = m.group()
            if kw._is_cjk(run):
                terms.extend(w for w in jieba.cut(run) if w.strip())
            elif run.lower() not in kw.STOPWORDS:
                terms.append(run.lower())
        return [kw.encode(t) for t in dict.fromkeys(terms)]

    return doc, query


def bench_cjk(tmp: Path) -> list[dict[str, Any]]:
    from tests.knowledge import quality

    from nodebase.knowledge import ingest, keywords, service
    from nodebase.knowledge.answering import extractive

    corpus, _, _ = quality.load()
    text = "\n".join(d["text"] for d in corpus.values()) * 20
    rows = []
    variants: dict[str, tuple[Any, Any]] = {
        "bigrams (nodebase)": (keywords.document_terms, keywords.query_terms)}
    t = time.perf_counter()
    variants["jieba words"] = jieba_terms()
    load_s = time.perf_counter() - t
    for name, (doc, query) in variants.items():
        saved = (ingest.document_terms, service.query_terms, extractive.document_terms,
                 extractive.query_terms)
        ingest.document_terms, service.query_terms = doc, query
        extractive.document_terms, extractive.query_terms = doc, query
        try:
            t = time.perf_counter()
            doc(text)
            index_s = time.perf_counter() - t
            result = asyncio.run(quality.evaluate(tmp / name.split()[0]))
        finally:
            (ingest.document_terms, service.query_terms, extractive.document_terms,
             extractive.query_terms) = saved
        rows.append({"index": name, "chars_per_s": len(text) / index_s,
                     "load_s": load_s if name.startswith("jieba") else 0.0,
                     **{f"{m} {k}": result[m][k] for m in ("keyword", "hybrid")
                        for k in ("hit@3", "mrr@10")}})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--only", default="nodebase,chromadb,lancedb")
    ap.add_argument("--pdf-pages", type=int, default=300)
    ap.add_argument("--pages", type=int, default=1000, help="web pages to ingest (0: skip)")
    ap.add_argument("--hybrid-chunks", type=int, default=2000)
    ap.add_argument("--ingest-jobs", default=str(CONCURRENCY),
                    help="nodebase ingestion jobs at once, one row each: '1,4' compares one "
                         "document at a time with the shipped worker")
    ap.add_argument("--ingest-rounds", type=int, default=1,
                    help="repeat the ingest part, nodebase and the peers interleaved")
    ap.add_argument("--no-cjk", action="store_true", help="skip the bigram/jieba comparison")
    ap.add_argument("--full", action="store_true",
                    help="chromadb at every size and 10k hybrid chunks (the quick run keeps "
                         "chromadb to 10k vectors: its 100k add alone takes minutes)")
    args = ap.parse_args()
    if args.full:
        args.hybrid_chunks = max(args.hybrid_chunks, 10000)
    only = [s for s in args.only.split(",") if s]
    warnings.simplefilter("ignore")
    tmp = Path(tempfile.mkdtemp(prefix="nb-kbench-"))
    load = "load average at start {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    print(f"{load} (2 cores: above ~2, latencies scale with the load; CPU ms/query much less)\n")
    try:
        print("## Vector search (256-d, k=10, scoped to one collection)\n")
        print("| vectors | system | add s | p50 ms | p99 ms | queries/s | CPU ms/query (median) | recall@10 |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|")
        for size in (int(s) for s in args.sizes.split(",") if s):
            vecs = clustered(size, DIM)
            qs = queries_for(vecs, args.queries)
            truth = exact_top(vecs, qs)
            for name in only:
                if name == "chromadb" and size > 10000 and not args.full:
                    print(f"| {size:,} | chromadb | (--full) | | | | | |", flush=True)
                    continue
                d = tmp / f"{name}-{size}"
                d.mkdir()
                CPU.clear()
                add_s, lat, found = PEERS[name](vecs, qs, d)
                r = summarise(name, lat, found, truth, add_s)
                print(f"| {size:,} | {name} | {r['add_s']:.1f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                      f"{r['qps']:.0f} | {r['cpu_ms']:.2f} | {r['recall@10']:.3f} |", flush=True)
                shutil.rmtree(d, ignore_errors=True)
        if args.hybrid_chunks and "nodebase" in only:
            h = bench_hybrid(args.hybrid_chunks, args.queries, tmp / "hybrid")
            print(f"\n## nodebase hybrid search through the service ({h['chunks']:,} chunks, WordLlama)\n")
            print(f"ingest {h['ingest_s']:.1f} s; generated text of ~50 distinct words, so every "
                  "query term is in most chunks (the worst case for the keyword side)\n")
            print("| mode | p50 ms | p99 ms | queries/s |\n|---|---:|---:|---:|")
            for r in h["rows"]:
                print(f"| {r['mode']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['qps']:.0f} |", flush=True)
        jobs = [int(j) for j in args.ingest_jobs.split(",") if j]
        ingest_head = ("| round | system | seconds | CPU s (process, all threads) | load |\n"
                       "|---:|---|---:|---:|---:|")
        if args.pdf_pages:
            print(f"\n## Ingest a {args.pdf_pages}-page PDF (WordLlama embeddings)\n")
            print(ingest_head)
            for n in range(args.ingest_rounds):
                for row in bench_pdf(args.pdf_pages, only, tmp, jobs):
                    print(f"| {n + 1} | {row['system']} | {row['seconds']:.1f} | {row['cpu_s']:.1f} | "
                          f"{os.getloadavg()[0]:.1f} |", flush=True)
        if args.pages:
            print(f"\n## Ingest {args.pages:,} web pages from a local server (WordLlama embeddings)\n")
            print(ingest_head)
            for n in range(args.ingest_rounds):
                for row in bench_pages(args.pages, only, tmp, jobs):
                    print(f"| {n + 1} | {row['system']} | {row['seconds']:.1f} | {row['cpu_s']:.1f} | "
                          f"{os.getloadavg()[0]:.1f} |", flush=True)
        if not args.no_cjk:
            print("\n## CJK keyword index on the bilingual fixture (python -m tests.knowledge.quality)\n")
            print("| index | indexing chars/s | dictionary load s | keyword hit@3 | keyword MRR@10 "
                  "| hybrid hit@3 | hybrid MRR@10 |\n|---|---:|---:|---:|---:|---:|---:|")
            for r in bench_cjk(tmp / "cjk"):
                print(f"| {r['index']} | {r['chars_per_s']:,.0f} | {r['load_s']:.1f} | "
                      f"{r['keyword hit@3']:.2f} | {r['keyword mrr@10']:.3f} | "
                      f"{r['hybrid hit@3']:.2f} | {r['hybrid mrr@10']:.3f} |", flush=True)
        print("\nload average at end {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
