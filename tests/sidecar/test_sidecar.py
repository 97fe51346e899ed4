"""The desktop sidecar as a black box: the executable built by scripts/build-sidecar.sh (and the
same contract through ``nodebase serve --sidecar``), started by a parent process the way a
Tauri app starts it, over real sockets."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXIT_LOCKED = 75


@pytest.fixture(scope="session")
def sidecar_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the one-file executable once per session, exactly as the docs say."""
    out = tmp_path_factory.mktemp("sidecar-dist")
    subprocess.run(["bash", str(ROOT / "scripts" / "build-sidecar.sh"), str(out)], cwd=ROOT,
                   check=True, capture_output=True, timeout=900)
    exe = out / "nodebase-sidecar"
    assert exe.is_file() and os.access(exe, os.X_OK)
    return exe


LAUNCHERS = ["executable", "serve-flag"]


@pytest.fixture(params=LAUNCHERS)
def launch(request: pytest.FixtureRequest) -> list[str]:
    if request.param == "executable":
        return [str(request.getfixturevalue("sidecar_exe"))]
    return [sys.executable, "-m", "nodebase", "serve", "--sidecar"]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("NODEBASE_")}


class Sidecar:
    """A sidecar started with a pipe as stdin (as Tauri starts it) and its JSON line read."""

    def __init__(self, argv: list[str], data_dir: Path, *extra: str) -> None:
        self.stderr = data_dir.parent / f"{data_dir.name}-stderr.log"
        self.proc = subprocess.Popen([*argv, "--data-dir", str(data_dir), *extra],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr.open("ab"), env=_env())
        assert self.proc.stdout is not None
        raw = self.proc.stdout.readline()
        assert raw, f"no line on stdout; stderr: {self.stderr.read_text()}"
        self.line: dict[str, Any] = json.loads(raw)
        self.rest = self.proc.stdout  # anything more on stdout would break the contract

    @property
    def url(self) -> str:
        return str(self.line["url"])

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.line['token']}"}

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(pids: list[int], within: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < within + 3:
        if all(_gone(p) for p in pids):
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"processes {pids} still running {within + 3:.0f}s later")


def _crud(sc: Sidecar, entity: str, title: str) -> Any:
    with httpx.Client(base_url=sc.url, headers=sc.headers(), timeout=30) as c:
        r = c.post(f"/api/system/config/add/data/entities.{entity}",
                   json={"fields": {"title": {"type": "text", "config": {"required": True}}}})
        assert r.status_code == 202, r.text
        r = c.post(f"/api/data/entity/{entity}", json={"title": title})
        assert r.status_code == 201, r.text
        id = r.json()["data"]["id"]
        assert c.get(f"/api/data/entity/{entity}/{id}").json()["data"]["title"] == title
        return id


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "app-data"


def test_the_json_line_a_token_and_a_crud_round_trip(launch: list[str], data_dir: Path) -> None:
    sc = Sidecar(launch, data_dir)
    try:
        line = sc.line
        assert set(line) == {"port", "url", "token", "pid"}
        assert line["url"] == f"http://127.0.0.1:{line['port']}"
        assert httpx.get(sc.url + "/api/system/ping").json() == {"pong": True}
        # the token is an admin credential; without it the same call is refused
        anonymous = httpx.get(sc.url + "/api/system/config")
        assert anonymous.status_code == 403, anonymous.text
        assert httpx.get(sc.url + "/api/system/config", headers=sc.headers()).status_code == 200
        assert httpx.get(sc.url + "/api/system/config",
                         headers={"X-API-Key": line["token"]}).status_code == 200
        _crud(sc, "notes", "hello")
    finally:
        sc.close_stdin()
        sc.proc.wait(10)
    # exactly one line on stdout, and the token is nowhere on disk or in the log
    assert sc.rest.read() == b""
    token = sc.line["token"].encode()
    for path in [*data_dir.rglob("*"), sc.stderr]:
        if path.is_file():
            assert token not in path.read_bytes(), f"the launch token was written to {path}"
    # and it does not outlive the launch
    sc2 = Sidecar(launch, data_dir)
    try:
        refused = httpx.get(sc2.url + "/api/system/config", headers=sc.headers())
        assert refused.status_code == 403, refused.text
        assert "credentials sent were refused" in refused.json()["description"]
    finally:
        sc2.stop()


def test_stdin_closed_means_exit_and_the_data_survives(launch: list[str], data_dir: Path) -> None:
    sc = Sidecar(launch, data_dir)
    id = _crud(sc, "posts", "kept")
    sc.close_stdin()
    assert sc.proc.wait(2 + 3) == 0
    assert "stdin closed" in sc.stderr.read_text()
    assert _database_closed(data_dir)
    again = Sidecar(launch, data_dir)
    try:
        r = httpx.get(f"{again.url}/api/data/entity/posts/{id}", headers=again.headers())
        assert r.json()["data"]["title"] == "kept"
    finally:
        again.stop()


