"""The realtime wire protocol frame by frame, over real WebSocket and SSE connections to a
running ``nodebase serve`` (shared/protocols/realtime.md)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import admin_headers
from tests.nodeserver import NodeServer
from tests.realtime.helpers import set_roles, sse, user_with_role, ws

ROLES = {
    # may subscribe everywhere, publish only on "room.*"
    "member": {"permissions": [
        {"permission": "realtime.subscribe"},
        {"permission": "realtime.publish", "effect": "deny", "policies": [
            {"condition": {"channel": {"$like": "room.*"}}, "effect": "allow"}]},
    ]},
    "mute": {"permissions": ["realtime.subscribe"]},
}


@dataclass
class Proto:
    node: NodeServer
    admin: str
    member: str
    member_id: int
    mute: str


@pytest.fixture(scope="module")
def proto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proto]:
    node = NodeServer(tmp_path_factory.mktemp("rt-proto"), env={
        "NODEBASE_REALTIME_MAX_SUBSCRIPTIONS": "4", "NODEBASE_REALTIME_RATE": "40",
        "NODEBASE_REALTIME_HISTORY_SIZE": "5"}).start()
    try:
        headers = admin_headers(node)
        with node.client(headers=headers) as admin:
            set_roles(admin, ROLES)
            member_id, member = user_with_role(admin, node, "member")
            _, mute = user_with_role(admin, node, "mute")
        yield Proto(node, headers["Authorization"].split()[1], member, member_id, mute)
    finally:
        node.stop()
        assert not node.server_errors(), node.server_errors()


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_ping_and_errors_keep_the_connection_open(proto: Proto) -> None:
    async def go() -> None:
        async with ws(proto.node, proto.member) as c:
            assert await c.request("ping", "pong", id=7) == {"op": "pong", "id": 7}
            await c.raw("{not json")
            err = await c.expect("error")
            assert err["code"] == "invalid_json"
            await c.send(op="dance", id="x")
            err = await c.expect("error")
            assert (err["code"], err["id"]) == ("unknown_op", "x") and "subscribe" in err["message"]
            await c.raw("[1, 2]")
            assert (await c.expect("error"))["code"] == "bad_request"
            await c.send(op="subscribe", channel="bad channel!", id=1)
            err = await c.expect("error")
            assert (err["code"], err["id"]) == ("bad_request", 1)
            await c.send(op="subscribe", channel="x" * 129)
            assert (await c.expect("error"))["code"] == "bad_request"
            await c.raw(json.dumps({"op": "publish", "channel": "room.a", "data": "x" * 70_000}))
            assert (await c.expect("error"))["code"] == "too_large"
            await c.send(op="publish", channel="room.a", data="y" * (64 * 1024), id=2)
            err = await c.expect("error")
            assert (err["code"], err["id"]) == ("too_large", 2)
            await c.send(op="subscribe", channel="room.a", after_seq=-1)
            assert (await c.expect("error"))["code"] == "bad_request"
            assert await c.request("ping", "pong", id=8) == {"op": "pong", "id": 8}

    run(go())


def test_publish_subscribe_seq_and_no_echo(proto: Proto) -> None:
    async def go() -> None:
        async with ws(proto.node, proto.member) as a, ws(proto.node, proto.member) as b:
            sub = await a.subscribe("room.seq", id="s")
            assert sub == {"op": "subscribed", "channel": "room.seq", "seq": 0, "recovered": True, "id": "s"}
            await b.subscribe("room.seq")
            assert (await a.expect("join"))["user"] == {"user_id": proto.member_id}
            for i in range(1, 4):
                ans = await b.request("publish", "published", channel="room.seq", data={"n": i}, id=i)
                assert ans == {"op": "published", "channel": "room.seq", "seq": i, "id": i}
                ev = await a.expect("event")
                assert {k: ev[k] for k in ("channel", "seq", "event", "data")} == {
                    "channel": "room.seq", "seq": i, "event": "message", "data": {"n": i}}
                assert isinstance(ev["at"], int)
            # the publisher gets no echo of its own messages: its next frame is the pong
            await b.barrier()
            # a late subscriber learns the latest seq
            async with ws(proto.node, proto.member) as c:
                assert (await c.subscribe("room.seq"))["seq"] == 3
            assert (await a.expect("join"))["channel"] == "room.seq"
            assert (await a.expect("leave"))["user"] == {"user_id": proto.member_id}
            assert [(await b.recv())["op"] for _ in range(2)] == ["join", "leave"]
            assert await a.request("unsubscribe", "unsubscribed", channel="room.seq") == {
                "op": "unsubscribed", "channel": "room.seq"}
            assert (await b.expect("leave"))["channel"] == "room.seq"
            await b.request("publish", "published", channel="room.seq", data=4)
            await a.barrier()  # nothing arrived after unsubscribing

    run(go())


def test_presence_lists_every_client_and_announces_join_and_leave(proto: Proto) -> None:
    async def go() -> None:
        async with ws(proto.node, proto.member) as a:
            await a.subscribe("room.p")
            async with ws(proto.node, proto.admin) as b:
                await b.subscribe("room.p")
                joined = await a.expect("join")
                assert joined["channel"] == "room.p" and joined["user"]["user_id"] != proto.member_id
                pres = await b.request("presence", "presence", channel="room.p", id=3)
                assert pres["id"] == 3 and pres["channel"] == "room.p"
                ids = [c["user_id"] for c in pres["clients"]]
                assert ids == [proto.member_id, joined["user"]["user_id"]]
                assert all(isinstance(c["since"], int) for c in pres["clients"])
            left = await a.expect("leave")
            assert left["user"] == joined["user"]
            pres = await a.request("presence", "presence", channel="room.p")
            assert [c["user_id"] for c in pres["clients"]] == [proto.member_id]

    run(go())


def test_channel_permissions_per_role_and_prefix(proto: Proto) -> None:
    async def go() -> None:
        async with ws(proto.node, proto.member) as m, ws(proto.node, proto.mute) as mute, ws(proto.node) as anon:
            err = await m.request("publish", "error", channel="lobby", data=1, id=1)
            assert (err["code"], err["id"]) == ("forbidden", 1) and "realtime.publish" in err["message"]
            assert (await m.request("publish", "published", channel="room.ok", data=1))["seq"] == 1
            assert (await mute.request("publish", "error", channel="room.ok", data=1))["code"] == "forbidden"
            assert (await anon.request("subscribe", "error", channel="room.ok"))["code"] == "unauthorized"
            assert (await anon.request("publish", "error", channel="room.ok", data=1))["code"] == "unauthorized"
            assert (await m.request("publish", "error", channel="data:users", data=1))["code"] == "forbidden"
            assert (await m.request("subscribe", "error", channel="data:nosuch"))["code"] == "not_found"

    run(go())


def test_too_many_subscriptions_and_floods_get_error_frames(proto: Proto) -> None:
    async def go() -> None:
        async with ws(proto.node, proto.member) as c:
            for i in range(4):
                await c.subscribe(f"room.many{i}")
            err = await c.request("subscribe", "error", channel="room.many4")
            assert err["code"] == "too_many_subscriptions"
            await c.subscribe("room.many0")  # re-subscribing an open channel is not one more
        async with ws(proto.node, proto.member) as c:
            for i in range(300):
                await c.send(op="ping", id=i)
            # a burst of 2 x rate is answered, then one rate_limited notice
            pongs = []
            while (doc := await c.recv())["op"] == "pong":
                pongs.append(doc["id"])
            assert doc["code"] == "rate_limited" and "40 frames per second" in doc["message"]
            assert pongs == list(range(len(pongs))) and 80 <= len(pongs) < 100
            # the flood was dropped, and once the bucket has refilled (2 x rate in 2 s: waiting
            # for it is the behaviour under test) the connection is served again
            await asyncio.sleep(2.5)
            await c.send(op="ping", id="again")
            later = []
            while (doc := await c.recv())["id"] != "again":
                later.append(doc)
            assert doc == {"op": "pong", "id": "again"}
            assert all(d["op"] == "pong" for d in later) and len(pongs) + len(later) < 150

    run(go())


def test_resume_after_seq(proto: Proto) -> None:
    async def go() -> None:
        async with ws(proto.node, proto.member) as pub:
            for i in range(1, 8):
                await pub.request("publish", "published", channel="room.resume", data=i)
        async with ws(proto.node, proto.member) as c:
            # history keeps 5 (NODEBASE_REALTIME_HISTORY_SIZE): 3..7
            await c.send(op="subscribe", channel="room.resume", after_seq=4, id="r")
            got = [await c.expect("event") for _ in range(3)]
            assert [e["seq"] for e in got] == [5, 6, 7] and [e["data"] for e in got] == [5, 6, 7]
            assert await c.expect("subscribed") == {"op": "subscribed", "channel": "room.resume", "seq": 7,
                                                    "recovered": True, "id": "r"}
            await c.request("unsubscribe", "unsubscribed", channel="room.resume")
            sub = await c.subscribe("room.resume", after_seq=7)
            assert (sub["seq"], sub["recovered"]) == (7, True)
            await c.request("unsubscribe", "unsubscribed", channel="room.resume")
            # 2 is older than the history: recovered false (the kept ones still come)
            await c.send(op="subscribe", channel="room.resume", after_seq=1)
            got = [await c.expect("event") for _ in range(5)]
            assert [e["seq"] for e in got] == [3, 4, 5, 6, 7]
            sub = await c.expect("subscribed")
            assert (sub["seq"], sub["recovered"]) == (7, False)
            await c.request("unsubscribe", "unsubscribed", channel="room.resume")
            # a position the channel never reached (a lost stream) is not recovered either
            sub = await c.subscribe("room.resume", after_seq=50)
            assert (sub["seq"], sub["recovered"]) == (7, False)

    run(go())


def test_sse_stream_resume_and_refusals(proto: Proto) -> None:
    member = {"Authorization": f"Bearer {proto.member}"}

    async def go() -> None:
        async with ws(proto.node, proto.member) as pub:
            async with sse(proto.node, "room.sse", headers=member) as s:
                sub = await s.next()
                assert sub["event"] == "subscribed" and sub["data"] == {
                    "channel": "room.sse", "seq": 0, "recovered": True}
                for i in (1, 2, 3):
                    await pub.request("publish", "published", channel="room.sse", data={"i": i})
                events = [await s.next() for _ in range(3)]
            assert [e["id"] for e in events] == ["room.sse:1", "room.sse:2", "room.sse:3"]
            assert {e["event"] for e in events} == {"message"}
            assert events[0]["data"]["seq"] == 1 and events[0]["data"]["data"] == {"i": 1}
            assert "op" not in events[0]["data"] and events[0]["data"]["channel"] == "room.sse"
            await pub.request("publish", "published", channel="room.sse2", data="x")
            # Last-Event-ID resumes one channel; the token may also come in the query string
            async with sse(proto.node, "room.sse", headers={"Last-Event-ID": "room.sse:1"},
                           params={"token": proto.member}) as s:
                missed = [await s.next() for _ in range(2)]
                assert [e["id"] for e in missed] == ["room.sse:2", "room.sse:3"]
                assert (await s.next())["data"] == {"channel": "room.sse", "seq": 3, "recovered": True}
            # ?after= resumes several
            async with sse(proto.node, "room.sse", "room.sse2", headers=member,
                           params={"after": "room.sse:2,room.sse2:0"}) as s:
                seen = [await s.next() for _ in range(4)]
                assert [(e["event"], e.get("id")) for e in seen] == [
                    ("message", "room.sse:3"), ("subscribed", None), ("message", "room.sse2:1"), ("subscribed", None)]
        async with httpx.AsyncClient(base_url=proto.node.url) as client:
            r = await client.get("/api/realtime/sse", params={"channel": "room.sse"})
            assert r.status_code == 401 and "realtime.subscribe" in r.json()["error"]
            r = await client.get("/api/realtime/sse", params={"channel": "data:users"},
                                 headers={"Authorization": f"Bearer {proto.mute}"})
            assert r.status_code == 403 and "data.entity.read" in r.json()["error"]
            r = await client.get("/api/realtime/sse", params={"channel": "data:nosuch"}, headers=member)
            assert r.status_code == 404
            r = await client.get("/api/realtime/sse", headers=member)
            assert r.status_code == 400 and "channel" in r.json()["error"]
            r = await client.get("/api/realtime/sse", params={"channel": "room.sse", "after": "garbage"},
                                 headers=member)
            assert r.status_code == 400 and "garbage" in r.json()["error"]

    run(go())


def test_idle_connections_are_pinged_then_closed(tmp_path: Path) -> None:
    node = NodeServer(tmp_path, env={"NODEBASE_REALTIME_PING_INTERVAL": "1",
                                     "NODEBASE_REALTIME_IDLE_TIMEOUT": "3"}).start()

    async def go() -> None:
        async with ws(node, ping_interval=None) as quiet, ws(node, ping_interval=None) as talkative:
            pings = 0

            async def answer() -> None:  # a client that answers stays connected
                nonlocal pings
                while True:
                    assert await talkative.expect("ping", timeout=10) == {"op": "ping"}
                    pings += 1
                    await talkative.send(op="pong")

            answering = asyncio.create_task(answer())
            assert await quiet.expect("ping", timeout=10) == {"op": "ping"}
            with pytest.raises(ConnectionClosed) as closed:
                await quiet.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
            answering.cancel()
            with pytest.raises(asyncio.CancelledError):
                await answering
            assert pings >= 1
            await talkative.barrier()

    try:
        run(go())
    finally:
        node.stop()
    assert not node.server_errors()

