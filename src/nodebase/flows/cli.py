"""``nodebase flow run NAME [--input JSON]``: run a flow here and print its output as JSON."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from typing import Any

from nodebase.kernel import jsonutil
from nodebase.kernel.errors import NodebaseError


def add_commands(sub: Any, common: Callable[[argparse.ArgumentParser], None], settings: Callable[..., Any],
                 with_node: Callable[..., Any], print_json: Callable[[Any], None]) -> None:
    def flow_run(args: argparse.Namespace) -> int:
        try:
            value = jsonutil.loads(args.input, what="--input") if args.input is not None else None
        except NodebaseError as exc:
            sys.stderr.write(exc.message + "\n")
            return 2

        async def fn(nb: Any) -> Any:
            svc = nb.flows.service
            flow = svc.flow(args.name)
            run, done = await svc.run(flow, value, "manual", {"via": "cli"}, wait=args.timeout)
            return run, done

        try:
            run, done = asyncio.run(with_node(settings(args), fn))
        except NodebaseError as exc:
            sys.stderr.write(exc.message + "\n")
            return 2
        if done is None:
            sys.stderr.write(f"run {run.id} did not finish within {args.timeout:g} s\n")
            return 1
        print_json(done.output)
        if done.error is not None:
            sys.stderr.write(f"run {done.id} failed: {jsonutil.dumps_str(done.error)}\n")
            return 1
        return 0

    p = sub.add_parser("flow", help="flows")
    fsub = p.add_subparsers(dest="flow_command", required=True)
    c = fsub.add_parser("run", help="run a flow and print its output as JSON (exit 1 if it fails)")
    common(c)
    c.add_argument("name", help="flow name")
    c.add_argument("--input", help="the run's input, as JSON")
    c.add_argument("--timeout", type=float, default=300.0, help="seconds to wait (default 300)")
    c.set_defaults(fn=flow_run)
