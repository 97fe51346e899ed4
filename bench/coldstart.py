"""Cold start: time from launching `nodebase serve` to its first answer (target: < 1 s).

Usage: python bench/coldstart.py [--runs 5] [--python PATH]
Each run uses a fresh data dir (so it includes creating the SQLite file and schema tables).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def one_run(python: str) -> float:
    port = free_port()
    data = tempfile.mkdtemp(prefix="nb-cold-")
    env = {**os.environ, "NODEBASE_DATA_DIR": data, "NODEBASE_PROJECT_DIR": data}
    t0 = time.perf_counter()
    proc = subprocess.Popen([python, "-m", "nodebase", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/system/ping", timeout=1) as r:
                    if r.status == 200:
                        return time.perf_counter() - t0
            except OSError:
                if time.perf_counter() - t0 > 30:
                    raise RuntimeError("no answer within 30 s") from None
                time.sleep(0.005)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args()
    times = [one_run(args.python) for _ in range(args.runs)]
    print(f"cold start to first answer over {args.runs} runs: "
          f"median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms "
          f"(target < 1000 ms)")


if __name__ == "__main__":
    main()
