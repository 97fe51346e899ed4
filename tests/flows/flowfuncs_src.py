"""Source of the Python module the test servers import through ``flows.python_modules``
(copied into each server's project directory as ``nb_test_flowfuncs.py``)."""

import asyncio
import pathlib

import nodebase.flows

COUNTS: dict[str, int] = {}


@nodebase.flows.task("add")
def add(args, run):
    return {"sum": args["a"] + args["b"], "flow": run.flow}


@nodebase.flows.task("upper")
async def upper(args, run):
    await asyncio.sleep(0)
    return str(args).upper()


@nodebase.flows.task("fail_until")
def fail_until(args, run):
    """Fails until it has been called ``args['n']`` times for this key."""
    key = f"{run.run_id}:{args['key']}"
    COUNTS[key] = COUNTS.get(key, 0) + 1
    if COUNTS[key] < args["n"]:
        raise RuntimeError(f"attempt {COUNTS[key]} fails")
    return {"calls": COUNTS[key]}


@nodebase.flows.task("wait_for_file")
async def wait_for_file(args, run):
    path = pathlib.Path(args["path"])
    for _ in range(6000):
        if path.exists():
            return "released"
        await asyncio.sleep(0.01)
    raise RuntimeError("not released")
