#!/usr/bin/env python3
"""Event-to-webhook benchmark: what a webhook flow costs the create route, and how fast and
how late its deliveries arrive.

Starts nodebase on 127.0.0.1 (SQLite in a temp dir, or ``--database-url``), creates an admin
and a ``posts`` entity, then:

1. drives ``POST /api/data/entity/posts`` with wrk for ``--duration`` s (no flow);
2. adds an event flow (``data.create.after`` on posts → signed ``webhook`` to a local
   receiver) and drives the same route again;
3. waits until every row created in (2) was delivered: deliveries/s is that drain rate;
4. creates rows at a steady ``--rate`` per second (below the delivery capacity) and reports
   the delay from commit (the run row is written in the create's transaction) to arrival at
   the receiver, p50 / p99. Under (2)'s saturating load the delay only measures the backlog.

Usage::

    python bench/flows.py [--duration 10] [--nice -10] [--database-url postgresql://...]

Besides req/s it reports the server's CPU time per create (``cpu_ms_per_create``, plain) and per
create + its delivery (``cpu_ms_per_create_with_webhook``: all server CPU from the start of (2)
until the backlog is delivered, divided by the rows created). Their ratio is what the flow
costs a CPU-bound node, and it does not depend on what else the machine is running.

Requires wrk (scripts/install-test-deps.sh). Everything it starts is stopped on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil

BENCH_DIR = Path(__file__).resolve().parent
LUA_SCRIPT = BENCH_DIR / "lua" / "request.lua"
CREATE_BODY = '{"title":"wrk post","body":"Lorem ipsum dolor sit amet consectetur adipiscing elit","views":42}'
ENTITY = {"name": "posts", "fields": {"title": {"type": "text"}, "body": {"type": "text"},
                                      "views": {"type": "number"}}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"null")


class Receiver:
    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                now = time.time()
                self.rfile.read(int(self.headers.get("content-length") or 0))
                delivery = self.headers.get("x-nodebase-delivery", "")
                with receiver.lock:
                    receiver.arrivals.setdefault(delivery.split(":")[0], now)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self) -> int:
        with self.lock:
            return len(self.arrivals)


def wrk(url: str, token: str, duration: int, connections: int, nice: int = 0) -> dict[str, Any]:
    env = dict(os.environ, BENCH_METHOD="POST", BENCH_AUTH=f"Bearer {token}", BENCH_BODY=CREATE_BODY)
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "-s", str(LUA_SCRIPT), url]
    out = subprocess.run(with_nice(cmd, nice),
                         env=env, capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            summary = dict(json.loads(line[len("BENCH_JSON "):]))
            summary["rps"] = summary["requests"] / (summary["duration_us"] / 1e6)
            return summary
    raise RuntimeError(f"wrk gave no summary:\n{out}")


def with_nice(cmd: list[str], nice: int) -> list[str]:
    return ["nice", "-n", str(nice), *cmd] if nice else cmd


def boost_autogroup(pid: int, nice: int) -> None:
    """Give the process's scheduler autogroup the nice value too (root; best effort)."""
    if nice:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/autogroup").write_text(f"{nice}\n")


