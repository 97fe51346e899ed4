"""The machinery bench/realtime.py and bench/chat.py share: servers started in their own
process group (nodebase, a uvicorn app from bench/.work/rt-venv, a Node script with npm
packages in bench/.work/rt-node), client dialects, client processes, server CPU/RSS sampling
and the two loads — ``fan_out`` (1 sender, one room of N members) and ``pairs`` (a room per
pair of connections, every connection sending at a fixed rate).

Latency is send → delivery with ``time.perf_counter_ns()`` (CLOCK_MONOTONIC, one clock for
every process of the machine) carried in the payload.

The room load's subscribers run in Python (``websockets``) or, with ``client="node"``, in
Node 20 (bench/rt_client.js with npm ``ws``, one process per share of subscribers), speaking
the same frames; each client process reports its own CPU time so the client cost per
delivery can be compared.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
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
NODE_CLIENT = ROOT / "bench" / "rt_client.js"
PAD = "x" * 60  # {"t": <19 digits>, "p": "<60>"} ≈ 100 bytes on the wire with the envelope
ROOM = "bench"

#: the start of the python-socketio peers' apps: the server and its ``join`` (with an ack)
PYSIO_PRELUDE = '''
import socketio
sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")

@sio.event
async def join(sid, room):
    await sio.enter_room(sid, room)
    return "ok"
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

    def stored(self) -> int | None:
        """Messages the server stored (None: it stores nothing)."""
        return None


class Nodebase(Server):
    name = "nodebase (default config: uvicorn)"

    def __init__(self, env: dict[str, str]) -> None:
        self.tmp = tempfile.mkdtemp(prefix="rt-bench-")
        self.node = NodeServer(Path(self.tmp), env=env)
        self.token = ""

    def start(self) -> None:
        self.node.start()
        self.proc = self.node.proc
        self.port = self.node.port
        self.login()

    def login(self) -> None:
        import httpx

        email, password = "bench@nodebase.test", "bench-password-123"
        self.node.cli("user", "create", "--email", email, f"--password={password}", "--role", "admin")
        r = httpx.post(self.node.url + "/api/auth/password/login", json={"email": email, "password": password})
        self.token = r.json()["token"]

    def stop(self) -> None:
        self.node.stop()


def ensure_rt_venv() -> Path:
    venv = WORK / "rt-venv"
    if not (venv / "bin" / "uvicorn").exists():
        log("preparing bench/.work/rt-venv (uvicorn, python-socketio) ...")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "uvicorn[standard]>=0.30",
                        "python-socketio>=5.11"], check=True)
    return venv


def ensure_node_modules(*packages: str) -> Path:
    """bench/.work/rt-node with ``packages`` (npm specs, e.g. ``socket.io@4.8``) installed."""
    home = WORK / "rt-node"
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "package.json").exists():
        subprocess.run(["npm", "init", "-y"], cwd=home, check=True, capture_output=True)
    missing = [p for p in packages if not (home / "node_modules" / _package_name(p)).exists()]
    if missing:
        log(f"preparing bench/.work/rt-node (npm {' '.join(missing)}) ...")
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", *missing], cwd=home, check=True)
    return home


def apply_nice(nice: int) -> None:
    """Run this process and what it starts at ``nice`` (negative: ahead of the box's other
    load; needs root). Servers started in their own session also need ``boost``."""
    if nice:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
        boost(os.getpid(), nice)


def boost(pid: int, nice: int) -> None:
    """Give ``pid``'s scheduler autogroup (its session) the nice value: with autogroups a
    process's own nice value only counts inside its group (best effort)."""
    if nice:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/autogroup").write_text(f"{nice}\n")


