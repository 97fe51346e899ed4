#!/usr/bin/env python3
"""Which server runs nodebase: uvicorn vs granian on nodebase's own ASGI app.

Two parts, each run for every server in turn (alternating, so drift on a shared box hits
both alike):

* **HTTP**: ``bench/crud.py --only nodebase`` (ping, read, list, create with an admin token,
  10,000 rows) with ``NODEBASE_SERVER=<server>``, for 1 and 2 workers.
* **WebSocket room**: the nodebase ASGI app with one extra Starlette WebSocket route
  (``/bench/room``, mounted only by this script) served by ``nodebase.server.serve``; 200
  receivers and 1 sender in one client process (a minimal raw-socket WebSocket
  client, no compression); ~100-byte messages, burst (all at once) and paced (200 msg/s = 40,000
  deliveries/s). Reports deliveries/s, p50/p99 end-to-end latency (sender's monotonic stamp
  to receive), and the server tree's CPU µs per delivery.

Usage::

    .venv/bin/python bench/serving.py                       # both parts, both servers
    .venv/bin/python bench/serving.py --part ws --messages 2000
    .venv/bin/python bench/serving.py --part http --duration 8 --workers 1,2

Everything listens on 127.0.0.1, every run is bounded in time, every process started is
stopped at the end. Needs psutil (dev extra) and wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / ".work" / "results"
SERVERS = ("granian", "uvicorn")
ROOM_PATH = "/bench/room"


# --------------------------------------------------------------------------- server side
_ROOM: set[Any] = set()


def ws_app_factory() -> Any:
    """nodebase's ASGI app plus a WebSocket room route (imported by each server worker)."""
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    from nodebase.app import Nodebase
    from nodebase.kernel.config import load_settings

    async def room(ws: WebSocket) -> None:
        await ws.accept()
        sender = ws.query_params.get("role") == "sender"
        if not sender:
            _ROOM.add(ws)
        try:
            while True:
                text = await ws.receive_text()
                for member in list(_ROOM):
                    await member.send_text(text)
        except WebSocketDisconnect:
            pass
        finally:
            _ROOM.discard(ws)

    nb = Nodebase(load_settings())
    nb.routes.append(WebSocketRoute(ROOM_PATH, room))
    return nb.asgi()


def run_server(server: str, port: int, data_dir: str) -> None:
    from nodebase.kernel.config import load_settings
    from nodebase.server import serve

    settings = load_settings({"server": server, "port": port, "host": "127.0.0.1",
                              "data_dir": data_dir, "workers": 1})
    serve(settings, app="serving:ws_app_factory")


# --------------------------------------------------------------------------- helpers
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_cpu(proc: Any) -> float:
    """CPU seconds (user + system) of a process and its descendants."""
    import psutil

    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def tree_rss_mb(proc: Any) -> float:
    import psutil

    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total / 1024**2


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError("server did not listen in time")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


