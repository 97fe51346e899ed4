#!/usr/bin/env python3
"""Room fan-out benchmark: nodebase realtime vs python-socketio (uvicorn) vs Socket.IO 4.8
(Node 20), the same load for each, in one run.

1 publisher + 200 subscribers on one channel, 100-byte messages; the subscribers are spread
over ``--clients`` client processes (Python ``websockets``; the Socket.IO servers are spoken to with the same
client speaking Engine.IO 4 / Socket.IO 5 frames, so the client cost is the same for all).
Modes: ``burst`` (all messages sent at once: deliveries/s) and ``paced`` (200 msg/s =
40,000 deliveries/s: p50/p99 end-to-end latency). Server CPU µs per delivery (user+system
of the server's process tree over the run) and peak RSS are measured with psutil.

Prepares the peers on first use in bench/.work/ (a venv with uvicorn + python-socketio, and
npm's socket.io@4.8). Everything it starts is stopped on exit.

Usage::

    python bench/realtime.py [--messages 2000] [--subscribers 200] [--only nodebase,nodebase-uvicorn,pysio,sio]
                             [--modes burst,paced] [--rate 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.nodeserver import NodeServer  # noqa: E402
from tests.support.services import free_port  # noqa: E402

WORK = ROOT / "bench" / ".work"
PAD = "x" * 60  # {"t": <19 digits>, "p": "<60>"} ≈ 100 bytes on the wire with the envelope

PYSIO_SERVER = '''
import socketio
sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")

@sio.event
async def join(sid, room):
    await sio.enter_room(sid, room)
    return "ok"

@sio.event
async def msg(sid, data):
    await sio.emit("msg", data, room="bench", skip_sid=sid)

app = socketio.ASGIApp(sio)
'''

NODE_SERVER = '''
const { Server } = require("socket.io");
const io = new Server(Number(process.env.PORT), { perMessageDeflate: false, transports: ["websocket"] });
io.on("connection", (s) => {
  s.on("join", (room, ack) => { s.join(room); if (ack) ack("ok"); });
  s.on("msg", (d) => s.to("bench").emit("msg", d));
});
'''


def log(*a: Any) -> None:
    print(*a, file=sys.stderr, flush=True)


# -- servers -------------------------------------------------------------------------------
class Server:
    name = ""
    proc: subprocess.Popen[bytes] | None = None
    port = 0

    def start(self) -> None: ...

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)

    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def wait_port(self) -> None:
        import socket

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not listen on {self.port}")


class Nodebase(Server):
    name = "nodebase (granian, default config)"

    def __init__(self, env: dict[str, str]) -> None:
        self.tmp = tempfile.mkdtemp(prefix="rt-bench-")
        self.node = NodeServer(Path(self.tmp), env=env)
        self.token = ""

    def start(self) -> None:
        self.node.start()
        self.proc = self.node.proc
        self.port = self.node.port
        email, password = "bench@nodebase.test", "bench-password-123"
        self.node.cli("user", "create", "--email", email, f"--password={password}", "--role", "admin")
        import httpx

        r = httpx.post(self.node.url + "/api/auth/password/login", json={"email": email, "password": password})
        self.token = r.json()["token"]

    def stop(self) -> None:
        self.node.stop()


class NodebaseUvicorn(Nodebase):
    """The same app under uvicorn + websockets-sansio (uvicorn from bench/.work/rt-venv)."""

    name = "nodebase (uvicorn, websockets-sansio)"

    def start(self) -> None:
        site = ensure_rt_venv() / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
        env = self.node.env()
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(site)])
        self.port = self.node.port
        self.node.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "nodebase.server:app_factory", "--port", str(self.port),
             "--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio",
             "--ws-per-message-deflate", "false", "--log-level", "warning"],
            env=env, cwd=self.node.data_dir, start_new_session=True, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self.node.proc = self.proc
        self.wait_port()
        email, password = "bench@nodebase.test", "bench-password-123"
        self.node.cli("user", "create", "--email", email, f"--password={password}", "--role", "admin")
        import httpx

        r = httpx.post(self.node.url + "/api/auth/password/login", json={"email": email, "password": password})
        self.token = r.json()["token"]


def ensure_rt_venv() -> Path:
    venv = WORK / "rt-venv"
    if not (venv / "bin" / "uvicorn").exists():
        log("preparing bench/.work/rt-venv (uvicorn, python-socketio) ...")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "uvicorn[standard]>=0.30",
                        "python-socketio>=5.11"], check=True)
    return venv


class PySio(Server):
    name = "python-socketio (uvicorn, websockets-sansio)"

    def start(self) -> None:
        venv = ensure_rt_venv()
        (WORK / "rt_pysio_server.py").write_text(PYSIO_SERVER)
        self.port = free_port()
        self.proc = subprocess.Popen(
            [str(venv / "bin" / "uvicorn"), "rt_pysio_server:app", "--port", str(self.port), "--loop", "uvloop",
             "--http", "httptools", "--ws", "websockets-sansio", "--ws-per-message-deflate", "false",
             "--log-level", "warning"],
            cwd=WORK, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_port()


class NodeSio(Server):
    name = "Socket.IO 4.8 (Node 20)"

    def start(self) -> None:
        home = WORK / "rt-node"
        if not (home / "node_modules" / "socket.io").exists():
            log("preparing bench/.work/rt-node (npm socket.io@4.8) ...")
            home.mkdir(parents=True, exist_ok=True)
            subprocess.run(["npm", "init", "-y"], cwd=home, check=True, capture_output=True)
            subprocess.run(["npm", "install", "--silent", "socket.io@4.8"], cwd=home, check=True)
        (home / "server.js").write_text(NODE_SERVER)
        self.port = free_port()
        self.proc = subprocess.Popen(["node", "server.js"], cwd=home, env={**os.environ, "PORT": str(self.port)},
                                     start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_port()


# -- the two client dialects -----------------------------------------------------------------
class Dialect:
    async def open(self, server: Server) -> ClientConnection: ...

    async def join(self, conn: ClientConnection) -> None: ...

    def publish_frame(self, payload: dict[str, Any]) -> str: ...

    def delivery(self, frame: str | bytes) -> dict[str, Any] | None: ...

    async def answer(self, conn: ClientConnection, frame: str | bytes) -> None:
        """Protocol chores (Engine.IO pings)."""


class NodebaseDialect(Dialect):
    def __init__(self, token: str) -> None:
        self.token = token

    async def open(self, server: Server) -> ClientConnection:
        return await connect(f"ws://127.0.0.1:{server.port}/api/realtime?token={self.token}", compression=None,
                             max_queue=None, ping_interval=None)

    async def join(self, conn: ClientConnection) -> None:
        await conn.send('{"op":"subscribe","channel":"bench"}')
        while json.loads(await conn.recv()).get("op") != "subscribed":
            pass

    def publish_frame(self, payload: dict[str, Any]) -> str:
        return json.dumps({"op": "publish", "channel": "bench", "data": payload})

    def delivery(self, frame: str | bytes) -> dict[str, Any] | None:
        if isinstance(frame, str) and frame.startswith('{"op":"event"'):
            data: dict[str, Any] = json.loads(frame)["data"]
            return data
        return None


class SocketIoDialect(Dialect):
    async def open(self, server: Server) -> ClientConnection:
        conn = await connect(f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket",
                             compression=None, max_queue=None, ping_interval=None)
        opening = await conn.recv()
        assert str(opening).startswith("0"), opening
        await conn.send("40")
        while not str(await conn.recv()).startswith("40"):
            pass
        return conn

    async def join(self, conn: ClientConnection) -> None:
        await conn.send('421["join","bench"]')
        while not str(await conn.recv()).startswith("431"):
            pass

    def publish_frame(self, payload: dict[str, Any]) -> str:
        return "42" + json.dumps(["msg", payload])

    def delivery(self, frame: str | bytes) -> dict[str, Any] | None:
        if isinstance(frame, str) and frame.startswith('42["msg"'):
            data: dict[str, Any] = json.loads(frame[2:])[1]
            return data
        return None

    async def answer(self, conn: ClientConnection, frame: str | bytes) -> None:
        if frame == "2":
            await conn.send("3")


# -- one run ---------------------------------------------------------------------------------
@dataclass
class Result:
    server: str
    mode: str
    deliveries: int = 0
    expected: int = 0
    seconds: float = 0.0
    latencies: list[int] = field(default_factory=list)
    cpu: float = 0.0
    peak_rss: int = 0
    closed: int = 0

    def row(self) -> str:
        rate = self.deliveries / self.seconds if self.seconds else 0
        lat = sorted(self.latencies)
        p50 = lat[len(lat) // 2] / 1e6 if lat else float("nan")
        p99 = lat[int(len(lat) * 0.99) - 1] / 1e6 if lat else float("nan")
        us = self.cpu / self.deliveries * 1e6 if self.deliveries else float("nan")
        lat_cols = "–" if self.mode == "burst" else f"{p50:.1f}", "–" if self.mode == "burst" else f"{p99:.1f}"
        return (f"| {self.server} | {self.mode} | {rate:,.0f} | {lat_cols[0]} | {lat_cols[1]} | {us:.2f} | "
                f"{self.peak_rss / 2**20:.0f} MB | {self.deliveries:,}/{self.expected:,} |")


def tree(pid: int) -> list[psutil.Process]:
    p = psutil.Process(pid)
    return [p, *p.children(recursive=True)]


def tree_cpu(pid: int) -> float:
    return sum(sum(p.cpu_times()[:2]) for p in tree(pid))


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self) -> None:
        while self.running:
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, sum(p.memory_info().rss for p in tree(self.pid)))
            time.sleep(0.05)


def _receiver_process(dialect: Dialect, port: int, n: int, messages: int, ready: Any, results: Any) -> None:
    """A client process: ``n`` subscribers; reports (count, latencies ns, last receive time)."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def go() -> None:
        target = _Port(port)
        subs = [await dialect.open(target) for _ in range(n)]
        for c in subs:
            await dialect.join(c)
        latencies: list[int] = []
        last = [0.0]
        closed = [0]

        async def receive(conn: ClientConnection) -> None:
            mine = 0
            try:
                async for frame in conn:
                    d = dialect.delivery(frame)
                    if d is None:
                        await dialect.answer(conn, frame)
                        continue
                    latencies.append(time.perf_counter_ns() - d["t"])
                    last[0] = time.perf_counter()
                    mine += 1
                    if mine >= messages:
                        return
            except Exception:
                closed[0] += 1

        tasks = [asyncio.create_task(receive(c)) for c in subs]
        ready.put("ready")
        done, pending = await asyncio.wait(tasks, timeout=180)
        for t in pending:
            t.cancel()
        results.put((len(latencies), latencies, last[0], closed[0] + len(pending)))
        for c in subs:
            await c.close()

    asyncio.run(go())


