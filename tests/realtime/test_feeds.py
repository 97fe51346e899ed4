"""Entity change feeds (``data:<entity>``, ``data:<entity>:<id>``) on both databases: every
route's changes arrive once, in order, with a seq; each subscriber only gets rows it may
read (admin, a user with a ``@user.id`` row filter, anonymous); ``where`` narrows; resume."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import add_entity, add_relation, admin_headers, unique
from tests.nodeserver import NodeServer
from tests.realtime.helpers import Ws, set_roles, sse, user_with_role, ws


@dataclass
class Feed:
    node: NodeServer
    entity: str
    admin: dict[str, str]
    admin_token: str
    owner_id: int
    owner: str
    other_id: int


@pytest.fixture(scope="module")
def feed(node: NodeServer) -> Iterator[Feed]:
    headers = admin_headers(node)
    entity = unique("rt_items")
    with node.client(headers=headers) as c:
        add_entity(c, entity, {"title": {"type": "text"}, "owner_id": {"type": "number"},
                               "cover": {"type": "media"}})
        add_relation(c, f"poly_{entity}_media_cover",
                     {"type": "poly", "source": entity, "target": "media", "config": {"mappedBy": "cover"}})
        set_roles(c, {"owner": {"permissions": [
            {"permission": "data.entity.read", "policies": [
                {"condition": {"entity": entity}, "effect": "filter", "filter": {"owner_id": "@user.id"}}]},
        ]}})
        owner_id, owner = user_with_role(c, node, "owner")
        other_id, _ = user_with_role(c, node, "owner")
    yield Feed(node, entity, headers, headers["Authorization"].split()[1], owner_id, owner, other_id)


def run(coro: Any) -> None:
    asyncio.run(coro)


async def events(c: Ws, n: int) -> list[dict[str, Any]]:
    return [await c.expect("event") for _ in range(n)]


def test_every_route_reaches_the_feed_in_order(feed: Feed) -> None:
    e = feed.entity

    async def go() -> None:
        async with ws(feed.node, feed.admin_token) as c, \
                httpx.AsyncClient(base_url=feed.node.url, headers=feed.admin, timeout=30) as api:
            start = (await c.subscribe(f"data:{e}"))["seq"]
            r = await api.post(f"/api/data/entity/{e}", json={"title": "one", "owner_id": 1})
            one = r.json()["data"]["id"]
            r = await api.post(f"/api/data/entity/{e}", json=[{"title": "two"}, {"title": "three"}])
            two, three = (row["id"] for row in r.json()["data"])
            assert (await api.patch(f"/api/data/entity/{e}/{one}", json={"title": "uno"})).status_code == 200
            r = await api.request("PATCH", f"/api/data/entity/{e}",
                                  json={"update": {"owner_id": 9}, "where": {"id": {"$in": [two, three]}}})
            assert r.status_code == 200, r.text
            assert (await api.delete(f"/api/data/entity/{e}/{two}")).status_code == 200
            r = await api.request("DELETE", f"/api/data/entity/{e}", content=json.dumps({"id": three}))
            assert r.status_code == 200, r.text
            got = await events(c, 8)
            assert [ev["seq"] for ev in got] == list(range(start + 1, start + 9))
            assert [(ev["event"], ev["data"]["id"]) for ev in got] == [
                ("created", one), ("created", two), ("created", three), ("updated", one),
                ("updated", two), ("updated", three), ("deleted", two), ("deleted", three)]
            assert got[3]["data"]["title"] == "uno" and got[4]["data"]["owner_id"] == 9
            assert got[6]["data"]["title"] == "two"  # a delete carries the row's last values
            assert {ev["channel"] for ev in got} == {f"data:{e}"}
            await c.barrier()  # exactly once: nothing else came

    run(go())


def test_row_channel_and_where_filter(feed: Feed) -> None:
    e = feed.entity

    async def go() -> None:
        async with ws(feed.node, feed.admin_token) as c, \
                httpx.AsyncClient(base_url=feed.node.url, headers=feed.admin, timeout=30) as api:
            row = (await api.post(f"/api/data/entity/{e}", json={"title": "watched"})).json()["data"]
            other = (await api.post(f"/api/data/entity/{e}", json={"title": "other"})).json()["data"]
            sub = await c.subscribe(f"data:{e}:{row['id']}")
            assert sub["seq"] == 0  # a row's own stream starts when it is first watched
            await c.subscribe(f"data:{e}", where={"title": {"$like": "keep*"}})
            await api.patch(f"/api/data/entity/{e}/{other['id']}", json={"title": "nope"})
            await api.patch(f"/api/data/entity/{e}/{row['id']}", json={"title": "again"})
            await api.post(f"/api/data/entity/{e}", json={"title": "keep me"})
            first, second = await events(c, 2)
            assert (first["channel"], first["seq"], first["data"]["title"]) == (f"data:{e}:{row['id']}", 1, "again")
            assert (second["channel"], second["event"], second["data"]["title"]) == (f"data:{e}", "created", "keep me")
            await c.barrier()
            err = await c.request("subscribe", "error", channel=f"data:{e}", where={"nosuch": 1}, id=5)
            assert (err["code"], err["id"]) == ("invalid_query", 5) and "nosuch" in err["message"]

    run(go())


def test_filtered_user_only_sees_its_rows_and_anonymous_is_refused(feed: Feed) -> None:
    e = feed.entity

    async def go() -> None:
        owner_headers = {"Authorization": f"Bearer {feed.owner}"}
        async with ws(feed.node, feed.owner) as c, sse(feed.node, f"data:{e}", headers=owner_headers) as s, \
                ws(feed.node) as anon, \
                httpx.AsyncClient(base_url=feed.node.url, headers=feed.admin, timeout=30) as api:
            await s.next()  # subscribed
            await c.subscribe(f"data:{e}")
            await api.post(f"/api/data/entity/{e}", json={"title": "theirs", "owner_id": feed.other_id})
            mine = (await api.post(f"/api/data/entity/{e}", json={"title": "mine", "owner_id": feed.owner_id})).json()["data"]
            await api.patch(f"/api/data/entity/{e}/{mine['id']}", json={"owner_id": feed.other_id})  # given away
            await api.post(f"/api/data/entity/{e}", json={"title": "mine too", "owner_id": feed.owner_id})
            got = await events(c, 2)
            assert [(ev["event"], ev["data"]["title"]) for ev in got] == [("created", "mine"), ("created", "mine too")]
            assert got[1]["seq"] == got[0]["seq"] + 2  # seq is the channel's: the hidden update took one
            await c.barrier()
            streamed = [await s.next() for _ in range(2)]
            assert [(x["event"], x["data"]["data"]["title"]) for x in streamed] == [("created", "mine"), ("created", "mine too")]
            assert streamed[0]["id"] == f"data:{e}:{got[0]['seq']}"
            # resume as the filtered user: the missed events are filtered too
            async with ws(feed.node, feed.owner) as again:
                await again.send(op="subscribe", channel=f"data:{e}", after_seq=got[0]["seq"] - 1)
                assert (await again.expect("event"))["data"]["title"] == "mine"
                assert (await again.expect("event"))["data"]["title"] == "mine too"
                assert (await again.expect("subscribed"))["recovered"] is True
            err = await anon.request("subscribe", "error", channel=f"data:{e}", id="a")
            assert (err["code"], err["id"]) == ("unauthorized", "a") and "data.entity.read" in err["message"]
        async with httpx.AsyncClient(base_url=feed.node.url) as client:
            r = await client.get("/api/realtime/sse", params={"channel": f"data:{e}"})
            assert r.status_code == 401

    run(go())


def test_media_attachments_reach_the_media_feed(feed: Feed) -> None:
    e = feed.entity

    async def go() -> None:
        async with ws(feed.node, feed.admin_token) as c, \
                httpx.AsyncClient(base_url=feed.node.url, headers=feed.admin, timeout=30) as api:
            row = (await api.post(f"/api/data/entity/{e}", json={"title": "with cover"})).json()["data"]
            await c.subscribe("data:media")
            r = await api.post(f"/api/media/entity/{e}/{row['id']}/cover", content=b"png?",
                               headers={"Content-Type": "text/plain"})
            assert r.status_code == 201, r.text
            ev = await c.expect("event")
            assert ev["event"] == "created" and str(ev["data"]["entity_id"]) == str(row["id"])
            assert ev["data"]["reference"] == f"{e}.cover"

    run(go())
