"""Two (three) nodebase processes on one PostgreSQL database and one real Redis behave as one:
events published or caused on one process reach the other in order with the same seq,
resume works across processes, presence is the union, and a killed process's presence
disappears (presence TTL 3 s here; 25 s by default)."""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import add_entity, admin_headers, unique
from tests.nodeserver import NodeServer
from tests.realtime.helpers import Ws, ws
from tests.support.services import PostgresServer, RedisServer


@dataclass
class Cluster:
    a: NodeServer
    b: NodeServer
    env: dict[str, str]
    database_url: str
    token: str
    headers: dict[str, str]
    tmp: Path


@pytest.fixture(scope="module")
def cluster(redis: RedisServer, postgres: PostgresServer,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    url = postgres.create_database(unique("nb_cluster"))
    env = {"NODEBASE_BROKER_URL": redis.url, "NODEBASE_AUTH_SECRET": secrets.token_hex(32),
           "NODEBASE_REALTIME_PRESENCE_TTL": "3"}
    a = NodeServer(tmp_path_factory.mktemp("node-a"), database_url=url, env=env).start()
    b = NodeServer(tmp_path_factory.mktemp("node-b"), database_url=url, env=env).start()
    try:
        headers = admin_headers(a)
        yield Cluster(a, b, env, url, headers["Authorization"].split()[1], headers,
                      tmp_path_factory.mktemp("more"))
    finally:
        for n in (a, b):
            n.stop()
        for n in (a, b):
            assert not n.server_errors(), n.server_errors()


def run(coro: Any) -> None:
    asyncio.run(coro)


def test_publications_reach_every_process_in_one_order(cluster: Cluster) -> None:
    async def go() -> None:
        async with ws(cluster.a, cluster.token) as sa, ws(cluster.b, cluster.token) as sb, \
                ws(cluster.a, cluster.token) as pa, ws(cluster.b, cluster.token) as pb:
            await sa.subscribe("room.order")
            await sb.subscribe("room.order")
            assert (await sa.expect("join"))["channel"] == "room.order"  # from the other process

            async def publish(p: Ws, who: str) -> list[int]:
                return [(await p.request("publish", "published", channel="room.order",
                                         data={"who": who, "i": i}))["seq"] for i in range(30)]

            seqs_a, seqs_b = await asyncio.gather(publish(pa, "a"), publish(pb, "b"))
            assert sorted(seqs_a + seqs_b) == list(range(1, 61))  # never the same seq twice
            seen_a = [(await sa.expect("event")) for _ in range(60)]
            seen_b = [(await sb.expect("event")) for _ in range(60)]
            assert [e["seq"] for e in seen_a] == list(range(1, 61))
            assert [(e["seq"], e["data"]) for e in seen_a] == [(e["seq"], e["data"]) for e in seen_b]
            by_seq = {e["seq"]: e["data"]["who"] for e in seen_a}
            assert {by_seq[s] for s in seqs_a} == {"a"} and {by_seq[s] for s in seqs_b} == {"b"}
            # resume on the other process from the shared history
            async with ws(cluster.b, cluster.token) as late:
                await late.send(op="subscribe", channel="room.order", after_seq=55)
                assert [(await late.expect("event"))["seq"] for _ in range(5)] == [56, 57, 58, 59, 60]
                assert (await late.expect("subscribed"))["recovered"] is True

    run(go())


def test_a_subscribed_client_is_present_and_announced_on_every_process(cluster: Cluster) -> None:
    """``subscribed`` comes after the join is stored and published: another process lists the
    client at once, and a client subscribing later never hears that earlier join."""
    async def go() -> None:
        async with ws(cluster.a, cluster.token) as first, ws(cluster.b, cluster.token) as later:
            await first.subscribe("room.now")
            pres = await later.request("presence", "presence", channel="room.now")
            assert len(pres["clients"]) == 1
            await later.subscribe("room.now")
            assert (await first.expect("join"))["channel"] == "room.now"  # later's
            await first.request("publish", "published", channel="room.now", data={"n": 1})
            got = await later.recv()
            assert (got["op"], got["data"]) == ("event", {"n": 1}), got

    run(go())


def test_data_changes_on_one_process_reach_the_other(cluster: Cluster) -> None:
    entity = unique("rt_cluster")
    with cluster.a.client(headers=cluster.headers) as c:
        add_entity(c, entity, {"title": {"type": "text"}})
    with cluster.b.client(headers=cluster.headers) as c:  # b reloads the schema within a second
        deadline = time.monotonic() + 30
        while c.get(f"/api/data/entity/{entity}").status_code != 200:
            assert time.monotonic() < deadline, "node b never saw the new entity"
            time.sleep(0.2)

    async def go() -> None:
        async with ws(cluster.a, cluster.token) as sa, ws(cluster.b, cluster.token) as sb, \
                httpx.AsyncClient(base_url=cluster.b.url, headers=cluster.headers) as api_b, \
                httpx.AsyncClient(base_url=cluster.a.url, headers=cluster.headers) as api_a:
            await sa.subscribe(f"data:{entity}")
            await sb.subscribe(f"data:{entity}")
            await api_b.post(f"/api/data/entity/{entity}", json={"title": "from b"})
            await api_a.post(f"/api/data/entity/{entity}", json=[{"title": "from a"}, {"title": "a again"}])
            got_a = [await sa.expect("event") for _ in range(3)]
            got_b = [await sb.expect("event") for _ in range(3)]
            assert [(e["seq"], e["data"]["title"]) for e in got_a] == [
                (1, "from b"), (2, "from a"), (3, "a again")]
            assert got_a == got_b

    run(go())


def test_presence_is_the_union_and_a_killed_process_drops_out(cluster: Cluster) -> None:
    c = NodeServer(cluster.tmp / "node-c", database_url=cluster.database_url, env=cluster.env).start()

    async def go() -> None:
        async with ws(cluster.a, cluster.token) as on_a, ws(cluster.b, cluster.token) as on_b:
            await on_a.subscribe("room.union")
            await on_b.subscribe("room.union")
            on_c = await _open(c, cluster.token)
            await on_c.subscribe("room.union")
            assert (await on_a.expect("join"))["channel"] == "room.union"  # b's
            assert (await on_a.expect("join"))["channel"] == "room.union"  # c's, across processes
            assert (await on_b.expect("join"))["channel"] == "room.union"  # c's
            for client in (on_a, on_b):
                pres = await client.request("presence", "presence", channel="room.union")
                assert len(pres["clients"]) == 3
            c.stop(signal.SIGKILL)  # no leave, no cleanup: its entries must expire
            killed = time.monotonic()
            while True:
                pres = await on_a.request("presence", "presence", channel="room.union")
                if len(pres["clients"]) == 2:
                    break
                assert time.monotonic() - killed < 30, "a dead process's presence did not vanish within 30 s"
                await asyncio.sleep(0.25)
            pres_b = await on_b.request("presence", "presence", channel="room.union")
            assert pres_b["clients"] == pres["clients"]

    try:
        run(go())
    finally:
        c.stop()


async def _open(node: NodeServer, token: str) -> Ws:
    from websockets.asyncio.client import connect

    conn = await connect(node.url.replace("http://", "ws://") + f"/api/realtime?token={token}", compression=None)
    return Ws(conn)
