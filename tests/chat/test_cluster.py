"""Two ``nodebase serve`` processes on one PostgreSQL database and one Redis are one chat:
users on different nodes talk, presence is shared, and a node SIGKILLed during a send load
loses no acknowledged message; its clients resume on the other node with no gap."""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.chat.helpers import Ws, auth, name, register, sync, ws
from tests.chat.test_presence import grpc_user, login
from tests.conftest import unique
from tests.nodeserver import NodeServer
from tests.support.services import PostgresServer, RedisServer, free_port


@dataclass
class Pair:
    a: NodeServer
    b: NodeServer


@pytest.fixture(scope="module")
def pair(redis: RedisServer, postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    url = postgres.create_database(unique("nb_chat_cluster"))
    env = {"NODEBASE_APPS": "chat", "NODEBASE_BROKER_URL": redis.url, "NODEBASE_AUTH_SECRET": secrets.token_hex(32),
           "NODEBASE_REALTIME_PRESENCE_TTL": "3",
           # a load test: its senders send as fast as the acks come back (the per-user send
           # rate and the per-connection frame rate, 50/s, are tested in test_http/test_ws)
           "NODEBASE_CHAT_SEND_RATE": "0", "NODEBASE_CHAT_FRAME_RATE": "0"}
    nodes = [NodeServer(tmp_path_factory.mktemp(f"chat-{n}"), database_url=url,
                        env={**env, "NODEBASE_GRPC_PORT": str(free_port())}) for n in "ab"]
    for n in nodes:
        n.grpc_target = f"127.0.0.1:{n.extra_env['NODEBASE_GRPC_PORT']}"  # type: ignore[attr-defined]
    nodes[0].start()
    nodes[1].start()
    try:
        yield Pair(*nodes)
    finally:
        for n in nodes:
            n.stop()
        assert not nodes[1].server_errors(), nodes[1].server_errors()


def history(node: NodeServer, token: str, room: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with httpx.Client(base_url=node.url, headers=auth(token), timeout=30) as c:
        while True:
            page = c.get(f"/chat/rooms/{room}/messages", params={"after_seq": len(out), "limit": 200}).json()
            out.extend(page["messages"])
            if not page["has_more"]:
                return out


@sync
async def test_users_on_two_nodes_talk_and_share_presence(pair: Pair) -> None:
    alice, a_token = register(pair.a)
    bob, b_token = register(pair.b)
    room = name("two")
    async with ws(pair.a, a_token) as a, ws(pair.b, b_token) as b:
        await a.join(room)
        joined, _ = await b.join(room)
        assert {u["id"] for u in joined["online_users"]} == {alice["id"], bob["id"]}
        came, _ = await a.until("user_joined")
        assert came["user"]["id"] == bob["id"]
        ack = await a.send_message(room, "hi from a")
        got, _ = await b.until("new_message")
        assert got["message"] == ack["message"]
        ack = await b.send_message(room, "hi from b")
        got, _ = await a.until("new_message")
        assert got["message"] == ack["message"] and got["message"]["seq"] == 2
        async with httpx.AsyncClient(base_url=pair.a.url, headers=auth(b_token)) as c:  # b's token on node a
            users = (await c.get(f"/chat/rooms/{room}/users")).json()["users"]
        assert {u["id"] for u in users} == {alice["id"], bob["id"]}
        # user-wide presence across nodes: alice's connection is on node a, asked on node b
        assert came["user"]["is_online"] is True
        assert login(pair.b, alice)["is_online"] is True
        assert (await grpc_user(pair.b, b_token, alice["id"])).is_online is True
        await a.conn.close()
        gone, _ = await b.until("user_left")
        assert gone["user"]["id"] == alice["id"] and gone["user"]["is_online"] is False
        assert login(pair.b, alice)["is_online"] is False
        assert (await grpc_user(pair.b, b_token, alice["id"])).is_online is False


async def _sender(node: NodeServer, token: str, room: str, prefix: str, acked: list[dict[str, Any]],
                  limit: int) -> None:
    try:
        async with ws(node, token) as w:
            await w.join(room)
            for i in range(limit):
                ack = await w.send_message(room, f"{prefix}{i}", client_id=f"{prefix}-{i}")
                acked.append(ack["message"])
    except (TimeoutError, ConnectionClosed, OSError):
        pass  # its node was killed


async def _listen(w: Ws, seqs: list[int]) -> None:
    try:
        while True:
            f = await w.recv(timeout=60)
            if f["type"] == "new_message":
                seqs.append(f["message"]["seq"])
    except (TimeoutError, ConnectionClosed):
        pass


@sync
async def test_sigkill_during_send_load_loses_no_acknowledged_message(pair: Pair) -> None:
    alice, a_token = register(pair.a)
    _, b_token = register(pair.b)
    _, c_token = register(pair.b)
    room = name("load")
    acked_a: list[dict[str, Any]] = []
    acked_b: list[dict[str, Any]] = []
    seen_on_a: list[int] = []
    seen_on_b: list[int] = []
    async with ws(pair.a, c_token) as listen_a, ws(pair.b, c_token) as listen_b:
        await listen_a.join(room)
        await listen_b.join(room)
        listeners = [asyncio.create_task(_listen(listen_a, seen_on_a)),
                     asyncio.create_task(_listen(listen_b, seen_on_b))]
        send_a = asyncio.create_task(_sender(pair.a, a_token, room, "a", acked_a, 10_000))
        send_b = asyncio.create_task(_sender(pair.b, b_token, room, "b", acked_b, 120))
        deadline = time.monotonic() + 60
        while len(acked_a) < 40 and time.monotonic() < deadline and not send_a.done():
            await asyncio.sleep(0.01)
        assert len(acked_a) >= 40
        pair.a.stop(signal.SIGKILL)  # mid-load: node a's sockets die with it
        await send_a
        await send_b
        assert len(acked_b) == 120
        total = history(pair.b, b_token, room)
        last = total[-1]["seq"]
        # wait (bounded) until node b's listener has everything stored
        deadline = time.monotonic() + 30
        while (not seen_on_b or seen_on_b[-1] < last) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        listeners[1].cancel()
        await listeners[0]  # closed when node a died
    # every acknowledged message is stored, once, with gapless seqs
    assert [m["seq"] for m in total] == list(range(1, last + 1))
    stored = {m["id"]: m for m in total}
    for m in acked_a + acked_b:
        assert stored[m["id"]] == m
    assert len({m["client_id"] for m in total if m["client_id"]}) == len([m for m in total if m["client_id"]])
    # node b's listener saw every message in order, no gap, no duplicate
    assert seen_on_b == list(range(1, last + 1))
    # node a's listener resumes on node b from the last seq it saw: nothing missing, nothing twice
    assert seen_on_a == list(range(1, len(seen_on_a) + 1))
    async with ws(pair.b, c_token) as again:
        _, before = await again.join(room, after_seq=seen_on_a[-1] if seen_on_a else 0)
        resumed = [f["message"]["seq"] for f in before if f["type"] == "new_message"]
    assert seen_on_a + resumed == list(range(1, last + 1))
    # the dead node's user drops out of the room's presence (presence TTL 3 s here)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        users = httpx.get(f"{pair.b.url}/chat/rooms/{room}/users", headers=auth(b_token)).json()["users"]
        if alice["id"] not in {u["id"] for u in users}:
            break
        await asyncio.sleep(0.2)
    assert alice["id"] not in {u["id"] for u in users}
