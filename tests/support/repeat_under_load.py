"""Run one test function many times against one real server while CPU-bound processes compete
for the cores: a way to reproduce (and to show gone) failures that only happen under load.

    .venv/bin/python -m tests.support.repeat_under_load \\
        tests.auth.test_password:test_no_input_makes_a_5xx --iterations 200 --backend postgres

The test function must take one argument, the ``NodeServer``;
``tests.support.repeat_under_load:refused_body_then_next`` is the pattern behind that defect,
concentrated. ``--server granian`` runs the
server under granian instead of uvicorn (the cause of issue 7's defect 9). Bounded: every
iteration has the test's own timeouts, and every process started is stopped at the end.
"""

from __future__ import annotations

import argparse
import importlib
import multiprocessing
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

from tests.nodeserver import NodeServer
from tests.support.services import start_postgres


def refused_body_then_next(node: NodeServer) -> None:
    """The pattern behind defect 9, concentrated: on one keep-alive connection, a 100 KB body
    the route refuses without reading (anonymous password change: 401), then another request."""
    import httpx

    big = b'{"email":"a@b.co","password":"' + b"x" * 100_000 + b'"}'
    with httpx.Client(base_url=node.url, timeout=30) as c:
        for _ in range(20):
            r = c.post("/api/auth/password/change", content=big,
                       headers={"Content-Type": "application/json"})
            assert 400 <= r.status_code < 500, r.status_code
            r = c.post("/api/auth/password/change", content=b"\xff\xfe",
                       headers={"Content-Type": "application/octet-stream"})
            assert r.status_code == 415, r.status_code


def _burn(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("test", help="module:function, e.g. tests.auth.test_password:test_no_input_makes_a_5xx")
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--backend", choices=("sqlite", "postgres"), default="postgres")
    p.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn")
    p.add_argument("--burners", type=int, default=2, help="busy-loop processes beside the test")
    p.add_argument("--max-seconds", type=float, default=1800, help="stop after this long")
    args = p.parse_args()
    module, _, name = args.test.partition(":")
    test = getattr(importlib.import_module(module), name)

    with tempfile.TemporaryDirectory(prefix="repeat-") as tmp:
        work = Path(tmp)
        pg = start_postgres(work / "pg") if args.backend == "postgres" else None
        burners = [multiprocessing.Process(target=_burn, args=(args.max_seconds,), daemon=True)
                   for _ in range(args.burners)]
        node = NodeServer(work / "node", database_url=pg.url if pg else "",
                          env={"NODEBASE_SERVER": args.server})
        failures: Counter[str] = Counter()
        done = 0
        try:
            node.start()
            for b in burners:
                b.start()
            deadline = time.monotonic() + args.max_seconds
            for i in range(args.iterations):
                if time.monotonic() > deadline:
                    break
                try:
                    test(node)
                except Exception as exc:
                    failures[f"{type(exc).__module__}.{type(exc).__name__}: {exc}"[:200]] += 1
                    if sum(failures.values()) == 1:
                        traceback.print_exc()
                done = i + 1
        finally:
            for b in burners:
                b.terminate()
            node.stop()
            if pg:
                pg.stop()
        errors = node.server_errors()
    print(f"{name} on {args.backend} under {args.server}, {args.burners} busy-loop processes: "
          f"{done} iterations, {sum(failures.values())} failed")
    for what, n in failures.most_common():
        print(f"  {n} × {what}")
    if errors:
        print("server log errors:\n" + errors)
    return 1 if failures or errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
