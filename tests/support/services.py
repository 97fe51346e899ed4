"""Real servers for the test suite: PostgreSQL, Redis, OpenStack Swift (S3 API) and Chromium.

Each ``start_*`` function starts its server as its own process group(s) on 127.0.0.1, on free
ports, with all state inside ``workdir``; waits until the server answers; and returns an object
with connection details and ``stop()``.  The objects are context managers too::

    with start_redis(tmp_path) as redis:
        ...  # redis.url == "redis://127.0.0.1:PORT/0"

and work as pytest session fixtures::

    @pytest.fixture(scope="session")
    def postgres(tmp_path_factory):
        with start_postgres(tmp_path_factory.mktemp("pg")) as server:
            yield server

The Debian packages come from ``scripts/install-test-deps.sh``.  Only the standard library is
used, except :meth:`S3Server.boto3_client`, which imports boto3 when called.  A server that is not
ready within ``timeout`` seconds raises :class:`ServiceError` (a ``RuntimeError``) with the tail
of its log.  Every server still running when the interpreter exits is stopped by an ``atexit``
hook.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as _dt
import hashlib
import hmac
import http.client
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

__all__ = [
    "CHROMIUM_ARGS",
    "PostgresServer",
    "RedisServer",
    "S3Server",
    "ServiceError",
    "chromium_args",
    "chromium_path",
    "free_port",
    "sigv4_headers",
    "start_postgres",
    "start_redis",
    "start_swift",
]

HOST = "127.0.0.1"
DEFAULT_TIMEOUT = 30.0
INSTALL_HINT = "run `bash scripts/install-test-deps.sh` (as root) first"

# Debian's python3, which has the swift package; never the pyenv/venv interpreter.
SYSTEM_PYTHON = "/usr/bin/python3"


class ServiceError(RuntimeError):
    """A test server could not be started (or a helper command against it failed)."""


# --------------------------------------------------------------------------------------------
# ports and processes
# --------------------------------------------------------------------------------------------

_port_lock = threading.Lock()
_ports_given: set[int] = set()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free now (never the same one twice per process)."""
    with _port_lock:
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((HOST, 0))
                port = int(sock.getsockname()[1])
            if port not in _ports_given:
                _ports_given.add(port)
                return port
    raise ServiceError("could not find a free TCP port on 127.0.0.1")


