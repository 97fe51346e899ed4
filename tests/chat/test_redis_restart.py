"""Redis killed for a few seconds and brought back (same port) under two chat nodes: a
message sent while it is down is stored and acknowledged, live delivery resumes when it is
back (the missed message filled in from the database, in order), and ``join_room
{after_seq}`` gets everything."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.chat.helpers import auth, name, register, sync, ws
from tests.conftest import unique
from tests.nodeserver import NodeServer
from tests.support.services import PostgresServer, free_port


class Redis:
    """A redis-server that can be killed and started again on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                                      "--appendonly", "no", "--dir", str(self.workdir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                import socket

                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture(scope="module")
def nodes(postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeServer, NodeServer, Redis]]:
    redis = Redis(tmp_path_factory.mktemp("redis-restart"))
    redis.start()
    url = postgres.create_database(unique("nb_chat_redis"))
    env = {"NODEBASE_APPS": "chat", "NODEBASE_BROKER_URL": redis.url, "NODEBASE_AUTH_SECRET": secrets.token_hex(32),
           "NODEBASE_CHAT_SEND_RATE": "0", "NODEBASE_GRPC_PORT": "0"}
    a = NodeServer(tmp_path_factory.mktemp("chat-ra"), database_url=url, env=env).start()
    b = NodeServer(tmp_path_factory.mktemp("chat-rb"), database_url=url, env=env).start()
    try:
        yield a, b, redis
    finally:
        for n in (a, b):
            n.stop()
        redis.kill()
        for n in (a, b):
            assert not n.server_errors(), n.server_errors()


@sync
async def test_redis_restart_loses_no_acknowledged_message(nodes: tuple[NodeServer, NodeServer, Redis]) -> None:
    a, b, redis = nodes
    _, alice = register(a)
    _, bob = register(b)
    room = name("redis")
    async with ws(a, alice) as wa, ws(b, bob) as wb, httpx.AsyncClient(base_url=a.url, headers=auth(alice)) as c:
        await wa.join(room)
        await wb.join(room)
        await wa.barrier()
        first = (await c.post("/chat/messages", json={"room_id": room, "content": "before"})).json()["message"]
        got, _ = await wb.until("new_message")
        assert got["message"] == first

        redis.kill()
        during = await c.post("/chat/messages", json={"room_id": room, "content": "while redis is down"})
        assert during.status_code == 201, during.text  # stored and acknowledged without the broker
        redis.start()

        # wait (bounded) until a's publications reach b again: typing notices are ephemeral probes
        deadline = time.monotonic() + 30
        through = False
        while not through and time.monotonic() < deadline:
            await wa.send(type="typing", room_id=room)
            try:
                while True:
                    f = await wb.recv(timeout=0.5)
                    if f["type"] == "typing":
                        through = True
                        break
            except TimeoutError:
                continue
        assert through, "delivery did not resume after Redis came back"
        after = (await c.post("/chat/messages", json={"room_id": room, "content": "after"})).json()["message"]
        seqs = []
        while not seqs or seqs[-1] < after["seq"]:
            f = await wb.recv()
            if f["type"] == "new_message":
                seqs.append(f["message"]["seq"])
        assert seqs == [2, 3]  # the one sent during the outage filled in, in order
    async with ws(b, bob) as again:
        _, before = await again.join(room, after_seq=0)
        assert [f["message"]["content"] for f in before if f["type"] == "new_message"] == [
            "before", "while redis is down", "after"]
    await asyncio.sleep(0)