def server_cpu_split(pid: int) -> tuple[float, float]:
    """CPU seconds (user, system) of the server and its children (workers)."""
    user = system = 0.0
    proc = psutil.Process(pid)
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            user += t.user
            system += t.system
    return user, system


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per phase (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--rate", type=float, default=20, help="creates/s of the latency phase (default 20)")
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    parser.add_argument("--nice", type=int, default=0, help="run the server and wrk under nice -n N")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="nb-bench-flows-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NODEBASE_")}
    env.update(NODEBASE_DATA_DIR=str(tmp / "data"), NODEBASE_PROJECT_DIR=str(tmp),
               NODEBASE_FETCH_ALLOW_PRIVATE="true")
    if args.database_url:
        env["NODEBASE_DATABASE_URL"] = args.database_url
    log = (tmp / "server.log").open("wb")
    server = subprocess.Popen(with_nice([sys.executable, "-m", "nodebase", "serve", "--port", str(port)],
                                        args.nice),
                              env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    boost_autogroup(server.pid, args.nice)
    receiver = Receiver()
    try:
        for _ in range(400):
            try:
                http("GET", base + "/api/system/ping")
                break
            except OSError:
                time.sleep(0.05)
        subprocess.run([sys.executable, "-m", "nodebase", "user", "create", "--email", "bench@example.com",
                        "--password=bench-password-1", "--role", "admin"], env=env, cwd=tmp, check=True,
                       capture_output=True)
        token = http("POST", base + "/api/auth/password/login",
                     {"email": "bench@example.com", "password": "bench-password-1"})["token"]
        http("POST", base + "/api/system/config/add/data/entities.posts", ENTITY, token)
        url = base + "/api/data/entity/posts"
        wrk(url, token, 2, args.connections, args.nice)  # warm-up
        split0 = server_cpu_split(server.pid)
        plain = wrk(url, token, args.duration, args.connections, args.nice)
        split1 = server_cpu_split(server.pid)
        sys_plain = (split1[1] - split0[1]) / max(1, plain["requests"]) * 1000
        cpu_plain = (sum(split1) - sum(split0)) / max(1, plain["requests"]) * 1000
        print(f"create without a flow: {plain['rps']:.0f} req/s, p50 {plain['p50_us'] / 1000:.2f} ms, "
              f"p99 {plain['p99_us'] / 1000:.2f} ms, {cpu_plain:.3f} ms server CPU per create", flush=True)

        http("POST", base + "/api/system/config/add/flows/flows.webhook", {
            "trigger": {"type": "event", "config": {"event": "data.create.after", "entity": "posts"}},
            "tasks": {"hook": {"type": "webhook", "params": {"url": receiver.url, "secret": "bench-secret"}}},
            "start_task": "hook"}, token)
        start = time.time()
        split0 = server_cpu_split(server.pid)
        hooked = wrk(url, token, args.duration, args.connections, args.nice)
        created = hooked["requests"] - hooked["err_status"]
        print(f"create with a webhook flow: {hooked['rps']:.0f} req/s, p50 {hooked['p50_us'] / 1000:.2f} ms, "
              f"p99 {hooked['p99_us'] / 1000:.2f} ms ({hooked['rps'] / plain['rps'] * 100:.0f}% of the plain "
              "route)", flush=True)
        deadline = time.time() + 300
        while receiver.count() < created and time.time() < deadline:
            time.sleep(0.2)
        delivered = receiver.count()
        split1 = server_cpu_split(server.pid)
        cpu_hooked = (sum(split1) - sum(split0)) / max(1, created) * 1000
        sys_hooked = (split1[1] - split0[1]) / max(1, created) * 1000
        print(f"server CPU per create + delivery: {cpu_hooked:.3f} ms "
              f"(the flow costs {(1 - cpu_plain / cpu_hooked) * 100:.0f}% of a CPU-bound node)", flush=True)
        last = max(receiver.arrivals.values()) if receiver.arrivals else start
        saturated = set(receiver.arrivals)
        # (4) steady rate, below the delivery capacity: the commit → delivery delay itself
        paced_start = time.time()
        n = int(args.rate * args.duration)
        paced_rows: set[Any] = set()
        for i in range(n):
            target = paced_start + i / args.rate
            pause = target - time.time()
            if pause > 0:
                time.sleep(pause)
            paced_rows.add(http("POST", url, json.loads(CREATE_BODY), token)["data"]["id"])
        deadline = time.time() + 120
        while receiver.count() < len(saturated) + n and time.time() < deadline:  # stragglers too
            time.sleep(0.1)
        # commit time of each paced delivery: its run row is written in the create's transaction
        started: dict[str, float] = {}
        offset = 0
        while True:
            page = http("GET", f"{base}/api/flows/runs?flow=webhook&limit=500&offset={offset}", token=token)
            for run in page["data"]:
                if run["input"]["id"] in paced_rows:
                    started[run["id"]] = datetime.fromisoformat(run["started_at"].replace("Z", "+00:00")).timestamp()
            offset += 500
            if offset >= page["meta"]["total"]:
                break
        delays = [(t - started[rid]) * 1000 for rid, t in receiver.arrivals.items() if rid in started]
        result = {
            "create_rps_plain": round(plain["rps"], 1),
            "create_rps_with_webhook": round(hooked["rps"], 1),
            "create_cost_pct": round((1 - hooked["rps"] / plain["rps"]) * 100, 1),
            "cpu_ms_per_create": round(cpu_plain, 3),
            "cpu_ms_per_create_with_webhook": round(cpu_hooked, 3),
            "cpu_cost_pct": round((1 - cpu_plain / cpu_hooked) * 100, 1),
            # the kernel's share (system time: sockets, the SQLite WAL writes) of the two above
            "sys_ms_per_create": round(sys_plain, 3),
            "sys_ms_per_create_with_webhook": round(sys_hooked, 3),
            "loadavg_1m": round(os.getloadavg()[0], 2),
            "rows_created": created,
            "delivered": delivered,
            "deliveries_per_s": round(delivered / max(1e-9, last - start), 1),
            "paced_rate_per_s": args.rate,
            "paced_delivered": len(delays),
            "commit_to_delivery_p50_ms": round(statistics.median(delays), 1) if delays else None,
            "commit_to_delivery_p99_ms": round(percentile(delays, 99), 1) if delays else None,
            "database": "postgresql" if args.database_url else "sqlite",
            "duration_s": args.duration,
            "connections": args.connections,
        }
        print(json.dumps(result, indent=2))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        receiver.server.shutdown()


if __name__ == "__main__":
    main()
