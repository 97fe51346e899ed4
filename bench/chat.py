#!/usr/bin/env python3
"""Chat room fan-out: nodebase's chat WebSocket vs python-socketio (uvicorn) with the same
semantics — store the message in SQLite, then broadcast to the room without self-echo.

Reuses bench/realtime.py's machinery (client processes, CPU/RSS sampling, the Socket.IO
client dialect, bench/.work/rt-venv): 1 sender in a room of ``--subscribers`` members,
modes ``burst`` and ``paced``. Socket.IO on Node 20 is not in this run (it needs an SQLite
binding from npm; see docs/chat.md "What is not done").

Usage::

    python bench/chat.py [--messages 1000] [--subscribers 200] [--rate 50] [--only nodebase,pysio]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.services import free_port  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from bench.realtime import (  # noqa: E402
    WORK,
    Dialect,
    Nodebase,
    Result,
    Server,
    SocketIoDialect,
    ensure_rt_venv,
    fan_out,
    log,
)

PYSIO_CHAT = '''
import sqlite3, time, uuid, socketio
db = sqlite3.connect("chat_bench.db", isolation_level=None)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=NORMAL")
db.execute("CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, room TEXT, seq INTEGER, content TEXT, "
           "created_at INTEGER, UNIQUE (room, seq))")
seqs = {}
sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")

@sio.event
async def join(sid, room):
    await sio.enter_room(sid, room)
    return "ok"

@sio.event
async def msg(sid, data):
    seq = seqs.get("bench", 0) + 1
    seqs["bench"] = seq
    mid = "m_" + uuid.uuid4().hex
    db.execute("INSERT INTO messages VALUES (?, ?, ?, ?, ?)", (mid, "bench", seq, data["content"], int(time.time() * 1000)))
    await sio.emit("msg", {"id": mid, "seq": seq, "content": data["content"]}, room="bench", skip_sid=sid)

app = socketio.ASGIApp(sio)
'''


class ChatDialect(Dialect):
    def __init__(self, token: str) -> None:
        self.token = token

    async def open(self, server: Server) -> ClientConnection:
        return await connect(f"ws://127.0.0.1:{server.port}/ws?token={self.token}", compression=None,
                             max_queue=None, ping_interval=None)

    async def join(self, conn: ClientConnection) -> None:
        await conn.send('{"type":"join_room","room_id":"bench"}')
        while json.loads(await conn.recv()).get("type") != "room_joined":
            pass

    def publish_frame(self, payload: dict[str, Any]) -> str:
        return json.dumps({"type": "send_message", "room_id": "bench", "content": json.dumps(payload)})

    def delivery(self, frame: str | bytes) -> dict[str, Any] | None:
        if isinstance(frame, str) and frame.startswith('{"type":"new_message"'):
            data: dict[str, Any] = json.loads(json.loads(frame)["message"]["content"])
            return data
        return None


class ChatSender(ChatDialect):
    """The sender joins before sending (the protocol requires it)."""

    async def open(self, server: Server) -> ClientConnection:
        conn = await super().open(server)
        await self.join(conn)
        return conn


class SioChatDialect(SocketIoDialect):
    def publish_frame(self, payload: dict[str, Any]) -> str:
        return "42" + json.dumps(["msg", {"content": json.dumps(payload)}])

    def delivery(self, frame: str | bytes) -> dict[str, Any] | None:
        if isinstance(frame, str) and frame.startswith('42["msg"'):
            data: dict[str, Any] = json.loads(json.loads(frame[2:])[1]["content"])
            return data
        return None


class PySioChat(Server):
    name = "python-socketio 5 (uvicorn), SQLite store + broadcast"

    def start(self) -> None:
        venv = ensure_rt_venv()
        home = WORK / "chat-pysio"
        home.mkdir(parents=True, exist_ok=True)
        (home / "chat_pysio_server.py").write_text(PYSIO_CHAT)
        (home / "chat_bench.db").unlink(missing_ok=True)
        self.port = free_port()
        self.proc = subprocess.Popen(
            [str(venv / "bin" / "uvicorn"), "chat_pysio_server:app", "--port", str(self.port), "--loop", "uvloop",
             "--http", "httptools", "--ws", "websockets-sansio", "--ws-per-message-deflate", "false",
             "--log-level", "warning"],
            cwd=home, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_port()


class _Split(Dialect):
    """Receivers speak ``rx``; the sender's connection is opened (and joined) by ``tx``."""

    def __init__(self, rx: Dialect, tx: Dialect) -> None:
        self.rx, self.tx = rx, tx

    async def open(self, server: Server) -> ClientConnection:
        return await self.rx.open(server)

    async def join(self, conn: ClientConnection) -> None:
        await self.rx.join(conn)

    def publish_frame(self, payload: dict[str, Any]) -> str:
        return self.rx.publish_frame(payload)

    def delivery(self, frame: str | bytes) -> dict[str, Any] | None:
        return self.rx.delivery(frame)

    async def answer(self, conn: ClientConnection, frame: str | bytes) -> None:
        await self.rx.answer(conn, frame)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--subscribers", type=int, default=200)
    ap.add_argument("--rate", type=float, default=50.0, help="paced mode: messages per second")
    ap.add_argument("--only", default="nodebase,pysio")
    ap.add_argument("--modes", default="burst,paced")
    ap.add_argument("--clients", type=int, default=2)
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    for key in args.only.split(","):
        if key == "nodebase":
            server: Server = Nodebase({"NODEBASE_APPS": "chat", "NODEBASE_CHAT_SEND_RATE": "0",
                                       "NODEBASE_CHAT_FRAME_RATE": "100000", "NODEBASE_GRPC_PORT": "0"})
            server.name = "nodebase chat (uvicorn), store + broadcast"
        else:
            server = PySioChat()
        try:
            server.start()
            for mode in args.modes.split(","):
                if key == "nodebase":
                    token = server.token  # type: ignore[attr-defined]
                    dialect: Dialect = _Sender(ChatDialect(token), ChatSender(token))
                else:
                    dialect = SioChatDialect()
                log(f"{server.name}: {mode} ...")
                results.append(fan_out(server, dialect, mode, args.subscribers, args.messages, args.rate,
                                       args.clients))
                log("  " + results[-1].row())
        finally:
            server.stop()
    print(f"\n1 sender + {args.subscribers} members in one room ({args.clients} client processes), "
          f"{args.messages} messages, paced at {args.rate:.0f} msg/s; {time.strftime('%Y-%m-%d')}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}\n")
    print("| server | mode | deliveries/s | p50 ms | p99 ms | server CPU µs/delivery | peak RSS | delivered |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(r.row())


class _Sender(_Split):
    """Receivers (forked client processes) open through ``rx`` and join; fan_out's sender,
    in this process, opens through ``tx``, which joins too (a chat sender must join)."""

    async def open(self, server: Server) -> ClientConnection:
        if os.getpid() == self.parent:
            return await self.tx.open(server)
        return await self.rx.open(server)

    @property
    def parent(self) -> int:
        return PARENT


PARENT = os.getpid()

if __name__ == "__main__":
    main()
