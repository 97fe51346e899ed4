#!/usr/bin/env python3
"""Nano Studio on one local nodebase process (SQLite, the default WordLlama embedder, the
extractive answerer unless ``--llm-url`` is given):

* time from ``POST /api/sessions/from-pdf`` (a generated ``--pages``-page PDF) to ``ready``;
* ``chat/completions`` (streaming): time to the first content token and to ``[DONE]``, one
  client at a time (``--chats`` requests), p50/p99;
* the same with ``--clients`` concurrent clients for ``--seconds``: p50/p99, answers/s, and
  the server's CPU time per answer (user + system, from ``/proc``: the figure that survives
  a loaded machine best) with the load average while it ran.

Usage::

    python bench/studio.py [--pages 50] [--chats 200] [--clients 32] [--seconds 10]
                           [--llm-url http://127.0.0.1:PORT/v1]   # e.g. tests/knowledge/llm_stub.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from tests.knowledge.pdfs import make_pdf  # noqa: E402
from tests.nodeserver import NodeServer  # noqa: E402

QUESTIONS = ["Why do tides rise?", "What do pandas eat?", "How far is the moon?", "What causes seasons?"]


def pages(n: int) -> list[str]:
    facts = ["Tides rise and fall twice a day because the moon pulls the oceans.",
             "Giant pandas eat bamboo for up to fourteen hours a day.",
             "The moon is about three hundred eighty four thousand kilometres away.",
             "Seasons come from the tilt of the earth's axis, not its distance to the sun."]
    return [" ".join(f"Page {i}. {facts[(i + k) % 4]}" for k in range(12)) for i in range(n)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (its threads included), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] * 1000


async def one_chat(client: httpx.AsyncClient, sid: str, q: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    first = 0.0
    async with client.stream("POST", "/api/chat/completions",
                             json={"session_id": sid, "messages": [{"role": "user", "content": q}]}) as r:
        assert r.status_code == 200, await r.aread()
        async for line in r.aiter_lines():
            if not first and line.startswith("data: {") and '"content":"' in line and '"content":""' not in line:
                first = time.perf_counter() - t0
            if line == "data: [DONE]":
                break
    return first, time.perf_counter() - t0


async def run(args: argparse.Namespace) -> None:
    env = {"NODEBASE_APPS": "studio"}
    if args.llm_url:
        env.update({"NODEBASE_LLM_URL": args.llm_url, "NODEBASE_LLM_MODEL": "cite"})
    node = NodeServer(Path(tempfile.mkdtemp(prefix="studio-bench-")), env=env).start(timeout=60)
    try:
        r = httpx.post(node.url + "/api/auth/register",
                       json={"email": f"bench-{secrets.token_hex(3)}@studio.test", "password": "bench-password-1"})
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        async with httpx.AsyncClient(base_url=node.url, headers=headers, timeout=120,
                                     limits=httpx.Limits(max_connections=args.clients + 4)) as client:
            pdf = make_pdf(pages(args.pages))
            t0 = time.perf_counter()
            r = await client.post("/api/sessions/from-pdf", files={"file": ("bench.pdf", pdf, "application/pdf")})
            sid, src = r.json()["data"]["session"]["id"], r.json()["data"]["source"]["id"]
            while (st := (await client.get(f"/api/sources/{src}/rag-status")).json()["data"])["status"] not in (
                    "ready", "failed"):
                await asyncio.sleep(0.02)
            print(f"from-pdf ({args.pages} pages, {st['chunk_count']} chunks) to {st['status']}: "
                  f"{time.perf_counter() - t0:.2f} s")
            for _ in range(5):
                await one_chat(client, sid, QUESTIONS[0])
            seq = [await one_chat(client, sid, QUESTIONS[i % 4]) for i in range(args.chats)]
            firsts, lasts = [f for f, _ in seq], [t for _, t in seq]
            print(f"sequential ({args.chats}): first token p50 {pct(firsts, 50):.1f} ms p99 {pct(firsts, 99):.1f} ms; "
                  f"last p50 {pct(lasts, 50):.1f} ms p99 {pct(lasts, 99):.1f} ms")
            results: list[tuple[float, float]] = []
            stop = time.perf_counter() + args.seconds

            async def worker(i: int) -> None:
                while time.perf_counter() < stop:
                    results.append(await one_chat(client, sid, QUESTIONS[i % 4]))

            assert node.proc is not None
            cpu0, mine0, t0 = cpu_seconds(node.proc.pid), cpu_seconds(os.getpid()), time.perf_counter()
            await asyncio.gather(*(worker(i) for i in range(args.clients)))
            took, cpu = time.perf_counter() - t0, cpu_seconds(node.proc.pid) - cpu0
            mine = cpu_seconds(os.getpid()) - mine0
            firsts, lasts = [f for f, _ in results], [t for _, t in results]
            print(f"{args.clients} concurrent clients, {took:.1f} s: {len(results) / took:.1f} answers/s; first token "
                  f"p50 {pct(firsts, 50):.1f} ms p99 {pct(firsts, 99):.1f} ms; last p50 {pct(lasts, 50):.1f} ms "
                  f"p99 {pct(lasts, 99):.1f} ms; mean {statistics.mean(lasts) * 1000:.1f} ms")
            print(f"server CPU {cpu * 1000 / len(results):.1f} ms per answer ({cpu:.1f} s for {len(results)}); "
                  f"this client's CPU {mine * 1000 / len(results):.1f} ms per answer; load average {os.getloadavg()[0]:.2f}")
    finally:
        node.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=50)
    ap.add_argument("--chats", type=int, default=200)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--llm-url", default="")
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