# --------------------------------------------------------------------------- WebSocket client
class _RawWebSocket(asyncio.Protocol):
    """A minimal WebSocket client (RFC 6455 framing by hand, no compression): the client
    shares the 2 cores with the server, so it must cost far less per frame than the server."""

    def __init__(self, path: str, on_text: Any) -> None:
        self.path = path
        self.on_text = on_text
        self.buf = bytearray()
        self.open = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode())

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(RuntimeError(bytes(buf[:200]).decode(errors="replace")))
                return
            del buf[:end + 4]
            self.open = True
            self.ready.set_result(None)
        pos, n = 0, len(buf)
        while n - pos >= 2:
            size, head = buf[pos + 1] & 0x7F, 2
            if size == 126:
                if n - pos < 4:
                    break
                size, head = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
            elif size == 127:
                if n - pos < 10:
                    break
                size, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
            if n - pos < head + size:
                break
            opcode = buf[pos] & 0x0F
            payload = bytes(buf[pos + head:pos + head + size])
            if opcode == 1:
                self.on_text(payload)
            elif opcode == 9:  # ping → pong
                self.send(payload, opcode=10)
            pos += head + size
        del buf[:pos]

    def send(self, payload: bytes, opcode: int = 1) -> None:
        n = len(payload)
        head = bytes([0x80 | opcode]) + (bytes([0x80 | n]) if n < 126
                                         else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
        self.transport.write(head + b"\x00\x00\x00\x00" + payload)  # mask key 0: payload as is


async def room_load(port: int, receivers: int, messages: int, rate: float,
                    timeout: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    counts = [0] * receivers
    done = asyncio.Event()
    remaining = [receivers]

    def receiver(i: int) -> Any:
        def on_text(payload: bytes) -> None:
            latencies.append((time.monotonic_ns() - int(payload.split(b" ", 2)[1])) / 1e6)
            counts[i] += 1
            if counts[i] == messages:
                remaining[0] -= 1
                if remaining[0] == 0:
                    done.set()
        return on_text

    conns: list[_RawWebSocket] = []
    for i in range(receivers):
        _, proto = await loop.create_connection(
            lambda i=i: _RawWebSocket(ROOM_PATH, receiver(i)), "127.0.0.1", port)
        await proto.ready
        conns.append(proto)
    _, sender = await loop.create_connection(
        lambda: _RawWebSocket(ROOM_PATH + "?role=sender", lambda p: None), "127.0.0.1", port)
    await sender.ready
    await asyncio.sleep(0.5)  # every receiver registered in the room
    pad = b"x" * 60
    start = time.monotonic()
    for seq in range(messages):
        if rate:
            delay = start + seq / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        elif seq % 50 == 0:
            await asyncio.sleep(0)  # let the transport write
        sender.send(b"%d %d %s" % (seq, time.monotonic_ns(), pad))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout)
    elapsed = time.monotonic() - start
    for c in [*conns, sender]:
        c.transport.close()
    delivered = sum(counts)
    latencies.sort()
    return {
        "delivered": delivered,
        "expected": receivers * messages,
        "elapsed_s": elapsed,
        "deliveries_per_s": delivered / elapsed if elapsed else 0.0,
        "p50_ms": latencies[len(latencies) // 2] if latencies else 0.0,
        "p99_ms": latencies[int(len(latencies) * 0.99)] if latencies else 0.0,
    }


def _run(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def ws_part(server: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    import psutil

    port = free_port()
    rows = []
    with tempfile.TemporaryDirectory(prefix="serving-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NODEBASE_")}
        env["PYTHONPATH"] = os.pathsep.join([str(BENCH_DIR), env.get("PYTHONPATH", "")])
        log = open(Path(tmp) / "server.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "_serve", server, str(port), tmp],
            env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_port(port, proc)
            ps = psutil.Process(proc.pid)
            for rate in [0.0, *(float(r) for r in args.rates.split(",") if r)]:
                cpu0 = tree_cpu(ps)
                res = _run(room_load(port, args.receivers, args.messages, rate, args.ws_timeout))
                cpu = tree_cpu(ps) - cpu0
                res.update(server=server, mode=f"paced {rate:g}/s" if rate else "burst",
                           cpu_us_per_delivery=cpu / res["delivered"] * 1e6 if res["delivered"] else None,
                           rss_mb=tree_rss_mb(ps))
                rows.append(res)
                print(json.dumps(res), flush=True)
                time.sleep(1.0)
        finally:
            stop(proc)
            log.close()
    return rows


# --------------------------------------------------------------------------- HTTP via crud.py
def http_part(server: str, workers: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    before = set(RESULTS_DIR.glob("*.json")) if RESULTS_DIR.exists() else set()
    cmd = [sys.executable, str(BENCH_DIR / "crud.py"), "--only", "nodebase", "--skip-prepare",
           "--duration", str(args.duration), "--warmup", str(args.warmup), "--retries", "0",
           "--idle-timeout", "10", "--nodebase-workers", str(workers)]
    if args.nice:
        cmd += ["--nice", str(args.nice)]
    env = dict(os.environ, NODEBASE_SERVER=server)
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, timeout=900)
    new = sorted(set(RESULTS_DIR.glob("*.json")) - before)
    doc = json.loads(new[-1].read_text())
    rows = []
    for r in doc["results"]["nodebase"]:
        row = {"server": server, "workers": workers, "endpoint": r["endpoint"],
               "rps": r["rps"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"],
               "rss_mb": r["rss_peak_mb"], "srv_cores": r["server_cores"],
               "other_cores": r["other_cores"], "errors": r["non2xx"] + r["socket_errors"]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        run_server(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--part", choices=("all", "http", "ws"), default="all")
    p.add_argument("--servers", default=",".join(SERVERS))
    p.add_argument("--rounds", type=int, default=1, help="alternating rounds of every server")
    p.add_argument("--workers", default="1,2", help="HTTP worker counts")
    p.add_argument("--duration", type=float, default=8.0, help="HTTP measured seconds/endpoint")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--nice", type=int, default=0)
    p.add_argument("--receivers", type=int, default=200)
    p.add_argument("--messages", type=int, default=2000)
    p.add_argument("--rates", default="200", help="paced runs, messages per second (comma list)")
    p.add_argument("--ws-timeout", type=float, default=60.0)
    args = p.parse_args()
    servers = [s for s in args.servers.split(",") if s]
    out: dict[str, list[dict[str, Any]]] = {"http": [], "ws": []}
    for _ in range(args.rounds):
        if args.part in ("all", "ws"):
            for s in servers:
                out["ws"] += ws_part(s, args)
        if args.part in ("all", "http"):
            for w in [int(x) for x in args.workers.split(",")]:
                for s in servers:
                    out["http"] += http_part(s, w, args)
    report(out)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"serving-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"results written to {path.relative_to(REPO_DIR)}")
    return 0


def report(out: dict[str, list[dict[str, Any]]]) -> None:
    if out["http"]:
        print("\nHTTP (bench/crud.py, admin token): req/s (p99 ms), median over rounds")
        keys = sorted({(r["workers"], r["endpoint"]) for r in out["http"]})
        servers = sorted({r["server"] for r in out["http"]})
        print("| workers | endpoint | " + " | ".join(servers) + " |")
        print("|---|---|" + "---:|" * len(servers))
        for w, ep in keys:
            cells = []
            for s in servers:
                rs = [r for r in out["http"] if (r["server"], r["workers"], r["endpoint"]) == (s, w, ep)]
                if rs:
                    cells.append(f"{statistics.median(r['rps'] for r in rs):,.0f} "
                                 f"({statistics.median(r['p99_ms'] for r in rs):.1f})")
                else:
                    cells.append("-")
            print(f"| {w} | {ep} | " + " | ".join(cells) + " |")
    if out["ws"]:
        print("\nWebSocket room (200 receivers, 1 sender): deliveries/s, p50/p99 ms, server CPU µs/delivery")
        print("| server | mode | delivered | deliveries/s | p50 ms | p99 ms | CPU µs/delivery | RSS MB |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for r in out["ws"]:
            print(f"| {r['server']} | {r['mode']} | {r['delivered']:,}/{r['expected']:,} | "
                  f"{r['deliveries_per_s']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                  f"{r['cpu_us_per_delivery']:.1f} | {r['rss_mb']:.0f} |")


if __name__ == "__main__":
    sys.exit(main())