PARENT = textwrap.dedent("""
    import subprocess, sys
    child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    sys.stdout.write(child.stdout.readline().decode())
    sys.stdout.write(str(child.pid) + "\\n")
    sys.stdout.flush()
    child.wait()
""")


def test_the_sidecar_exits_when_its_parent_is_killed(launch: list[str], data_dir: Path) -> None:
    """The parent (the "Tauri app") is SIGKILLed: no stdin close, no signal reaches the sidecar;
    the watchdog must notice within 2 s. Then the data written before is intact."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT, *launch, "--data-dir", str(data_dir)],
                              stdout=subprocess.PIPE, env=_env())
    assert parent.stdout is not None
    line = json.loads(parent.stdout.readline())
    spawned = int(parent.stdout.readline())
    fake = Sidecar.__new__(Sidecar)
    fake.line = line
    id = _crud(fake, "items", "before the kill")
    pids = sorted({spawned, int(line["pid"])})
    for pid in pids:
        assert not _gone(pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait(5)
    took = _wait_gone(pids, within=2)
    assert took <= 2.0, f"the sidecar took {took:.2f}s to exit after its parent was killed"
    again = Sidecar(launch, data_dir)
    try:
        r = httpx.get(f"{again.url}/api/data/entity/items/{id}", headers=again.headers())
        assert r.status_code == 200 and r.json()["data"]["title"] == "before the kill"
    finally:
        again.stop()


def test_a_second_instance_on_the_same_data_dir_refuses(launch: list[str], data_dir: Path) -> None:
    first = Sidecar(launch, data_dir)
    try:
        second = subprocess.run([*launch, "--data-dir", str(data_dir)], stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=60, env=_env())
        assert second.returncode == EXIT_LOCKED
        assert second.stdout == ""
        assert f"in use by another nodebase (pid {first.line['pid']})" in second.stderr
        assert httpx.get(first.url + "/api/system/ping").status_code == 200
    finally:
        first.stop()


def test_two_sidecars_get_their_own_ports_and_a_taken_port_is_a_clear_error(
        launch: list[str], tmp_path: Path) -> None:
    a = Sidecar(launch, tmp_path / "a")
    b = Sidecar(launch, tmp_path / "b")
    try:
        assert a.line["port"] != b.line["port"]
        for sc in (a, b):
            assert httpx.get(sc.url + "/api/system/ping").status_code == 200
        taken = subprocess.run([*launch, "--data-dir", str(tmp_path / "c"), "--port",
                                str(a.line["port"])], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=60, env=_env())
        assert taken.returncode == 1
        assert taken.stdout == ""
        assert f"cannot bind 127.0.0.1:{a.line['port']}" in taken.stderr
    finally:
        a.stop()
        b.stop()


def _database_closed(data_dir: Path) -> bool:
    """SQLite removes the WAL file when the last connection closes cleanly."""
    wal = data_dir / "data.db-wal"
    return (data_dir / "data.db").is_file() and not wal.exists()


def test_sigterm_finishes_cleanly(launch: list[str], data_dir: Path) -> None:
    sc = Sidecar(launch, data_dir)
    _crud(sc, "things", "x")
    sc.proc.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then exits by the signal it caught (as a shell expects)
    assert sc.proc.wait(5) == -signal.SIGTERM
    assert _database_closed(data_dir)
    assert "Traceback" not in sc.stderr.read_text()
    with socket.socket() as s:  # the port is free again
        s.bind(("127.0.0.1", sc.line["port"]))


NODE_DIR = ROOT / "tests" / "node"


def test_the_tauri_example_starts_it_and_bknds_client_uses_it(sidecar_exe: Path,
                                                              data_dir: Path) -> None:
    """examples/tauri/src/nodebase.js, run under Node with a stand-in for Tauri's shell
    Command that spawns the real executable: the JSON line, bknd's client with the launch
    token (config, create, list), and a graceful stop ("exit" on stdin)."""
    assert shutil.which("node"), "node is not installed"
    if not (NODE_DIR / "node_modules" / "bknd" / "package.json").is_file():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=NODE_DIR, check=True, timeout=600, capture_output=True)
    r = subprocess.run(["node", "tauri_glue.mjs"], cwd=NODE_DIR, capture_output=True, text=True,
                       timeout=120, env={**_env(), "NB_SIDECAR": str(sidecar_exe),
                                         "NB_DATA_DIR": str(data_dir)})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["addEntity"] == {"ok": True, "status": 202}
    assert out["created"] == {"ok": True, "status": 201, "title": "from the app"}
    assert out["list"] == {"ok": True, "titles": ["from the app"], "total": 1}
    assert out["exit"]["code"] == 0 and out["exit"]["signal"] is None
    assert _database_closed(data_dir)


@pytest.fixture(autouse=True)
def _no_leftovers() -> Iterator[None]:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield
    for p in psutil.Process().children(recursive=True):
        if p.pid not in before:
            p.kill()
