"""nodebase as a desktop sidecar: the process a Tauri (or any host) app starts and owns.

Contract (docs/sidecar.md):

* ``nodebase-sidecar --data-dir DIR`` (or ``nodebase serve --sidecar --data-dir DIR``) takes
  an exclusive lock on the data dir — a second instance on the same dir exits with status 75
  and a one-line message on stderr — binds 127.0.0.1 on a free port (or ``--port``), and once
  the node answers writes exactly one JSON line to stdout::

      {"port": 49321, "url": "http://127.0.0.1:49321", "token": "eyJ...", "pid": 1234}

  ``token`` is an admin credential for this launch only (``Authorization: Bearer <token>`` or
  ``X-API-Key``; shaped as a JWT so bknd's client takes it): it lives in memory, never on disk
  or in a log, and dies with the process.
* It exits cleanly — in-flight requests finished, the database closed — on SIGTERM/SIGINT,
  when its parent process goes away (killed included), and when its stdin is closed (when
  stdin is a pipe, as Tauri's ``Command.sidecar`` gives it). The watchdog checks every
  0.2 s, so the exit starts within 2 s.

It serves with uvicorn in this one process: no worker processes, so nothing is left behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import socket
import stat
import sys
from pathlib import Path
from typing import IO, Any

from nodebase.kernel import jsonutil
from nodebase.kernel.config import Settings, load_settings

#: EX_TEMPFAIL: the data dir is in use; the host may retry after the other instance exits
EXIT_LOCKED = 75
LOCK_NAME = "nodebase.lock"
WATCH_INTERVAL = 0.2


class DataDirLocked(RuntimeError):
    pass


class DataDirLock:
    """An exclusive, non-blocking lock on ``<data_dir>/nodebase.lock``, released when the
    process exits however it exits (the OS drops the lock with the file descriptor)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+")
        try:
            _lock_file(fh)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise DataDirLocked(
                f"the data dir {self.path.parent} is in use by another nodebase (pid {holder})"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.seek(0)
                self._fh.truncate()
            self._fh.close()
            self._fh = None


def _lock_file(fh: IO[str]) -> None:
    if sys.platform == "win32":
        import msvcrt

        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _ppid_of(pid: int) -> int | None:
    """The parent of process ``pid`` (Linux: /proc; elsewhere: ``ps``); None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return int(fh.read().rsplit(b")", 1)[1].split()[1])
    except FileNotFoundError:
        if sys.platform.startswith("linux"):
            return None
    except (OSError, ValueError, IndexError):
        return None
    import subprocess

    out = subprocess.run(["ps", "-o", "ppid=", "-p", str(pid)], capture_output=True, text=True)
    return int(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else None


class ParentWatch:
    """Is the process that started us still there?

    A PyInstaller one-file executable runs as two processes: the bootloader (which unpacks
    and waits) and its child, this interpreter. The host app is then our grandparent, and it
    is gone when the bootloader has been re-parented. Otherwise the host is our parent, and
    it is gone when we have been re-parented.
    """

    def __init__(self) -> None:
        self.parent = os.getppid()
        self.host = self.parent
        self.via_bootloader = False
        meipass = getattr(sys, "_MEIPASS", None)
        # one-file builds unpack into a temporary _MEIxxxxxx folder; one-dir builds do not
        if meipass and Path(meipass).name.startswith("_MEI") and sys.platform != "win32":
            grand = _ppid_of(self.parent)
            if grand is not None:
                self.host, self.via_bootloader = grand, True

    def alive(self) -> bool:
        if sys.platform == "win32":
            return _windows_alive(self.host)
        if self.via_bootloader:
            return _ppid_of(self.parent) == self.host
        return os.getppid() == self.parent


def _windows_alive(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    code = ctypes.c_ulong()
    kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
    kernel32.CloseHandle(handle)
    return bool(code.value == 259)  # STILL_ACTIVE


def _stdin_is_a_pipe() -> bool:
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def launch_token() -> str:
    """A per-launch admin credential, shaped as a JWT because bknd's client decodes the token
    it is given (for the user it shows). nodebase accepts exactly this string — it never
    verifies the signature, whose key is thrown away — and forgets it when the process ends."""
    import time

    import jwt

    claims = {"id": 0, "email": "app@sidecar.local", "role": "admin", "strategy": "launch",
              "iat": int(time.time()), "jti": secrets.token_urlsafe(24)}
    return jwt.encode(claims, secrets.token_bytes(32), algorithm="HS256")


def bind_loopback(port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1: bound here, so the port we report is ours already."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if sys.platform != "win32":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


async def run(settings: Settings, *, port: int = 0, out: IO[str] | None = None,
              watch_parent: bool = True, watch_stdin: bool | None = None) -> int:
    import uvicorn

    from nodebase.app import Nodebase

    out = out or sys.stdout
    lock = DataDirLock(settings.resolved_data_dir)
    try:
        lock.acquire()
    except DataDirLocked as exc:
        sys.stderr.write(f"nodebase-sidecar: {exc}\n")
        return EXIT_LOCKED
    try:
        sock = bind_loopback(port)
    except OSError as exc:
        lock.release()
        sys.stderr.write(f"nodebase-sidecar: cannot bind 127.0.0.1:{port}: {exc.strerror}\n")
        return 1
    bound = int(sock.getsockname()[1])
    token = launch_token()
    nb = Nodebase(settings)
    nb.auth.service.add_launch_token(token, role="admin")
    from nodebase.http_protocol import GuardedHttpToolsProtocol

    config = uvicorn.Config(
        nb.asgi(), lifespan="on", log_level="warning", access_log=False,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        http=GuardedHttpToolsProtocol,  # the same timeouts and connection limit as `serve`
        ws="websockets-sansio", ws_per_message_deflate=False, server_header=False,
        timeout_keep_alive=settings.keepalive_timeout,  # type: ignore[arg-type]
        timeout_graceful_shutdown=settings.shutdown_timeout,  # type: ignore[arg-type]
    )
    server = uvicorn.Server(config)
    parent = ParentWatch()
    if watch_stdin is None:
        watch_stdin = _stdin_is_a_pipe()
    loop = asyncio.get_running_loop()

    def stop(reason: str) -> None:
        if not server.should_exit:
            sys.stderr.write(f"nodebase-sidecar: {reason}, shutting down\n")
            server.should_exit = True

    if watch_stdin:
        fd = sys.stdin.fileno()

        def on_stdin() -> None:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(fd)
                stop("stdin closed")
            elif b"exit" in data.split():
                stop("asked to exit on stdin")

        loop.add_reader(fd, on_stdin)

    async def announce_and_watch() -> None:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.01)
        line = {"port": bound, "url": f"http://127.0.0.1:{bound}", "token": token,
                "pid": os.getpid()}
        out.write(jsonutil.dumps(line).decode() + "\n")
        out.flush()
        while not server.should_exit:
            if watch_parent and not parent.alive():
                stop("the parent process exited")
            await asyncio.sleep(WATCH_INTERVAL)

    watcher = asyncio.create_task(announce_and_watch())
    try:
        await server.serve(sockets=[sock])
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        sock.close()
        lock.release()
    return 0 if server.started else 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", required=True, help="the app's data directory")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--database-url", help="database URL (default SQLite in the data dir)")
    p.add_argument("--project-dir", help="project directory (default: the data dir)")
    p.add_argument("--no-parent-watch", action="store_true",
                   help="keep running when the parent process exits")


def settings_from(args: argparse.Namespace) -> Settings:
    data_dir = Path(args.data_dir).expanduser().resolve()
    overrides: dict[str, Any] = {
        "data_dir": data_dir,
        "project_dir": args.project_dir or data_dir,
        "database_url": args.database_url,
        "host": "127.0.0.1",
        "workers": 1,
    }
    if "NODEBASE_GRPC_PORT" not in os.environ:
        overrides["grpc_port"] = 0  # the chat's gRPC listener only when asked (chat.md)
    return load_settings(overrides)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nodebase-sidecar",
                                     description="nodebase as a desktop app's sidecar process")
    add_arguments(parser)
    args = parser.parse_args(argv)
    return asyncio.run(run(settings_from(args), port=args.port,
                           watch_parent=not args.no_parent_watch))


if __name__ == "__main__":
    raise SystemExit(main())
