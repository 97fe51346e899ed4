"""RealtimeService's Python interface (what the chat builds on), in process, with the
in-process broker and with a real Redis: publish → seq, subscriptions as async iterators or
callbacks with bounded queues, no echo to the same origin, ephemeral publications, lagging,
history and ``recovered``, presence (the union of two services on one Redis), data feeds
filtered per caller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from nodebase.data.module import DataModule
from nodebase.kernel.caller import SYSTEM, Caller, Decision
from nodebase.kernel.database import open_database
from nodebase.kernel.errors import Forbidden
from nodebase.kernel.events import EventBus
from nodebase.realtime.broker import BrokerSettings, make_broker
from nodebase.realtime.broker.base import Publication
from nodebase.realtime.service import RealtimeService, SubscriptionLagged, Unauthorized
from tests.support.services import RedisServer


class OwnerGuard:
    """Signed-in users read only rows whose owner_id is theirs; anonymous callers nothing."""

    def check(self, caller: Caller, permission: str, context: dict[str, Any] | None = None) -> Decision:
        if caller.is_system:
            return Decision(True)
        if caller.user is None:
            return Decision(False, reason="sign in")
        if permission == "data.entity.read":
            return Decision(True, filter={"owner_id": caller.id})
        return Decision(permission.startswith("realtime."))


Services = Callable[[], Awaitable[RealtimeService]]


@pytest.fixture(params=["memory", "redis"])
def broker_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return ""
    server: RedisServer = request.getfixturevalue("redis")
    server.command("FLUSHALL")
    return server.url


@asynccontextmanager
async def node(tmp: Path, broker_url: str, **settings: Any) -> AsyncIterator[tuple[RealtimeService, DataModule]]:
    db = open_database(f"sqlite:///{tmp / 'rt.db'}")
    await db.connect()
    events = EventBus()
    data = DataModule(db, events, OwnerGuard())
    await data.apply_config({"entities": {"notes": {"fields": {"text": {"type": "text"},
                                                               "owner_id": {"type": "number"}}}}}, drop=False)
    broker, presence = make_broker(broker_url, BrokerSettings(**settings), "n")
    rt = RealtimeService(broker, presence, data.service, OwnerGuard(), db.dialect.name, queue_size=100)
    for name in ("data.create.after", "data.update.after", "data.delete.after"):
        events.on(name, rt.on_data_event)
    await rt.start()
    try:
        yield rt, data
    finally:
        await rt.stop()
        await db.close()


async def take(sub: Any, n: int) -> list[Publication]:
    return [await asyncio.wait_for(sub.__anext__(), 10) for _ in range(n)]


def test_publish_subscribe_origin_and_ephemeral(tmp_path: Path, broker_url: str) -> None:
    async def go() -> None:
        async with node(tmp_path, broker_url) as (rt, _):
            mine = await rt.subscribe("room", origin="conn-1")
            other = await rt.subscribe("room")
            seen: list[Publication] = []
            cb = await rt.subscribe("room", on_event=seen.append)
            assert await rt.publish("room", {"n": 1}, origin="conn-1") == 1
            assert await rt.publish("room", {"n": 2}) == 2
            assert await rt.publish("room", {"who": "x"}, event="typing", ephemeral=True, origin="conn-1") == 0
            got = await take(other, 3)
            assert [(p.seq, p.event, p.data, p.ephemeral) for p in got] == [
                (1, "message", {"n": 1}, False), (2, "message", {"n": 2}, False), (0, "typing", {"who": "x"}, True)]
            assert [p.seq for p in await take(mine, 1)] == [2]  # its own (origin conn-1) skipped
            assert [p.seq for p in seen] == [1, 2, 0]
            history = await rt.history("room", 0)
            assert [p.seq for p in history.publications] == [1, 2] and history.recovered
            assert history.last_seq == 2 == await rt.last_seq("room")
            for s in (mine, other, cb):
                await s.close()
            async with rt.watching("room", after_seq=1) as late:
                assert (late.seq, late.recovered) == (2, True)
                assert [p.data for p in await take(late, 1)] == [{"n": 2}]

    asyncio.run(go())


def test_bounded_queue_drops_ephemeral_first_then_lags(tmp_path: Path, broker_url: str) -> None:
    async def go() -> None:
        async with node(tmp_path, broker_url) as (rt, _):
            sub = await rt.subscribe("busy", queue_size=3)
            probe = await rt.subscribe("busy")
            await rt.publish("busy", 1)
            await rt.publish("busy", "t1", event="typing", ephemeral=True)
            await rt.publish("busy", 2)
            await rt.publish("busy", 3)  # full: the typing frame goes
            await rt.publish("busy", "t2", event="typing", ephemeral=True)  # full: dropped
            await take(probe, 5)  # all five have reached this process
            assert [p.data for p in await take(sub, 3)] == [1, 2, 3]
            for i in range(4, 8):
                await rt.publish("busy", i)
            await take(probe, 4)
            assert [p.data for p in await take(sub, 3)] == [4, 5, 6]
            with pytest.raises(SubscriptionLagged):
                await take(sub, 1)
            await sub.close()
            await probe.close()

    asyncio.run(go())


def test_history_is_bounded_and_recovered_says_so(tmp_path: Path, broker_url: str) -> None:
    async def go() -> None:
        async with node(tmp_path, broker_url, history_size=3) as (rt, _):
            for i in range(1, 7):
                await rt.publish("h", i)
            h = await rt.history("h", 3)
            assert [p.seq for p in h.publications] == [4, 5, 6] and h.recovered
            h = await rt.history("h", 1)
            assert [p.seq for p in h.publications] == [4, 5, 6] and not h.recovered
            h = await rt.history("h", 9)
            assert h.publications == [] and not h.recovered and h.last_seq == 6
            sub = await rt.subscribe("h", after_seq=2)
            assert (sub.seq, sub.recovered) == (6, False)
            await sub.close()

    asyncio.run(go())


def test_presence_join_list_leave(tmp_path: Path, broker_url: str) -> None:
    async def go() -> None:
        async with node(tmp_path, broker_url) as (rt, _):
            watcher = await rt.subscribe("lobby", origin="c1")
            await rt.join("lobby", "c1", {"user_id": 1, "username": "ann"})
            await rt.join("lobby", "c2", {"user_id": 2, "username": "bob"})
            entries = await rt.presence("lobby")
            assert [(e.client_id, e.user["username"]) for e in entries] == [("c1", "ann"), ("c2", "bob")]
            await rt.leave("lobby", "c2", {"user_id": 2, "username": "bob"})
            assert [e.client_id for e in await rt.presence("lobby")] == ["c1"]
            got = await take(watcher, 2)  # its own join is skipped (origin c1)
            assert [(p.event, p.data["user"]["user_id"]) for p in got] == [("join", 2), ("leave", 2)]
            await watcher.close()

    asyncio.run(go())


def test_presence_is_the_union_of_services_on_one_redis(tmp_path: Path, redis: RedisServer) -> None:
    redis.command("FLUSHALL")

    async def go() -> None:
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        async with node(tmp_path / "a", redis.url) as (a, _), node(tmp_path / "b", redis.url) as (b, _):
            await a.join("lobby", "ca", {"user_id": 1})
            await b.join("lobby", "cb", {"user_id": 2})
            assert [e.client_id for e in await a.presence("lobby")] == ["ca", "cb"]
            assert [e.client_id for e in await b.presence("lobby")] == ["ca", "cb"]
        # a stopped service takes its entries with it
        async with node(tmp_path / "a", redis.url) as (a, _):
            assert await a.presence("lobby") == []

    asyncio.run(go())


def test_data_feed_is_filtered_per_caller(tmp_path: Path, broker_url: str) -> None:
    async def go() -> None:
        async with node(tmp_path, broker_url) as (rt, data):
            alice = Caller(user={"id": 1}, role="user", via="jwt")
            feed = await rt.subscribe("data:notes", caller=alice)
            everything = await rt.subscribe("data:notes")
            with pytest.raises(Unauthorized):
                await rt.subscribe("data:notes", caller=Caller())
            with pytest.raises(Forbidden):
                await rt.publish("data:notes", {}, caller=alice)
            await data.service.create("notes", [{"text": "a", "owner_id": 1}, {"text": "b", "owner_id": 2}], SYSTEM)
            await data.service.update_many("notes", {"owner_id": 2}, {"text": "b2"}, SYSTEM)
            all_events = await take(everything, 3)
            assert [(p.seq, p.event, p.data["text"]) for p in all_events] == [
                (1, "created", "a"), (2, "created", "b"), (3, "updated", "b2")]
            await data.service.update_many("notes", {"owner_id": 1}, {"text": "a2"}, SYSTEM)
            mine = await take(feed, 2)
            assert [(p.seq, p.data["text"]) for p in mine] == [(1, "a"), (4, "a2")]
            history = await rt.history("data:notes", 0, caller=alice)
            assert [p.seq for p in history.publications] == [1, 4]
            # a per-row feed starts when first watched, then keeps its own seq
            row = await rt.subscribe("data:notes:1", caller=alice)
            assert row.seq == 0
            await data.service.update_one("notes", 1, {"text": "a3"}, SYSTEM)
            await data.service.update_one("notes", 2, {"text": "b3"}, SYSTEM)
            assert [(p.channel, p.seq, p.data["text"]) for p in await take(row, 1)] == [("data:notes:1", 1, "a3")]
            assert (await rt.history("data:notes:2", 0)).last_seq == 0  # unwatched rows keep no stream
            await row.close()
            await feed.close()
            await everything.close()

    asyncio.run(go())
