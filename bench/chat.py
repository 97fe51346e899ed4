#!/usr/bin/env python3
"""Chat: nodebase's chat WebSocket vs Socket.IO 4.8 on Node 20 vs python-socketio 5 (uvicorn),
each a chat server of the same semantics — store the message in SQLite (WAL, synchronous
NORMAL), acknowledge it to the sender, broadcast it to the rest of the room, no self-echo.

Two loads, the same Python clients for all three servers (bench/fanout.py):

* ``room``: 1 sender in a room of ``--subscribers`` members; ``burst`` (all messages at once:
  deliveries/s) and ``paced`` (``--rate`` messages/s: latency).
* ``pairs``: ``--users`` connections in rooms of two, each sending ``--user-rate`` messages
  a second for ``--seconds``; each message reaches the partner.

Reported: sends/s, deliveries/s, p50/p99 send → delivery latency, server CPU µs per delivery
(the least load-sensitive figure on a shared box), peak RSS, deliveries counted against the
expected (a self-echo would be counted apart), and the rows the server stored.

The peers are prepared on first use in bench/.work/: rt-venv (uvicorn, python-socketio) and
rt-node (npm socket.io@4.8 and better-sqlite3, whose native module npm builds or downloads
at install). Everything it starts is stopped on exit.

Usage::

    python bench/chat.py [--only nodebase,sio,pysio] [--loads room,pairs] [--messages 300] [--client-ids]
                         [--subscribers 200] [--users 500] [--seconds 10] [--client node]
    # --client node: the room load's members are Node 20 ws clients (bench/rt_client.js)
    # before/after: git worktree add /tmp/nb-old <rev>
    python bench/chat.py --only baseline,nodebase,baseline,nodebase --baseline /tmp/nb-old/src
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from websockets.asyncio.client import ClientConnection  # noqa: E402

from bench.fanout import (  # noqa: E402
    PYSIO_PRELUDE,
    ROOM,
    WORK,
    JsonWsDialect,
    NodeApp,
    Nodebase,
    Result,
    Server,
    SocketIoDialect,
    UvicornApp,
    fan_out,
    log,
    pairs,
    print_results,
)

SCHEMA = ("CREATE TABLE messages (id TEXT PRIMARY KEY, room TEXT, seq INTEGER, content TEXT, "
          "created_at INTEGER, UNIQUE (room, seq))")

PYSIO_CHAT = PYSIO_PRELUDE + f'''
import os, sqlite3, time, uuid
if os.path.exists("chat_bench.db"):
    os.remove("chat_bench.db")
db = sqlite3.connect("chat_bench.db", isolation_level=None)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=NORMAL")
db.execute("{SCHEMA}")
seqs = {{}}

@sio.event
async def msg(sid, data):
    room = data["room"]
    seq = seqs[room] = seqs.get(room, 0) + 1
    mid, now = "m_" + uuid.uuid4().hex, int(time.time() * 1000)
    db.execute("INSERT INTO messages VALUES (?, ?, ?, ?, ?)", (mid, room, seq, data["content"], now))
    message = {{"id": mid, "seq": seq, "room_id": room, "content": data["content"], "created_at": now}}
    await sio.emit("msg", message, room=room, skip_sid=sid)
    return message

app = socketio.ASGIApp(sio)
'''

NODE_CHAT = f'''
const fs = require("fs");
const crypto = require("crypto");
const {{ Server }} = require("socket.io");
const Database = require("better-sqlite3");
for (const f of ["chat_bench.db", "chat_bench.db-wal", "chat_bench.db-shm"]) fs.rmSync(f, {{ force: true }});
const db = new Database("chat_bench.db");
db.pragma("journal_mode = WAL");
db.pragma("synchronous = NORMAL");
db.exec("{SCHEMA}");
const insert = db.prepare("INSERT INTO messages VALUES (?, ?, ?, ?, ?)");
const seqs = new Map();
const io = new Server(Number(process.env.PORT), {{ perMessageDeflate: false, transports: ["websocket"] }});
io.on("connection", (s) => {{
  s.on("join", (room, ack) => {{ s.join(room); if (ack) ack("ok"); }});
  s.on("msg", (d, ack) => {{
    const room = d.room;
    const seq = (seqs.get(room) || 0) + 1;
    seqs.set(room, seq);
    const id = "m_" + crypto.randomUUID().replaceAll("-", ""), now = Date.now();
    insert.run(id, room, seq, d.content, now);
    const message = {{ id, seq, room_id: room, content: d.content, created_at: now }};
    s.to(room).emit("msg", message);  // the room but the sending socket
    if (ack) ack(message);
  }});
}});
'''


def _rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        n: int = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        return n


class NodebaseChat(Nodebase):
    name = "nodebase chat (uvicorn)"

    def __init__(self, src: str = "") -> None:
        """``src``: run nodebase from that source tree instead (``git worktree add /tmp/old
        <rev>`` then ``--baseline /tmp/old/src``): a before/after in one run."""
        env = {"NODEBASE_APPS": "chat", "NODEBASE_CHAT_SEND_RATE": "0", "NODEBASE_CHAT_FRAME_RATE": "100000",
               "NODEBASE_GRPC_PORT": "0"}
        if src:
            env["PYTHONPATH"] = str(Path(src).resolve())
            self.name = f"nodebase chat (uvicorn) from {src}"
        super().__init__(env)

    def stored(self) -> int:
        import httpx

        r = httpx.get(self.node.url + "/chat/stats", headers={"Authorization": f"Bearer {self.token}"})
        n: int = r.json()["messages"]
        return n


class NodeSioChat(NodeApp):
    def __init__(self) -> None:
        super().__init__("Socket.IO 4.8 (Node 20), better-sqlite3", "chat_server.js", NODE_CHAT,
                         ("socket.io@4.8", "better-sqlite3@12"))

    def stored(self) -> int:
        return _rows(self.home / "chat_bench.db")


class PySioChat(UvicornApp):
    def __init__(self) -> None:
        super().__init__("python-socketio 5 (uvicorn), sqlite3", WORK / "chat-pysio", "chat_pysio_server",
                         PYSIO_CHAT)

    def stored(self) -> int:
        return _rows(self.home / "chat_bench.db")


class ChatDialect(JsonWsDialect):
    """nodebase's chat protocol (shared/protocols/chat.md)."""

    path, joined, prefix = "/ws", '"type":"room_joined"', '{"type":"new_message"'
    payload_path = ("message", "content")
    #: --client-ids: every send carries a client_id (idempotent, as real clients send)
    client_ids = False

    def join_frame(self, room: str) -> str:
        return json.dumps({"type": "join_room", "room_id": room})

    def publish_frame(self, payload: dict[str, Any], room: str = ROOM) -> str:
        frame = {"type": "send_message", "room_id": room, "content": json.dumps(payload)}
        if self.client_ids:
            frame["client_id"] = uuid.uuid4().hex
        return json.dumps(frame)

    def payload(self, doc: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(doc["message"]["content"])
        return data

    def ack(self, frame: str | bytes) -> bool:
        return isinstance(frame, str) and frame.startswith('{"type":"message_ack"')


class ChatSender(ChatDialect):
    """The room load's sender joins before sending (the protocol requires it)."""

    async def open(self, server: Server) -> ClientConnection:
        conn = await super().open(server)
        await self.join(conn)
        return conn


class SioChatDialect(SocketIoDialect):
    """``msg`` {room, content} with an ack (the stored message), like nodebase's message_ack."""

    payload_path = ("content",)

    def publish_frame(self, payload: dict[str, Any], room: str = ROOM) -> str:
        return "421" + json.dumps(["msg", {"room": room, "content": json.dumps(payload)}])

    def delivery(self, frame: str | bytes) -> dict[str, Any] | None:
        if isinstance(frame, str) and frame.startswith('42["msg"'):
            data: dict[str, Any] = json.loads(json.loads(frame[2:])[1]["content"])
            return data
        return None

    def ack(self, frame: str | bytes) -> bool:
        return isinstance(frame, str) and frame.startswith("431")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="nodebase,sio,pysio")
    ap.add_argument("--loads", default="room,pairs")
    ap.add_argument("--messages", type=int, default=300, help="room load: messages of the sender")
    ap.add_argument("--subscribers", type=int, default=200, help="room load: members")
    ap.add_argument("--rate", type=float, default=50.0, help="room load, paced: messages per second")
    ap.add_argument("--modes", default="burst,paced", help="room load")
    ap.add_argument("--users", type=int, default=500, help="pairs load: connections (rooms of two)")
    ap.add_argument("--user-rate", type=float, default=1.0, help="pairs load: messages a second per user")
    ap.add_argument("--seconds", type=float, default=10.0, help="pairs load: how long each user sends")
    ap.add_argument("--clients", type=int, default=2, help="client processes")
    ap.add_argument("--client", choices=("python", "node"), default="python",
                    help="room load: the members' client, Python websockets or Node 20 ws (bench/rt_client.js)")
    ap.add_argument("--baseline", default="", help='a nodebase source tree (".../src") for --only baseline')
    ap.add_argument("--client-ids", action="store_true",
                    help="nodebase's sends carry a client_id (idempotent sends; the peers have none)")
    args = ap.parse_args()
    ChatDialect.client_ids = args.client_ids
    WORK.mkdir(parents=True, exist_ok=True)
    makers: dict[str, Callable[[], Server]] = {"nodebase": NodebaseChat, "sio": NodeSioChat, "pysio": PySioChat,
                                               "baseline": lambda: NodebaseChat(args.baseline)}
    results: list[Result] = []
    for key in args.only.split(","):
        server: Server = makers[key]()
        try:
            server.start()
            token = getattr(server, "token", "")
            speaks_chat = key in ("nodebase", "baseline")
            rx = ChatDialect(token) if speaks_chat else SioChatDialect()
            loads = args.loads.split(",")
            if "room" in loads:
                for mode in args.modes.split(","):
                    log(f"{server.name}: room, {mode} ...")
                    tx = ChatSender(token) if speaks_chat else None
                    results.append(fan_out(server, rx, mode, args.subscribers, args.messages, args.rate,
                                           args.clients, sender=tx, client=args.client))
                    results[-1].mode = f"room of {args.subscribers}, {mode}"
                    log("  " + results[-1].row())
            if "pairs" in loads:
                log(f"{server.name}: pairs ...")
                results.append(pairs(server, rx, args.users, args.seconds, args.user_rate, args.clients))
                log("  " + results[-1].row())
        finally:
            server.stop()
    print(f"\nroom: 1 sender + {args.subscribers} members, {args.messages} messages (paced: {args.rate:g}/s); "
          f"pairs: {args.users} users for {args.seconds:g} s; {args.clients} client processes; {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print_results(results)
    pysio = {r.mode: r for r in results if r.server.startswith("python-socketio")}
    for r in results:
        p = pysio.get(r.mode)
        if r.server.startswith("nodebase") and p and p.deliveries:
            print(f"{r.server}, {r.mode}: deliveries/s {r.rate / p.rate:.2f}x python-socketio's")


if __name__ == "__main__":
    main()