def _port_open(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class _Proc:
    """One server process, started as the leader of a new process group."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    stop_signal: int = signal.SIGTERM

    def alive(self) -> bool:
        return self.popen.poll() is None

    def describe(self) -> str:
        state = "running" if self.alive() else f"exited with {self.popen.returncode}"
        return f"--- {self.name} ({state}), {self.log}:\n{_tail(self.log)}"

    def stop(self, timeout: float = 10.0) -> None:
        pgid = self.popen.pid  # start_new_session=True: pid == pgid
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                if self.stop_signal == signal.SIGTERM:
                    os.killpg(pgid, signal.SIGTERM)
                else:
                    os.kill(self.popen.pid, self.stop_signal)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        # Whatever is left in the group (children, or a leader that ignored us) is killed.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)


def _spawn(
    name: str,
    argv: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    stop_signal: int = signal.SIGTERM,
) -> _Proc:
    """Start ``argv`` in a new session (so its process group can be killed as a whole)."""
    extra: dict[str, Any] = {}
    if user is not None:
        pw = pwd.getpwnam(user)
        extra = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
    with open(log, "ab") as out:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            **extra,
        )
    return _Proc(name, popen, log, stop_signal)


def _run(argv: Sequence[str], log: Path, *, timeout: float, **kwargs: Any) -> None:
    """Run a set-up command to completion, appending its output to ``log``."""
    with open(log, "ab") as out:
        try:
            result = subprocess.run(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
                **kwargs,
            )
        except subprocess.TimeoutExpired as exc:
            raise ServiceError(f"{argv[0]} timed out after {timeout:.0f}s\n{_tail(log)}") from exc
    if result.returncode != 0:
        raise ServiceError(
            f"{' '.join(argv)} failed with exit code {result.returncode}\n{_tail(log)}"
        )


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment for a server: no Python/pyenv/venv variables leak into it."""
    drop = ("PYTHON", "VIRTUAL_ENV", "PYENV", "PG", "REDIS", "LD_PRELOAD")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["LC_ALL"] = "C.UTF-8"
    env["LANG"] = "C.UTF-8"
    env.update(extra)
    return env


_live_lock = threading.Lock()
_live: set[_Service] = set()
_S = TypeVar("_S", bound="_Service")


class _Service:
    """Base class: a set of processes that are stopped together."""

    name = "service"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._procs: list[_Proc] = []
        self._cleanup: list[Callable[[], None]] = []
        with _live_lock:
            _live.add(self)

    def _add(self, proc: _Proc) -> _Proc:
        self._procs.append(proc)
        return proc

    @property
    def pids(self) -> list[int]:
        """Process-group leaders' pids (one per server process)."""
        return [p.popen.pid for p in self._procs]

    def logs(self) -> str:
        """The tail of every process's log, for error messages."""
        return "\n".join(p.describe() for p in self._procs)

    def _fail(self, message: str) -> ServiceError:
        error = ServiceError(f"{self.name}: {message}\n{self.logs()}")
        self.stop()
        return error

    def _check_alive(self) -> None:
        for proc in self._procs:
            if not proc.alive():
                raise self._fail(f"{proc.name} exited during start-up")

    def _wait(self, what: str, check: Callable[[], bool], deadline: float) -> None:
        """Poll ``check`` until it returns True; fail if a process dies or time runs out."""
        delay = 0.02
        while True:
            self._check_alive()
            if check():
                return
            if time.monotonic() > deadline:
                raise self._fail(f"not ready ({what}) in time")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    def stop(self) -> None:
        """Stop every process (whole process groups) and remove temporary files. Idempotent."""
        for proc in reversed(self._procs):
            proc.stop()
        self._procs.clear()
        for fn in reversed(self._cleanup):
            with contextlib.suppress(OSError):
                fn()
        self._cleanup.clear()
        with _live_lock:
            _live.discard(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@atexit.register
def _stop_all() -> None:
    with _live_lock:
        services = list(_live)
    for service in services:
        with contextlib.suppress(Exception):
            service.stop()


# A port picked by free_port() can be taken by someone else before the server binds it.
_PORT_CLASH = re.compile(r"Address already in use|Could not bind|could not bind", re.IGNORECASE)
_ATTEMPTS = 3


def _start_with_retries(workdir: Path | str, name: str, start: Callable[[Path], _S]) -> _S:
    """Call ``start(dir)`` with a fresh ``workdir/name[-N]`` dir; retry on a port clash."""
    root = Path(workdir).resolve()
    for attempt in range(1, _ATTEMPTS + 1):
        home = root / (name if attempt == 1 else f"{name}-{attempt}")
        home.mkdir(parents=True, exist_ok=True)
        try:
            return start(home)
        except ServiceError as exc:
            if attempt == _ATTEMPTS or not _PORT_CLASH.search(str(exc)):
                raise
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------

_DB_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _pg_bindir() -> Path:
    """The newest /usr/lib/postgresql/<major>/bin that has initdb and postgres."""
    root = Path("/usr/lib/postgresql")
    candidates = [
        d / "bin"
        for d in root.glob("*")
        if d.name.isdigit()
        and (d / "bin" / "initdb").exists()
        and (d / "bin" / "postgres").exists()
    ]
    if not candidates:
        raise ServiceError(f"PostgreSQL server binaries not found under {root}: {INSTALL_HINT}")
    return max(candidates, key=lambda p: int(p.parent.name))


def _traversable_by(path: Path, uid: int, gid: int) -> bool:
    """True if user uid/gid can reach ``path`` (x permission on it and every ancestor)."""
    for directory in [path, *path.parents]:
        st = directory.stat()
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


class PostgresServer(_Service):
    """A throw-away PostgreSQL cluster; ``url`` points at database ``database``."""

    name = "postgres"

    def __init__(
        self, workdir: Path, *, port: int, password: str, database: str, bindir: Path
    ) -> None:
        super().__init__(workdir)
        self.host = HOST
        self.port = port
        self.user = "nodebase"
        self.password = password
        self.database = database
        self.bindir = bindir
        self.datadir = workdir / "data"

    def url_for(self, database: str) -> str:
        return (
            f"postgresql://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{database}"
        )

    @property
    def url(self) -> str:
        """``postgresql://USER:PASS@127.0.0.1:PORT/DBNAME`` (asyncpg/psycopg/libpq style)."""
        return self.url_for(self.database)

    def psql(self, sql: str, database: str = "postgres", timeout: float = 30.0) -> str:
        """Run SQL with the ``psql`` client over TCP; return its unaligned, tuples-only output."""
        psql = self.bindir / "psql"
        if not psql.exists():
            psql = Path(shutil.which("psql") or "psql")
        env = _clean_env(PGPASSWORD=self.password, PGCONNECT_TIMEOUT="5")
        argv = [
            str(psql), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-h", self.host, "-p", str(self.port), "-U", self.user, "-d", database,
            "-c", sql,
        ]  # fmt: skip
        result = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise ServiceError(f"psql failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    def create_database(self, name: str) -> str:
        """Create a fresh empty database ``name`` and return its URL."""
        if not _DB_NAME_RE.match(name):
            raise ValueError(f"invalid database name {name!r} (use [A-Za-z_][A-Za-z0-9_]*)")
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` (terminating its connections), if it exists."""
        if not _DB_NAME_RE.match(name):
            raise ValueError(f"invalid database name {name!r}")
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_postgres(
    workdir: Path | str, *, timeout: float = DEFAULT_TIMEOUT, database: str = "nodebase"
) -> PostgresServer:
    """initdb a cluster in ``workdir/postgres`` and start it on a free port; create ``database``.

    As root, initdb/postgres run as the ``postgres`` system user (they refuse to run as root).
    If that user cannot reach ``workdir`` (pytest's temp dirs are mode 0700), the cluster goes
    to a fresh directory in the system temp dir instead, removed again by ``stop()``; the log
    stays in ``workdir/postgres/postgres.log``.
    """
    if not _DB_NAME_RE.match(database):
        raise ValueError(f"invalid database name {database!r}")
    bindir = _pg_bindir()
    return _start_with_retries(
        workdir, "postgres", lambda home: _start_postgres(home, timeout, database, bindir)
    )


def _start_postgres(workdir: Path, timeout: float, database: str, bindir: Path) -> PostgresServer:
    deadline = time.monotonic() + timeout
    server = PostgresServer(
        workdir,
        port=free_port(),
        password=secrets.token_hex(12),
        database=database,
        bindir=bindir,
    )
    # initdb and postgres refuse to run as root: use the Debian package's system user.
    run_as = "postgres" if os.geteuid() == 0 else None
    base = workdir
    as_user: dict[str, Any] = {}
    if run_as is not None:
        try:
            pw = pwd.getpwnam(run_as)
        except KeyError:
            server.stop()
            raise ServiceError(f"no '{run_as}' system user: {INSTALL_HINT}") from None
        as_user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        if not _traversable_by(workdir, pw.pw_uid, pw.pw_gid):
            base = Path(tempfile.mkdtemp(prefix="nodebase-pg-"))
            server._cleanup.append(lambda: shutil.rmtree(base, ignore_errors=True))
        os.chown(base, pw.pw_uid, pw.pw_gid)
    base.chmod(0o700)
    server.datadir = base / "data"
    log = workdir / "postgres.log"

    pwfile = base / "pwfile"
    pwfile.write_text(server.password + "\n")
    pwfile.chmod(0o600)
    if run_as is not None:
        os.chown(pwfile, as_user["user"], as_user["group"])
    env = _clean_env()
    initdb = [
        str(bindir / "initdb"),
        "-D", str(server.datadir),
        "-U", server.user,
        f"--pwfile={pwfile}",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "--encoding=UTF8",
        "--locale=C.UTF-8",
        "--no-sync",
        "--no-instructions",
    ]  # fmt: skip
    try:
        budget = max(deadline - time.monotonic(), 5.0)
        _run(initdb, log, timeout=budget, env=env, cwd=base, **as_user)
    except ServiceError as exc:
        server.stop()
        raise ServiceError(f"postgres: initdb failed: {exc}") from None
    finally:
        pwfile.unlink(missing_ok=True)

    postgres = [
        str(bindir / "postgres"),
        "-D", str(server.datadir),
        "-c", f"listen_addresses={HOST}",
        "-c", f"port={server.port}",
        "-c", "unix_socket_directories=",
        "-c", "fsync=off",
        "-c", "synchronous_commit=off",
        "-c", "full_page_writes=off",
        "-c", "max_connections=200",
        "-c", "shared_buffers=64MB",
        "-c", "log_min_messages=warning",
        "-c", "log_line_prefix=%m [%p] ",
    ]  # fmt: skip
    # SIGINT = "fast shutdown": the postmaster ends its backends and exits.
    server._add(
        _spawn("postgres", postgres, log, env=env, cwd=base, user=run_as, stop_signal=signal.SIGINT)
    )
    pg_isready = [str(bindir / "pg_isready"), "-q", "-h", HOST, "-p", str(server.port), "-t", "1"]

    def ready() -> bool:
        return subprocess.run(pg_isready, env=env, check=False).returncode == 0

    server._wait("pg_isready", ready, deadline)
    try:
        server.psql(f'CREATE DATABASE "{database}"')
    except ServiceError as exc:
        raise server._fail(str(exc)) from None
    return server


# --------------------------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------------------------


class RedisServer(_Service):
    """A throw-away Redis server without persistence."""

    name = "redis"

    def __init__(self, workdir: Path, *, port: int) -> None:
        super().__init__(workdir)
        self.host = HOST
        self.port = port

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``"""
        return f"redis://{self.host}:{self.port}/0"

    def command(self, *args: str) -> bytes:
        """Send one command (RESP) and return the raw reply; enough for PING/FLUSHALL."""
        payload = f"*{len(args)}\r\n".encode()
        for arg in args:
            data = arg.encode()
            payload += b"$%d\r\n%s\r\n" % (len(data), data)
        with socket.create_connection((self.host, self.port), timeout=2) as sock:
            sock.sendall(payload)
            return sock.recv(65536)

    def ping(self) -> bool:
        try:
            return self.command("PING").startswith(b"+PONG")
        except OSError:
            return False


def start_redis(workdir: Path | str, *, timeout: float = DEFAULT_TIMEOUT) -> RedisServer:
    """Start ``redis-server`` in ``workdir/redis`` on a free port, without RDB/AOF persistence."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.access(binary, os.X_OK):
        raise ServiceError(f"redis-server not found: {INSTALL_HINT}")
    return _start_with_retries(workdir, "redis", lambda home: _start_redis(home, timeout, binary))


def _start_redis(data: Path, timeout: float, binary: str) -> RedisServer:
    deadline = time.monotonic() + timeout
    server = RedisServer(data, port=free_port())
    argv = [
        binary,
        "--bind", HOST,
        "--port", str(server.port),
        "--save", "",
        "--appendonly", "no",
        "--dir", str(data),
        "--daemonize", "no",
        "--logfile", "",
        "--databases", "16",
    ]  # fmt: skip
    server._add(_spawn("redis-server", argv, data / "redis.log", env=_clean_env(), cwd=data))
    server._wait("PING", server.ping, deadline)
    return server


# --------------------------------------------------------------------------------------------
# OpenStack Swift with the s3api middleware
# --------------------------------------------------------------------------------------------

SWIFT_ACCESS_KEY = "test:tester"
SWIFT_SECRET_KEY = "testing"
SWIFT_REGION = "us-east-1"

_SWIFT_CONF = """\
[swift-hash]
swift_hash_path_suffix = nodebase-tests-suffix
swift_hash_path_prefix = nodebase-tests-prefix

[storage-policy:0]
name = Policy-0
default = yes

[swift-constraints]
"""

_SWIFT_BACKEND_CONF = """\
[DEFAULT]
bind_ip = {host}
bind_port = {port}
workers = 0
bind_timeout = 1
user = {user}
swift_dir = {swift_dir}
devices = {devices}
mount_check = false
disable_fallocate = true
fallocate_reserve = 0
log_level = INFO
log_name = {kind}-server

[pipeline:main]
pipeline = {kind}-server

[app:{kind}-server]
use = egg:swift#{kind}
"""

_SWIFT_PROXY_CONF = """\
[DEFAULT]
bind_ip = {host}
bind_port = {port}
workers = 0
bind_timeout = 1
user = {user}
swift_dir = {swift_dir}
log_level = INFO
log_name = proxy-server

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api \
tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
allow_account_management = true
account_autocreate = true
# With one replica an error-limited node means 503s; recover fast if a node hiccups.
error_suppression_interval = 1
error_suppression_limit = 100

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:cache]
use = egg:swift#memcache
memcache_servers = {host}:{memcached_port}

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:s3api]
use = egg:swift#s3api
location = {region}
dns_compliant_bucket_names = true
s3_acl = false
check_bucket_owner = false

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = {secret} .admin

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo
"""

# Runs one swift server with swift.conf taken from our work dir instead of /etc/swift: the
# servers have no option for that, so the module global is set before anything reads it.
# Given ring ports, it first builds the three rings (one device, one replica) into the conf's
# directory: only the proxy reads rings, and this saves an interpreter start-up.
_SERVER_SCRIPT = """\
import os, sys
swift_conf, app_section, conf_file, *ring_ports = sys.argv[1:]
from swift.common import utils
utils.SWIFT_CONF_FILE = swift_conf
from swift.common import constraints, storage_policy
constraints.reload_constraints()
storage_policy.reload_storage_policies()
if ring_ports:
    from swift.common.ring import RingBuilder
    swift_dir = os.path.dirname(conf_file)
    for name, port in zip(("account", "container", "object"), ring_ports):
        builder = RingBuilder(8, 1, 1)
        builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1",
                         "port": int(port), "device": "d1", "weight": 100, "meta": ""})
        builder.rebalance()
        builder.get_ring().save(os.path.join(swift_dir, name + ".ring.gz"))
# eventlet's monkey_patch() runs gc.collect() once per pre-existing RLock (~0.5 s of CPU per
# server); the collections only tidy up get_referrers() results, so skip them here.
import gc
collect, gc.collect = gc.collect, lambda generation=2: 0
utils.eventlet_monkey_patch()
gc.collect = collect
from swift.common.wsgi import run_wsgi
kwargs = {"verbose": True}
if app_section == "object-server":
    from swift.obj import server
    kwargs["global_conf_callback"] = server.global_conf_callback
sys.exit(run_wsgi(conf_file, app_section, **kwargs))
"""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sigv4_headers(
    method: str,
    host: str,
    path: str,
    *,
    access_key: str,
    secret_key: str,
    region: str,
    query: Mapping[str, str] | None = None,
    body: bytes = b"",
    now: _dt.datetime | None = None,
) -> dict[str, str]:
    """AWS Signature V4 headers (service ``s3``) for a path-style request; stdlib only."""
    now = now or _dt.datetime.now(_dt.UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = now.strftime("%Y%m%d")
    payload = _sha256(body)
    headers = {"host": host, "x-amz-content-sha256": payload, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted((query or {}).items())
    )
    canonical = "\n".join(
        [
            method,
            quote(path, safe="/-_.~"),
            canonical_query,
            "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)),
            signed,
            payload,
        ]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, _sha256(canonical.encode())])
    key = _hmac(f"AWS4{secret_key}".encode(), day)
    for part in (region, "s3", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    return headers


class S3Server(_Service):
    """OpenStack Swift (proxy, account, container, object servers + memcached) speaking S3."""

    name = "swift"

    def __init__(self, workdir: Path, *, port: int) -> None:
        super().__init__(workdir)
        self.host = HOST
        self.port = port
        self.access_key = SWIFT_ACCESS_KEY
        self.secret_key = SWIFT_SECRET_KEY
        self.region = SWIFT_REGION

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT`` (path-style, SigV4)."""
        return f"http://{self.host}:{self.port}"

    def url(self, bucket: str) -> str:
        """``s3://BUCKET?endpoint=...&region=...&access_key=...&secret_key=...``"""
        return (
            f"s3://{bucket}?endpoint={quote(self.endpoint, safe=':/')}"
            f"&region={quote(self.region, safe='')}"
            f"&access_key={quote(self.access_key, safe='')}"
            f"&secret_key={quote(self.secret_key, safe='')}"
        )

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        query: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, bytes]:
        """A SigV4-signed S3 request (stdlib only); returns (status, body)."""
        host = f"{self.host}:{self.port}"
        headers = sigv4_headers(
            method,
            host,
            path,
            access_key=self.access_key,
            secret_key=self.secret_key,
            region=self.region,
            query=query,
            body=body,
        )
        target = quote(path, safe="/-_.~")
        if query:
            target += "?" + "&".join(
                f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in query.items()
            )
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, target, body=body or None, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def create_bucket(self, name: str, *, exist_ok: bool = True) -> None:
        """Create bucket ``name`` (an existing bucket of ours is fine when ``exist_ok``)."""
        status, body = self.request("PUT", f"/{name}")
        if status == 200 or (exist_ok and b"BucketAlreadyOwnedByYou" in body):
            return
        if exist_ok and status == 409 and b"BucketAlreadyExists" in body:
            return
        raise ServiceError(f"create_bucket({name!r}) failed: HTTP {status} {body[:500]!r}")

    def boto3_client(self) -> Any:
        """A boto3 S3 client for this server (path-style, SigV4). Needs boto3 installed."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def _healthy(self) -> bool:
        try:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=2)
            try:
                conn.request("GET", "/healthcheck")
                response = conn.getresponse()
                return response.status == 200 and response.read().strip() == b"OK"
            finally:
                conn.close()
        except OSError:
            return False

    def _s3_probe(self) -> bool:
        """Bucket + object round trip through all four servers."""
        bucket = f"nodebase-ready-{secrets.token_hex(4)}"
        try:
            if self.request("PUT", f"/{bucket}")[0] != 200:
                return False
            if self.request("PUT", f"/{bucket}/probe", body=b"ok")[0] != 200:
                return False
            ok = self.request("GET", f"/{bucket}/probe") == (200, b"ok")
            self.request("DELETE", f"/{bucket}/probe")
            self.request("DELETE", f"/{bucket}")
            return ok
        except (OSError, http.client.HTTPException):
            return False


def _swift_missing() -> str | None:
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return f"{SYSTEM_PYTHON} not found"
    if not Path("/usr/lib/python3/dist-packages/swift").is_dir():
        return "python3-swift not installed"
    if not (shutil.which("memcached") or os.access("/usr/bin/memcached", os.X_OK)):
        return "memcached not installed"
    return None


def start_swift(workdir: Path | str, *, timeout: float = DEFAULT_TIMEOUT) -> S3Server:
    """Start Swift (4 servers, 1 replica) + memcached with all state in ``workdir/swift``.

    Returns when ``/healthcheck`` answers and a SigV4-signed S3 bucket/object round trip works.
    """
    missing = _swift_missing()
    if missing:
        raise ServiceError(f"swift: {missing}: {INSTALL_HINT}")
    return _start_with_retries(workdir, "swift", lambda home: _start_swift(home, timeout))


def _start_swift(root: Path, timeout: float) -> S3Server:
    deadline = time.monotonic() + timeout
    server = S3Server(root, port=free_port())
    ports = {kind: free_port() for kind in ("account", "container", "object", "memcached")}
    swift_dir = root / "etc"
    devices = root / "devices"
    logs = root / "logs"
    for d in (swift_dir, devices / "d1", logs):
        d.mkdir(parents=True, exist_ok=True)
    swift_conf = swift_dir / "swift.conf"
    swift_conf.write_text(_SWIFT_CONF)
    user = pwd.getpwuid(os.geteuid()).pw_name
    env = _clean_env(TZ="UTC")

    memcached = shutil.which("memcached") or "/usr/bin/memcached"
    mc_argv = [memcached, "-l", HOST, "-p", str(ports["memcached"])]
    mc_argv += ["-U", "0", "-m", "64", "-t", "1"]
    if os.geteuid() == 0:
        mc_argv += ["-u", "root"]
    server._add(_spawn("memcached", mc_argv, logs / "memcached.log", env=env, cwd=root))

    fmt = {"host": HOST, "user": user, "swift_dir": swift_dir, "devices": devices}
    for kind in ("account", "container", "object"):
        conf = swift_dir / f"{kind}-server.conf"
        conf.write_text(_SWIFT_BACKEND_CONF.format(kind=kind, port=ports[kind], **fmt))
    proxy_conf = swift_dir / "proxy-server.conf"
    proxy_conf.write_text(
        _SWIFT_PROXY_CONF.format(
            port=server.port,
            memcached_port=ports["memcached"],
            region=server.region,
            secret=server.secret_key,
            **fmt,
        )
    )
    ring_ports = [str(ports[k]) for k in ("account", "container", "object")]
    for section in ("account-server", "container-server", "object-server", "proxy-server"):
        conf = swift_dir / f"{section}.conf"
        argv = [SYSTEM_PYTHON, "-I", "-c", _SERVER_SCRIPT, str(swift_conf), section, str(conf)]
        if section == "proxy-server":
            argv += ring_ports
        server._add(_spawn(section, argv, logs / f"{section}.log", env=env, cwd=root))

    backend_ports = [ports[k] for k in ("memcached", "account", "container", "object")]
    server._wait("backend ports", lambda: all(_port_open(p) for p in backend_ports), deadline)
    server._wait("/healthcheck", server._healthy, deadline)
    server._wait("S3 bucket/object round trip", server._s3_probe, deadline)
    return server


# --------------------------------------------------------------------------------------------
# Chromium
# --------------------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"

# Headless, as root, on a machine whose network is closed: without the background-networking
# flags Chromium keeps trying (and failing) to reach Google's services.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_path() -> str:
    """Debian's Chromium (``/usr/bin/chromium``); Playwright cannot download browsers here."""
    if not os.access(CHROMIUM, os.X_OK):
        raise ServiceError(f"{CHROMIUM} not found: {INSTALL_HINT}")
    return CHROMIUM


def chromium_args(user_data_dir: Path | str | None = None) -> list[str]:
    """Launch flags for headless Chromium as root, with a fresh ``--user-data-dir``.

    For Playwright's ``chromium.launch(executable_path=chromium_path(), args=...)`` pass
    ``list(CHROMIUM_ARGS)`` instead: Playwright manages the profile dir itself and rejects
    ``--user-data-dir`` (use ``launch_persistent_context(user_data_dir, ...)`` for that).
    """
    if user_data_dir is None:
        user_data_dir = tempfile.mkdtemp(prefix="nodebase-chromium-")
    else:
        Path(user_data_dir).mkdir(parents=True, exist_ok=True)
    return [*CHROMIUM_ARGS, f"--user-data-dir={user_data_dir}"]
