"""Helpers for the flows tests: a local webhook / HTTP receiver, flow definitions, run polling."""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

_n = itertools.count(1)


def name(prefix: str = "f") -> str:
    return f"{prefix}{next(_n)}_{os.getpid() % 10000}"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1: records every request, answers from a script."""

    requests: list[Received] = field(default_factory=list)
    #: statuses to answer, in order (then ``default``); a callable decides per request
    script: list[int] = field(default_factory=list)
    default: int = 200
    answer: Callable[[Received], tuple[int, str, bytes]] | None = None
    #: a request whose path starts with this waits until ``release`` is set
    hold_prefix: str | None = None
    release: threading.Event = field(default_factory=threading.Event)
    #: HTTP/1.1 with keep-alive (the default is HTTP/1.0: one connection per request)
    keep_alive: bool = False
    #: TCP connections accepted so far
    connections: int = 0
    _cond: threading.Condition = field(default_factory=threading.Condition)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self, port: int = 0) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if receiver.keep_alive else "HTTP/1.0"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with receiver._cond:
                    receiver.connections += 1

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with receiver._cond:
                    receiver.requests.append(req)
                    receiver._cond.notify_all()
                if receiver.hold_prefix and self.path.startswith(receiver.hold_prefix):
                    receiver.release.wait(60)
                if receiver.answer is not None:
                    status, ctype, payload = receiver.answer(req)
                else:
                    with receiver._cond:
                        status = receiver.script.pop(0) if receiver.script else receiver.default
                    ctype, payload = "application/json", b'{"ok": true}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def wait_for(self, count: int, timeout: float = 30.0, path: str | None = None) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [r for r in self.requests if path is None or r.path.startswith(path)]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                assert left > 0, f"expected {count} requests to {path or 'any path'}, got {len(got)}"
                self._cond.wait(left)

    def of(self, path: str) -> list[Received]:
        with self._cond:
            return [r for r in self.requests if r.path.startswith(path)]


def put_flow(client: httpx.Client, flow_name: str, definition: dict[str, Any]) -> dict[str, Any]:
    r = client.post(f"/api/system/config/add/flows/flows.{flow_name}", json=definition)
    assert r.status_code == 202, r.text
    return dict(r.json()["config"]["flows"][flow_name])


def runs_of(client: httpx.Client, flow_name: str, **params: Any) -> dict[str, Any]:
    r = client.get("/api/flows/runs", params={"flow": flow_name, "limit": 100, **params})
    assert r.status_code == 200, r.text
    return dict(r.json())


def wait_runs(client: httpx.Client, flow_name: str, count: int, *, finished: bool = True,
              timeout: float = 30.0) -> list[dict[str, Any]]:
    """Poll the run log (the API has no push) until ``count`` runs exist (and finished)."""
    deadline = time.monotonic() + timeout
    while True:
        runs = runs_of(client, flow_name)["data"]
        done = [r for r in runs if not finished or r["status"] != "running"]
        if len(done) >= count:
            return sorted(done, key=lambda r: r["started_at"])
        assert time.monotonic() < deadline, f"expected {count} runs of {flow_name}, have {runs}"
        time.sleep(0.05)


def wait_run(client: httpx.Client, run_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/api/flows/runs/{run_id}")
        assert r.status_code == 200, r.text
        run = dict(r.json()["data"])
        if run["status"] != "running":
            return run
        assert time.monotonic() < deadline, f"run {run_id} still running: {run}"
        time.sleep(0.05)


def http_flow(tasks: dict[str, Any], start: str, *, path: str, responding: str | None = None,
              connections: dict[str, Any] | None = None, **trigger: Any) -> dict[str, Any]:
    cfg = {"path": path, "mode": "sync", "response_type": "json", **trigger}
    out: dict[str, Any] = {"trigger": {"type": "http", "config": cfg}, "tasks": tasks,
                           "connections": connections or {}, "start_task": start}
    if responding:
        out["responding_task"] = responding
    return out


def manual_flow(tasks: dict[str, Any], start: str, *, responding: str | None = None,
                connections: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"trigger": {"type": "manual", "config": {}}, "tasks": tasks,
                           "connections": connections or {}, "start_task": start, **extra}
    if responding:
        out["responding_task"] = responding
    return out


def conn(source: str, target: str, condition: dict[str, Any] | None = None, **config: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = dict(config)
    if condition:
        cfg["condition"] = condition
    return {"source": source, "target": target, "config": cfg}
