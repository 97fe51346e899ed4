#!/usr/bin/env python3
"""Where a webhook delivery's CPU goes: each stage of one delivery timed on its own, in one
process, in CPU time (``time.process_time``: this process and its threads, which include the
SQLite WAL checkpointer), so it hardly depends on what else the machine runs.

The receiver runs in a child process (its CPU is not counted). Stages, each repeated ``-n``
times (32 at once, as the runner executes them, unless said otherwise):

* ``http_post`` — ``kernel.outbound.fetch`` POSTing a signed-size JSON body over the pooled
  connections (the client side of one delivery);
* ``empty_tx`` — a write transaction with nothing in it (what ``outbox_insert`` also pays but a
  create shares with its own row);
* ``outbox_insert`` — the run row written by the data change's transaction (one per
  transaction, as a create writes it);
* ``execute`` — the run executed (template scope, body, signature, the POST, its record)
  without storing it;
* ``finish`` — storing the finished run (checkpoints committed in batches);
* ``delivery`` — all of it through the runner: insert in a transaction, spawn after the
  commit, execute, finish (what ``bench/flows.py`` adds to a create, less the event dispatch).

Usage: ``python bench/flows_delivery.py [-n 3000]`` (about 20 s on a quiet 2-core box).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

RECEIVER = textwrap.dedent("""
    import asyncio, sys

    class Handler(asyncio.Protocol):
        def connection_made(self, t):
            self.t, self.buf = t, b""
        def data_received(self, data):
            self.buf += data
            while True:
                head, sep, rest = self.buf.partition(b"\\r\\n\\r\\n")
                if not sep:
                    return
                length = 0
                for line in head.split(b"\\r\\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v)
                if len(rest) < length:
                    return
                self.buf = rest[length:]
                self.t.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n")

    async def main():
        server = await asyncio.get_running_loop().create_server(Handler, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
""")


PROFILE: str | None = None


async def timed(name: str, n: int, concurrency: int, one: Callable[[int], Awaitable[Any]],
                results: dict[str, float]) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def guarded(i: int) -> None:
        async with sem:
            await one(i)

    await asyncio.gather(*(guarded(i) for i in range(min(n, 64))))  # warm-up
    profiler = None
    if name == PROFILE:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t0 = time.process_time()
    await asyncio.gather(*(guarded(i) for i in range(n)))
    results[name] = round((time.process_time() - t0) / n * 1e6, 1)
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    print(f"{name:>14}: {results[name]:7.1f} µs CPU each", flush=True)


async def run(n: int, url: str, tmp: Path) -> dict[str, float]:
    from nodebase.flows.definition import Lookups, parse_flow
    from nodebase.flows.execution import Execution
    from nodebase.flows.repository import RunRepository, ddl
    from nodebase.flows.runner import Runner, Services
    from nodebase.kernel import outbound
    from nodebase.kernel.database import open_database

    db = open_database(f"sqlite:///{tmp / 'bench.db'}")
    await db.connect()
    await db.execute_script(ddl(db))
    repo = RunRepository(db)
    doc = {"trigger": {"type": "event", "config": {"event": "data.create.after", "entity": "posts"}},
           "tasks": {"hook": {"type": "webhook", "params": {"url": url, "secret": "bench-secret"}}},
           "start_task": "hook"}
    flow = parse_flow("webhook", doc, Lookups({"webhook"}, {"flows.run"}))
    services = Services(None, True, {"webhook": flow})  # type: ignore[arg-type]
    runner = Runner(repo, services, "bench-node")
    row = {"id": 1, "title": "wrk post", "body": "Lorem ipsum dolor sit amet consectetur adipiscing elit",
           "views": 42, "created_at": "2031-03-04T02:00:00.123Z"}
    meta = {"event": "data.create.after", "entity": "posts"}
    body = json.dumps({"event": "data.create.after", "entity": "posts", "data": row,
                       "at": "2031-03-04T02:00:00.123Z"}).encode()
    results: dict[str, float] = {}

    async def http_post(i: int) -> None:
        r = await outbound.fetch("POST", url, body=body, allow_private=True, max_redirects=0,
                                 headers={"Content-Type": "application/json", "X-Nodebase-Signature": "t=1,v1=x"})
        assert r.status == 200

    async def empty_tx(i: int) -> None:
        async with db.transaction() as tx:
            await tx.execute("SELECT 1")

    async def outbox_insert(i: int) -> None:
        async with db.transaction() as tx:
            await runner.enqueue(runner.new_run(flow, row, "event", meta), ex=tx)

    async def execute(i: int) -> None:
        run = runner.new_run(flow, row, "event", meta)
        await Execution(run.id, flow, run.input, run.state, run.tasks, services).drive()

    pending: list[Any] = []
    for _ in range(n + 64):
        run = runner.new_run(flow, row, "event", meta)
        await runner.enqueue(run)
        run.status, run.finished_at = run.status.SUCCESS, time.time()
        run.tasks.append({"task": "hook", "status": "success", "started_at": time.time(),
                          "duration_ms": 1.0, "attempts": 1, "output": {"status": 200, "attempts": 1}})
        pending.append(run)

    async def finish(i: int) -> None:
        run = pending.pop()
        assert await runner.checkpoints.store(run, runner.owner, lease_until=None, wake_at=time.time(),
                                              release=True)

    async def delivery(i: int) -> None:
        async with db.transaction() as tx:
            run = runner.new_run(flow, row, "event", meta)
            await runner.enqueue(run, ex=tx)
        runner.spawn([run])
        await runner._active[run.id]  # executed and stored (runner.wait would read the row back)

    try:
        await timed("http_post", n, 32, http_post, results)
        await timed("empty_tx", n, 1, empty_tx, results)
        await timed("outbox_insert", n, 1, outbox_insert, results)
        await timed("execute", n, 32, execute, results)
        await timed("finish", n, 32, finish, results)
        await timed("delivery", n, 32, delivery, results)
    finally:
        await runner.stop()
        await outbound.close_pools()
        await db.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=3000, help="repetitions per stage (default 3000)")
    parser.add_argument("--profile", metavar="STAGE", help="print a cProfile of one stage")
    args = parser.parse_args()
    global PROFILE
    PROFILE = args.profile
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        with tempfile.TemporaryDirectory(prefix="nb-bench-delivery-") as tmp:
            try:
                import uvloop

                runner_fn: Any = uvloop.run
            except ImportError:
                runner_fn = asyncio.run
            results = runner_fn(run(args.n, f"http://127.0.0.1:{port}/hook", Path(tmp)))
        import os

        print(json.dumps({"us_cpu": results, "n": args.n, "loadavg_1m": round(os.getloadavg()[0], 2)}))
    finally:
        receiver.kill()
        receiver.wait()


if __name__ == "__main__":
    main()