class _Port(Server):
    def __init__(self, port: int) -> None:
        self.port = port


def fan_out(server: Server, dialect: Dialect, mode: str, subscribers: int, messages: int, rate: float,
            clients: int) -> Result:
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    ready, results = ctx.Queue(), ctx.Queue()
    shares = [subscribers // clients + (1 if i < subscribers % clients else 0) for i in range(clients)]
    procs = [ctx.Process(target=_receiver_process, args=(dialect, server.port, k, messages, ready, results))
             for k in shares if k]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=120)
    result = Result(server.name, mode, expected=subscribers * messages)

    async def publish() -> float:
        pub = await dialect.open(server)

        async def drain() -> None:
            async for frame in pub:
                await dialect.answer(pub, frame)

        drainer = asyncio.create_task(drain())
        t0 = time.perf_counter()
        for i in range(messages):
            if mode == "paced":
                delay = t0 + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await pub.send(dialect.publish_frame({"t": time.perf_counter_ns(), "p": PAD}))
        await asyncio.sleep(0.5)  # let the last publish answers arrive before closing
        drainer.cancel()
        await pub.close()
        return t0

    sampler = RssSampler(server.pid())
    sampler.start()
    cpu0 = tree_cpu(server.pid())
    t0 = asyncio.run(publish())
    last = t0
    for _ in procs:
        count, latencies, last_recv, closed = results.get(timeout=240)
        result.deliveries += count
        result.latencies.extend(latencies)
        result.closed += closed
        last = max(last, last_recv)
    result.cpu = tree_cpu(server.pid()) - cpu0
    sampler.running = False
    result.seconds = last - t0
    result.peak_rss = sampler.peak
    for p in procs:
        p.join(10)
    if result.deliveries < result.expected:
        log(f"!! {server.name} {mode}: {result.deliveries} of {result.expected} delivered, "
            f"{result.closed} subscribers closed or timed out")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--subscribers", type=int, default=200)
    ap.add_argument("--rate", type=float, default=200.0, help="paced mode: messages per second")
    ap.add_argument("--only", default="nodebase,nodebase-uvicorn,pysio,sio")
    ap.add_argument("--modes", default="burst,paced")
    ap.add_argument("--clients", type=int, default=2, help="client processes the subscribers are spread over")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    # the publisher sends far more than a client's default 100 frames/s: raise that limit only
    makers: dict[str, Callable[[], tuple[Server, Callable[[Server], Dialect]]]] = {
        "nodebase": lambda: (Nodebase({"NODEBASE_REALTIME_RATE": "100000"}),
                             lambda s: NodebaseDialect(s.token)),  # type: ignore[attr-defined]
        "nodebase-uvicorn": lambda: (NodebaseUvicorn({"NODEBASE_REALTIME_RATE": "100000"}),
                                     lambda s: NodebaseDialect(s.token)),  # type: ignore[attr-defined]
        "pysio": lambda: (PySio(), lambda s: SocketIoDialect()),
        "sio": lambda: (NodeSio(), lambda s: SocketIoDialect()),
    }
    results: list[Result] = []
    for key in args.only.split(","):
        server, dialect_of = makers[key]()
        try:
            server.start()
            for mode in args.modes.split(","):
                log(f"{server.name}: {mode} ...")
                results.append(fan_out(server, dialect_of(server), mode, args.subscribers, args.messages,
                                       args.rate, args.clients))
                log("  " + results[-1].row())
        finally:
            server.stop()
    print(f"\n{args.subscribers} subscribers in {args.clients} client processes + 1 publisher, "
          f"{args.messages} messages of ~100 B, "
          f"paced at {args.rate:.0f} msg/s; {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("| server | mode | deliveries/s | p50 ms | p99 ms | server CPU µs/delivery | peak RSS | delivered |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(r.row())
    sio = {r.mode: r for r in results if r.server.startswith("Socket.IO")}
    for r in results:
        peer = sio.get(r.mode)
        if r.server.startswith("nodebase") and peer and r.deliveries and peer.deliveries:
            print(f"{r.server}, {r.mode}: deliveries/s {(r.deliveries / r.seconds) / (peer.deliveries / peer.seconds):.2f}x "
                  f"Socket.IO's, server CPU per delivery {(r.cpu / r.deliveries) / (peer.cpu / peer.deliveries):.2f}x")


if __name__ == "__main__":
    main()
