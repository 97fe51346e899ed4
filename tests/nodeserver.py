"""Start a real nodebase server process for a test, on a free port, over real sockets."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.services import free_port


class CliFailed(subprocess.CalledProcessError):
    """A CLI run that failed, with its stderr in the message (CalledProcessError hides it)."""

    def __str__(self) -> str:
        return f"{super().__str__()}\nstderr:\n{(self.stderr or '')[-4000:]}\nstdout:\n{(self.stdout or '')[-1000:]}"


class NodeServer:
    def __init__(self, data_dir: Path, *, database_url: str = "", env: dict[str, str] | None = None,
                 project_dir: Path | None = None, workers: int = 1) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.project_dir = project_dir or data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = env or {}
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "server.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NODEBASE_")}
        env.update({"NODEBASE_DATA_DIR": str(self.data_dir), "NODEBASE_PROJECT_DIR": str(self.project_dir)})
        if self.database_url:
            env["NODEBASE_DATABASE_URL"] = self.database_url
        env.update(self.extra_env)
        return env

    def cli(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``nodebase <args>`` against this server's data dir and database."""
        done = subprocess.run(
            [sys.executable, "-m", "nodebase", *args], env=self.env(), cwd=self.project_dir,
            capture_output=True, text=True, check=False, timeout=60, input=input,
        )
        if check and done.returncode != 0:
            raise CliFailed(done.returncode, done.args, done.stdout, done.stderr)
        return done

    def start(self, timeout: float = 60.0) -> NodeServer:
        # an upper bound, not an expectation: a quiet box answers in about 1 s, but two workers
        # importing everything under a load average of 10 took more than 20 s
        self.launch()
        return self.wait_ready(timeout)

    def launch(self) -> NodeServer:
        """Start the process without waiting for it to answer (see :meth:`wait_ready`)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        logf = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nodebase", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(self.workers)],
            env=self.env(), cwd=self.project_dir, stdout=logf, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_ready(self, timeout: float = 60.0) -> NodeServer:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nodebase exited early:\n{self.log.read_text()[-4000:]}")
            try:
                if httpx.get(self.url + "/api/system/ping", timeout=2.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nodebase did not answer in {timeout}s:\n{self.log.read_text()[-4000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kw)

    def server_errors(self) -> str:
        """Lines of the server log that report an unhandled error (a 5xx is a bug)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(line for line in text.splitlines() if "unhandled error" in line or "Traceback" in line)