class NodeClients:
    """Client processes running bench/rt_client.js (Node 20, npm ``ws``), one per config."""

    def __init__(self, configs: list[dict[str, Any]]) -> None:
        home = ensure_node_modules("ws@8")
        self.dir = Path(tempfile.mkdtemp(prefix="rt-clients-"))
        env = {**os.environ, "NODE_PATH": str(home / "node_modules")}
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []
        for i, cfg in enumerate(configs):
            out = self.dir / f"{i}.json"
            proc = subprocess.Popen(["node", str(NODE_CLIENT), json.dumps({**cfg, "out": str(out)})], env=env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
            self.procs.append((proc, out))

    def wait_ready(self) -> None:
        for proc, _ in self.procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if line != b"ready\n":
                self.stop()
                raise RuntimeError(f"node client exited with {proc.wait()} before it was ready")

    def results(self, timeout: float) -> list[dict[str, Any]]:
        """Each process's {count, latencies, last, closed, cpu_s}."""
        out = []
        try:
            for proc, path in self.procs:
                proc.wait(timeout)
                out.append(json.loads(path.read_text()))
        finally:
            self.stop()
        return out

    def stop(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _package_name(spec: str) -> str:
    at = spec.rfind("@")
    return spec[:at] if at > 0 else spec


class UvicornApp(Server):
    """``module:app`` written from ``source`` into ``home`` and served by the rt-venv's uvicorn."""

    def __init__(self, name: str, home: Path, module: str, source: str) -> None:
        self.name, self.home, self.module, self.source = name, home, module, source

    def start(self) -> None:
        venv = ensure_rt_venv()
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / f"{self.module}.py").write_text(self.source)
        self.port = free_port()
        self.proc = subprocess.Popen(
            [str(venv / "bin" / "uvicorn"), f"{self.module}:app", "--port", str(self.port), "--loop", "uvloop",
             "--http", "httptools", "--ws", "websockets-sansio", "--ws-per-message-deflate", "false",
             "--log-level", "warning"],
            cwd=self.home, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_port()


class NodeApp(Server):
    """A Node script (``source``) run in bench/.work/rt-node with npm ``packages``."""

    def __init__(self, name: str, script: str, source: str, packages: tuple[str, ...],
                 env: dict[str, str] | None = None) -> None:
        self.name, self.script, self.source, self.packages = name, script, source, packages
        self.env = env or {}

    def start(self) -> None:
        home = ensure_node_modules(*self.packages)
        (home / self.script).write_text(self.source)
        self.home = home
        self.port = free_port()
        self.proc = subprocess.Popen(["node", self.script], cwd=home,
                                     env={**os.environ, **self.env, "PORT": str(self.port)},
                                     start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_port()


# -- client dialects -------------------------------------------------------------------------
class Dialect:
    async def open(self, server: Server) -> ClientConnection: ...

    async def join(self, conn: ClientConnection, room: str = ROOM) -> None: ...

    def publish_frame(self, payload: dict[str, Any], room: str = ROOM) -> str: ...

    def delivery(self, frame: str | bytes) -> dict[str, Any] | None: ...

    async def answer(self, conn: ClientConnection, frame: str | bytes) -> None:
        """Protocol chores (Engine.IO pings)."""

    def node_spec(self, port: int, room: str = ROOM) -> dict[str, Any]:
        """The same dialect for bench/rt_client.js."""
        raise NotImplementedError(f"{type(self).__name__} has no Node client")

    def ack(self, frame: str | bytes) -> bool | None:
        """Whether ``frame`` acknowledges a send; None: this protocol does not acknowledge."""
        return None


class JsonWsDialect(Dialect):
    """A JSON-over-WebSocket protocol (nodebase's realtime and chat sockets): ``path`` with
    ``?token=``, a join frame answered by a frame of type ``joined``, deliveries whose frame
    starts with ``prefix`` and hold the payload at ``payload``."""

    path = ""
    joined = ""  # '"op":"subscribed"'-style marker of the join's answer
    prefix = ""
    payload_path: tuple[str, ...] = ()  # where ``payload`` finds it (a string there is JSON)

    def __init__(self, token: str) -> None:
        self.token = token

    async def open(self, server: Server) -> ClientConnection:
        return await connect(f"ws://127.0.0.1:{server.port}{self.path}?token={self.token}", compression=None,
                             max_queue=None, ping_interval=None)

    def join_frame(self, room: str) -> str: ...

    def payload(self, doc: dict[str, Any]) -> dict[str, Any]: ...

    def node_spec(self, port: int, room: str = ROOM) -> dict[str, Any]:
        return {"kind": "json-ws", "url": f"ws://127.0.0.1:{port}{self.path}?token={self.token}",
                "join": self.join_frame(room), "joined": self.joined, "prefix": self.prefix,
                "payload": list(self.payload_path)}

    async def join(self, conn: ClientConnection, room: str = ROOM) -> None:
        await conn.send(self.join_frame(room))
        while self.joined not in str(await conn.recv()):
            pass

    def delivery(self, frame: str | bytes) -> dict[str, Any] | None:
        if isinstance(frame, str) and frame.startswith(self.prefix):
            return self.payload(json.loads(frame))
        return None


class SocketIoDialect(Dialect):
    """Engine.IO 4 / Socket.IO 5 frames over a plain WebSocket (the same client for every
    server, so the client cost is the same): ``join`` with an ack, ``msg`` events."""

    payload_path: tuple[str, ...] = ()  # within the ``msg`` event's argument

    def node_spec(self, port: int, room: str = ROOM) -> dict[str, Any]:
        return {"kind": "sio", "url": f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket",
                "room": room, "payload": list(self.payload_path)}

    async def open(self, server: Server) -> ClientConnection:
        conn = await connect(f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket",
                             compression=None, max_queue=None, ping_interval=None)
        opening = await conn.recv()
        assert str(opening).startswith("0"), opening
        await conn.send("40")
        while not str(await conn.recv()).startswith("40"):
            pass
        return conn

    async def join(self, conn: ClientConnection, room: str = ROOM) -> None:
        await conn.send("421" + json.dumps(["join", room]))
        while not str(await conn.recv()).startswith("431"):
            pass

    def publish_frame(self, payload: dict[str, Any], room: str = ROOM) -> str:
        return "42" + json.dumps(["msg", payload])

    def delivery(self, frame: str | bytes) -> dict[str, Any] | None:
        if isinstance(frame, str) and frame.startswith('42["msg"'):
            data: dict[str, Any] = json.loads(frame[2:])[1]
            return data
        return None

    async def answer(self, conn: ClientConnection, frame: str | bytes) -> None:
        if frame == "2":
            await conn.send("3")


# -- results ---------------------------------------------------------------------------------
@dataclass
class Result:
    server: str
    mode: str
    sends: int = 0
    deliveries: int = 0
    expected: int = 0
    seconds: float = 0.0
    latencies: list[int] = field(default_factory=list)
    cpu: float = 0.0
    peak_rss: int = 0
    closed: int = 0
    echoes: int = 0
    stored: int | None = None
    client: str = "python"
    client_cpu: float = 0.0  # CPU seconds of the receiving client processes (0: not measured)

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds if self.seconds else 0.0

    @property
    def us_per_delivery(self) -> float:
        return self.cpu / self.deliveries * 1e6 if self.deliveries else float("nan")

    @property
    def client_us_per_delivery(self) -> float:
        return self.client_cpu / self.deliveries * 1e6 if self.deliveries and self.client_cpu else float("nan")

    def percentile(self, q: float) -> float:
        lat = sorted(self.latencies)
        return lat[max(0, int(len(lat) * q) - 1)] / 1e6 if lat else float("nan")

    HEADER = ("| server | load | sends/s | deliveries/s | p50 ms | p99 ms | server CPU µs/delivery | peak RSS "
              "| delivered | stored | client CPU µs/delivery |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def row(self) -> str:
        burst = self.mode.endswith("burst")
        p50 = "–" if burst else f"{self.percentile(0.5):.1f}"
        p99 = "–" if burst else f"{self.percentile(0.99):.1f}"
        sends = self.sends / self.seconds if self.seconds else 0
        stored = "–" if self.stored is None else f"{self.stored:,}"
        echo = f" ({self.echoes:,} echoed)" if self.echoes else ""
        return (f"| {self.server} | {self.mode} | {sends:,.0f} | {self.rate:,.0f} | {p50} | {p99} | "
                f"{self.us_per_delivery:.2f} | {self.peak_rss / 2**20:.0f} MB | "
                f"{self.deliveries:,}/{self.expected:,}{echo} | {stored} | {self._client()} |")

    def _client(self) -> str:
        return f"{self.client_us_per_delivery:.2f} ({self.client})" if self.client_cpu else "–"


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


class _Port(Server):
    def __init__(self, port: int) -> None:
        self.port = port


def _uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()


class Measure:
    """Server CPU (its process tree) and peak RSS between ``start`` and ``stop``."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.sampler = RssSampler(server.pid())

    def start(self) -> None:
        self.stored0 = self.server.stored()
        self.sampler.start()
        self.cpu0 = tree_cpu(self.server.pid())

    def stop(self, result: Result) -> None:
        result.cpu = tree_cpu(self.server.pid()) - self.cpu0
        self.sampler.running = False
        result.peak_rss = self.sampler.peak
        stored = self.server.stored()
        if stored is not None and self.stored0 is not None:
            result.stored = stored - self.stored0
        if result.deliveries < result.expected:
            log(f"!! {result.server} {result.mode}: {result.deliveries} of {result.expected} delivered, "
                f"{result.closed} connections closed or timed out")


# -- load 1: one room, 1 sender, N members ----------------------------------------------------
def _receiver_process(dialect: Dialect, port: int, n: int, messages: int, ready: Any, results: Any) -> None:
    """A client process: ``n`` members; reports (count, latencies ns, last receive time)."""
    _uvloop()

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
        cpu0 = time.process_time()
        ready.put("ready")
        done, pending = await asyncio.wait(tasks, timeout=180)
        for t in pending:
            t.cancel()
        results.put((len(latencies), latencies, last[0], closed[0] + len(pending), time.process_time() - cpu0))
        for c in subs:
            await c.close()

    asyncio.run(go())


def fan_out(server: Server, dialect: Dialect, mode: str, subscribers: int, messages: int, rate: float,
            clients: int, sender: Dialect | None = None, client: str = "python") -> Result:
    """1 sender (opened through ``sender``, default ``dialect``) + ``subscribers`` members of
    one room over ``clients`` processes (``client``: "python" or "node"); ``burst`` (all at
    once) or ``paced`` (``rate``/s)."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    ready, results = ctx.Queue(), ctx.Queue()
    shares = [k for k in (subscribers // clients + (1 if i < subscribers % clients else 0)
                          for i in range(clients)) if k]
    procs = []
    node: NodeClients | None = None
    if client == "node":
        node = NodeClients([{**dialect.node_spec(server.port), "n": k, "expected": messages, "timeout_s": 150}
                            for k in shares])
        node.wait_ready()
    else:
        procs = [ctx.Process(target=_receiver_process, args=(dialect, server.port, k, messages, ready, results))
                 for k in shares]
        for p in procs:
            p.start()
        for _ in procs:
            ready.get(timeout=120)
    result = Result(server.name, mode, sends=messages, expected=subscribers * messages, client=client)
    tx = sender or dialect

    async def publish() -> float:
        pub = await tx.open(server)

        acked = [0]
        all_acked = asyncio.Event()

        async def drain() -> None:
            async for frame in pub:
                if tx.ack(frame):
                    acked[0] += 1
                    if acked[0] >= messages:
                        all_acked.set()
                else:
                    await tx.answer(pub, frame)

        drainer = asyncio.create_task(drain())
        t0 = time.perf_counter()
        for i in range(messages):
            if mode == "paced":
                delay = t0 + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await pub.send(tx.publish_frame({"t": time.perf_counter_ns(), "p": PAD}))
        if tx.ack("") is None:
            await asyncio.sleep(0.5)  # let the last publish answers arrive before closing
        else:  # closing before every send is acknowledged could drop the sends still queued
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_acked.wait(), 120)
        drainer.cancel()
        await pub.close()
        return t0

    measure = Measure(server)
    measure.start()
    try:
        t0 = asyncio.run(publish())
        outs = ([(o["count"], o["latencies"], o["last"], o["closed"], o["cpu_s"]) for o in node.results(170)]
                if node else [results.get(timeout=240) for _ in procs])
    finally:
        if node:
            node.stop()
    last = t0
    for count, latencies, last_recv, closed, cpu in outs:
        result.deliveries += count
        result.latencies.extend(latencies)
        result.closed += closed
        result.client_cpu += cpu
        last = max(last, last_recv)
    result.seconds = last - t0
    measure.stop(result)
    for p in procs:
        p.join(10)
    return result


# -- load 2: a room per pair, every connection sending -------------------------------------------
def _pair_process(dialect: Dialect, port: int, first_pair: int, pairs: int, seconds: float, rate: float,
                  ready: Any, go: Any, results: Any) -> None:
    """A client process: ``pairs`` rooms of two connections; each connection sends ``rate``
    messages a second for ``seconds`` and counts what its partner sent."""
    _uvloop()

    async def run() -> None:
        target = _Port(port)
        conns: list[tuple[ClientConnection, str, int]] = []
        for i in range(first_pair, first_pair + pairs):
            room = f"pair{i}"
            for side in (0, 1):
                c = await dialect.open(target)
                await dialect.join(c, room)
                conns.append((c, room, 2 * i + side))
        ready.put("ready")
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        t0 = time.perf_counter()
        stats = {"sent": 0, "got": 0, "echo": 0, "closed": 0}
        latencies: list[int] = []
        last = [t0]
        count = int(seconds * rate)

        async def send(conn: ClientConnection, room: str, me: int) -> None:
            start = t0 + random.random() / rate
            for k in range(count):
                delay = start + k / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await conn.send(dialect.publish_frame({"t": time.perf_counter_ns(), "f": me, "p": PAD}, room))
                stats["sent"] += 1

        async def receive(conn: ClientConnection, me: int) -> None:
            mine = 0
            async for frame in conn:
                d = dialect.delivery(frame)
                if d is None:
                    await dialect.answer(conn, frame)
                    continue
                if d.get("f") == me:
                    stats["echo"] += 1
                    continue
                latencies.append(time.perf_counter_ns() - d["t"])
                last[0] = time.perf_counter()
                mine += 1
                if mine >= count:
                    return

        receivers = [asyncio.create_task(receive(c, me)) for c, _, me in conns]
        await asyncio.gather(*(send(c, room, me) for c, room, me in conns), return_exceptions=True)
        _, pending = await asyncio.wait(receivers, timeout=30)
        for t in pending:
            t.cancel()
        stats["closed"] = len(pending) + sum(1 for t in receivers if t.done() and not t.cancelled()
                                             and t.exception() is not None)
        results.put((stats, latencies, t0, last[0]))
        for c, _, _ in conns:
            await c.close()

    asyncio.run(run())


def pairs(server: Server, dialect: Dialect, users: int, seconds: float, rate: float, clients: int) -> Result:
    """``users`` connections in rooms of two, each sending ``rate`` messages/s for ``seconds``."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    n = users // 2
    shares = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
    starts = [sum(shares[:i]) for i in range(clients)]
    procs = [ctx.Process(target=_pair_process, args=(dialect, server.port, s, k, seconds, rate, ready, go, results))
             for s, k in zip(starts, shares, strict=True) if k]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=180)
    count = int(seconds * rate)
    result = Result(server.name, f"{n * 2} users, rooms of 2, {rate:g} msg/s each",
                    expected=n * 2 * count)
    measure = Measure(server)
    measure.start()
    go.set()
    first, last = float("inf"), 0.0
    for _ in procs:
        stats, latencies, t0, last_recv = results.get(timeout=seconds + 120)
        result.sends += stats["sent"]
        result.deliveries += len(latencies)
        result.echoes += stats["echo"]
        result.closed += stats["closed"]
        result.latencies.extend(latencies)
        first, last = min(first, t0), max(last, last_recv)
    result.seconds = last - first
    measure.stop(result)
    for p in procs:
        p.join(10)
    return result


def print_results(results: list[Result], peer: str = "Socket.IO") -> None:
    """The table, then each nodebase row against ``peer``'s row of the same load."""
    print(Result.HEADER)
    for r in results:
        print(r.row())
    peers = {r.mode: r for r in results if r.server.startswith(peer)}
    for r in results:
        p = peers.get(r.mode)
        if r.server.startswith("nodebase") and p and r.deliveries and p.deliveries:
            print(f"{r.server}, {r.mode}: deliveries/s {r.rate / p.rate:.2f}x {peer}'s, "
                  f"server CPU per delivery {r.us_per_delivery / p.us_per_delivery:.2f}x")
