"""The in-process event bus: before/after create, update, delete — once per mutation."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from nodebase.app import Nodebase
from nodebase.kernel.caller import Caller
from nodebase.kernel.config import load_settings
from nodebase.kernel.errors import Forbidden
from nodebase.kernel.events import Event


@pytest.fixture
def nb(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    url = ""
    if backend == "postgres":
        url = request.getfixturevalue("postgres").create_database(f"ev_{abs(hash(request.node.name)) % 10**8}")
    settings = load_settings({"data_dir": tmp_path, "database_url": url, "project_dir": tmp_path}, env={})
    node = Nodebase(settings)

    async def setup() -> None:
        await node.start()
        await node.config.change("data", "add", "entities.posts", {"fields": {"title": {"type": "text"}, "views": {"type": "number"}}})

    asyncio.run(setup())
    yield node
    asyncio.run(node.stop())


def run(nb: Nodebase, coro: Any) -> Any:
    async def go() -> Any:
        if not nb._started:
            await nb.start()
        return await coro

    return asyncio.run(go())


def record(nb: Nodebase) -> list[Event]:
    seen: list[Event] = []
    for name in ("create", "update", "delete"):
        for phase in ("before", "after"):
            nb.events.on(f"data.{name}.{phase}", seen.append)
    return seen


CALLER = Caller(user={"id": 7, "email": "e@x.io"}, role="admin", via="jwt")


def test_each_event_fires_once_per_mutation_including_bulk(nb: Nodebase) -> None:
    seen = record(nb)
    svc = nb.data.service

    async def scenario() -> None:
        await nb.db.connect()
        await svc.create("posts", {"title": "a", "views": 1}, CALLER)
        await svc.create("posts", [{"title": "b", "views": 2}, {"title": "c", "views": 3}], CALLER)
        await svc.update_one("posts", 1, {"views": 10}, CALLER)
        await svc.update_many("posts", {"views": {"$lt": 5}}, {"title": "low"}, CALLER)
        await svc.delete_one("posts", 1, CALLER)
        await svc.delete_many("posts", {"title": "low"}, CALLER)
        await nb.db.close()

    asyncio.run(scenario())
    assert [e.name for e in seen] == [
        "data.create.before", "data.create.after",
        "data.create.before", "data.create.after",
        "data.update.before", "data.update.after",
        "data.update.before", "data.update.after",
        "data.delete.before", "data.delete.after",
        "data.delete.before", "data.delete.after",
    ]
    assert all(e.entity == "posts" and e.caller is CALLER for e in seen)
    bulk_after = seen[3]
    assert [r["title"] for r in bulk_after.payload["data"]] == ["b", "c"]
    assert seen[7].payload["data"] and {r["title"] for r in seen[7].payload["data"]} == {"low"}
    assert len(seen[7].payload["data"]) == 2
    assert seen[9].payload["data"]["id"] == 1
    assert len(seen[11].payload["data"]) == 2


def test_before_listener_can_change_the_payload(nb: Nodebase) -> None:
    def shout(event: Event) -> Any:
        data = dict(event.payload["data"])
        data["title"] = data["title"].upper()
        return {"data": data}

    nb.events.on("data.create.before", shout, entity="posts")

    async def scenario() -> Any:
        await nb.db.connect()
        row = await nb.data.service.create("posts", {"title": "quiet"}, CALLER)
        await nb.db.close()
        return row

    assert asyncio.run(scenario())["title"] == "QUIET"


def test_before_listener_can_veto(nb: Nodebase) -> None:
    async def veto(event: Event) -> None:
        if event.payload["data"].get("views", 0) > 100:
            raise Forbidden("too many views")

    nb.events.on("data.create.before", veto)

    async def scenario() -> tuple[int, str]:
        await nb.db.connect()
        try:
            await nb.data.service.create("posts", {"title": "x", "views": 1000}, CALLER)
            message = ""
        except Forbidden as exc:
            message = exc.message
        count = await nb.data.service.count("posts", None, CALLER)
        await nb.db.close()
        return count, message

    assert asyncio.run(scenario()) == (0, "too many views")


def test_after_listener_failure_does_not_undo_the_write(nb: Nodebase) -> None:
    def boom(event: Event) -> None:
        raise RuntimeError("listener bug")

    nb.events.on("data.create.after", boom)

    async def scenario() -> int:
        await nb.db.connect()
        await nb.data.service.create("posts", {"title": "kept"}, CALLER)
        n = await nb.data.service.count("posts", None, CALLER)
        await nb.db.close()
        return n

    assert asyncio.run(scenario()) == 1


