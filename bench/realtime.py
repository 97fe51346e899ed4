#!/usr/bin/env python3
"""Room fan-out benchmark: nodebase realtime vs python-socketio (uvicorn) vs Socket.IO 4.8
(Node 20), the same load for each, in one run.

1 publisher + 200 subscribers on one channel, 100-byte messages; the subscribers are spread
over ``--clients`` client processes (``--client python``: Python ``websockets``; ``--client node``:
Node 20 with npm ``ws``, bench/rt_client.js); the Socket.IO servers are spoken to with the same
client speaking Engine.IO 4 / Socket.IO 5 frames, so the client cost is the same for all. Each
client process reports its CPU time: the "client CPU µs/delivery" column.
Modes: ``burst`` (all messages sent at once: deliveries/s) and ``paced`` (200 msg/s =
40,000 deliveries/s: p50/p99 end-to-end latency). Server CPU µs per delivery (user+system
of the server's process tree over the run) and peak RSS are measured with psutil.

Prepares the peers on first use in bench/.work/ (a venv with uvicorn + python-socketio, and
npm's socket.io@4.8 and ws@8). Everything it starts is stopped on exit. ``--nice -10`` (root)
runs the bench, its servers and clients ahead of the rest of a loaded box.

Usage::

    python bench/realtime.py [--messages 2000] [--subscribers 200] [--only nodebase,nodebase-uvicorn,pysio,sio]
                             [--modes burst,paced] [--rate 200] [--client node] [--nice -10]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.fanout import (  # noqa: E402
    PYSIO_PRELUDE,
    ROOT,
    WORK,
    Dialect,
    JsonWsDialect,
    NodeApp,
    Nodebase,
    Result,
    Server,
    SocketIoDialect,
    UvicornApp,
    apply_nice,
    boost,
    ensure_rt_venv,
    fan_out,
    log,
    print_results,
    tree,
)

__all__ = ["Nodebase", "NodebaseUvicorn", "tree"]  # bench/realtime_idle.py uses them

PYSIO_SERVER = PYSIO_PRELUDE + '''
@sio.event
async def msg(sid, data):
    await sio.emit("msg", data, room="bench", skip_sid=sid)

app = socketio.ASGIApp(sio)
'''

NODE_SERVER = '''
const { Server } = require("socket.io");
const io = new Server(Number(process.env.PORT), { perMessageDeflate: false, transports: ["websocket"] });
io.on("connection", (s) => {
  s.on("join", (room, ack) => { s.join(room); if (ack) ack("ok"); });
  s.on("msg", (d) => s.to("bench").emit("msg", d));
});
'''


class NodebaseUvicorn(Nodebase):
    """The same app under uvicorn + websockets-sansio (uvicorn from bench/.work/rt-venv)."""

    name = "nodebase (uvicorn, websockets-sansio)"

    def command(self) -> list[str]:
        """The server's command line (``self.port`` and the data dir are set by then)."""
        return [sys.executable, "-m", "uvicorn", "--factory", "nodebase.server:app_factory", "--port", str(self.port),
                "--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio",
                "--ws-per-message-deflate", "false", "--log-level", "warning"]

    def start(self) -> None:
        import subprocess

        site = ensure_rt_venv() / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
        env = self.node.env()
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(site)])
        self.port = self.node.port
        self.node.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            self.command(), env=env, cwd=self.node.data_dir, start_new_session=True, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self.node.proc = self.proc
        self.wait_port()
        self.login()


class PySio(UvicornApp):
    def __init__(self) -> None:
        super().__init__("python-socketio (uvicorn, websockets-sansio)", WORK, "rt_pysio_server", PYSIO_SERVER)


class NodeSio(NodeApp):
    def __init__(self) -> None:
        super().__init__("Socket.IO 4.8 (Node 20)", "server.js", NODE_SERVER, ("socket.io@4.8",))


class NodebaseDialect(JsonWsDialect):
    path, joined, prefix = "/api/realtime", '"op":"subscribed"', '{"op":"event"'
    payload_path = ("data",)

    def join_frame(self, room: str) -> str:
        return json.dumps({"op": "subscribe", "channel": room})

    def publish_frame(self, payload: dict[str, Any], room: str = "bench") -> str:
        return json.dumps({"op": "publish", "channel": room, "data": payload})

    def payload(self, doc: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = doc["data"]
        return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--subscribers", type=int, default=200)
    ap.add_argument("--rate", type=float, default=200.0, help="paced mode: messages per second")
    ap.add_argument("--only", default="nodebase,nodebase-uvicorn,pysio,sio")
    ap.add_argument("--modes", default="burst,paced")
    ap.add_argument("--clients", type=int, default=2, help="client processes the subscribers are spread over")
    ap.add_argument("--client", choices=("python", "node"), default="node",
                    help="the subscribers' client: Python websockets or Node 20 ws (bench/rt_client.js)")
    ap.add_argument("--nice", type=int, default=0, help="scheduling priority of the bench and what it starts")
    args = ap.parse_args()
    apply_nice(args.nice)
    WORK.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()[0]
    # the publisher sends far more than a client's default 100 frames/s: raise that limit only
    makers: dict[str, Callable[[], tuple[Server, Callable[[Server], Dialect]]]] = {
        "nodebase": lambda: (Nodebase({"NODEBASE_REALTIME_RATE": "100000"}),
                             lambda s: NodebaseDialect(s.token)),  # type: ignore[attr-defined]
        "nodebase-uvicorn": lambda: (NodebaseUvicorn({"NODEBASE_REALTIME_RATE": "100000"}),
                                     lambda s: NodebaseDialect(s.token)),  # type: ignore[attr-defined]
        "pysio": lambda: (PySio(), lambda s: SocketIoDialect()),
        "sio": lambda: (NodeSio(), lambda s: SocketIoDialect()),
    }
    results: list[Result] = []
    for key in args.only.split(","):
        server, dialect_of = makers[key]()
        try:
            server.start()
            boost(server.pid(), args.nice)
            for mode in args.modes.split(","):
                log(f"{server.name}: {mode} ...")
                results.append(fan_out(server, dialect_of(server), mode, args.subscribers, args.messages,
                                       args.rate, args.clients, client=args.client))
                log("  " + results[-1].row())
        finally:
            server.stop()
    print(f"\n{args.subscribers} subscribers in {args.clients} {args.client} client processes + 1 publisher, "
          f"{args.messages} messages of ~100 B, "
          f"paced at {args.rate:.0f} msg/s; {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
          f"load average {load0:.1f} at start, {os.getloadavg()[0]:.1f} at end, nice {args.nice}\n")
    print_results(results)


if __name__ == "__main__":
    main()
