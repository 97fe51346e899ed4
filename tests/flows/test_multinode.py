"""Two nodebase processes on one PostgreSQL database: each schedule tick and each data event
runs once across both, whichever node receives the change."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import add_entity, admin_headers
from tests.flows.conftest import MODULE, Clock, flows_env, prepare_project
from tests.flows.helpers import Receiver, name, put_flow, wait_runs
from tests.nodeserver import NodeServer
from tests.support.services import PostgresServer


@pytest.fixture
def two_nodes(postgres: PostgresServer, tmp_path: Path) -> Iterator[tuple[NodeServer, NodeServer, Clock]]:
    url = postgres.create_database(f"nb_multi_{os.getpid()}_{time.monotonic_ns() % 100000}")
    shared = prepare_project(tmp_path / "shared")
    env = flows_env(shared)
    clock = Clock(shared / "clock.txt")
    clock.set(2_000_000_000.5)
    nodes = []
    for label in ("a", "b"):
        project = prepare_project(tmp_path / label)
        nodes.append(NodeServer(project / "data", database_url=url, project_dir=project, env=env))
    nodes[0].start()
    nodes[1].start()
    try:
        yield nodes[0], nodes[1], clock
    finally:
        for n in nodes:
            n.stop()
        for n in nodes:
            assert not n.server_errors()


def _refreshed(client: httpx.Client, flow: str) -> None:
    """Config changes reach the other node on its next request (at most a second later)."""
    deadline = time.monotonic() + 15
    while flow not in client.get("/api/flows").json():
        assert time.monotonic() < deadline, "the other node did not load the flow"
        time.sleep(0.2)


def test_one_run_per_tick_and_per_event_across_two_nodes(two_nodes: tuple[NodeServer, NodeServer, Clock]) -> None:
    a_node, b_node, clock = two_nodes
    a = a_node.client(headers=admin_headers(a_node))
    b = b_node.client(headers=admin_headers(b_node))
    r = a.post("/api/system/config/set/flows", json={"python_modules": [MODULE]})
    assert r.status_code == 202, r.text
    receiver = Receiver().start()
    try:
        entity = "multi_events"
        add_entity(a, entity, {"n": {"type": "number"}})
        tick_flow, event_flow = name("tick"), name("event")
        put_flow(a, tick_flow, {"trigger": {"type": "schedule", "config": {"interval": 10}},
                                "tasks": {"r": {"type": "render", "params": {"render": "{{ input.scheduled_at }}"}}},
                                "start_task": "r"})
        put_flow(a, event_flow, {
            "trigger": {"type": "event", "config": {"event": "data.create.after", "entity": entity}},
            "tasks": {"hook": {"type": "webhook", "params": {"url": receiver.url + "/e", "secret": "s"}}},
            "start_task": "hook"})
        _refreshed(b, event_flow)
        _refreshed(b, tick_flow)
        # schedule: both nodes see every tick of the shared clock
        for k in range(1, 6):
            clock.set(2_000_000_000.0 + 10 * k)
            wait_runs(a, tick_flow, k)
        time.sleep(0.5)  # both schedulers look at the clock every 0.05 s: a second claim would show
        ticks = wait_runs(a, tick_flow, 5)
        assert len(ticks) == 5
        assert len({t["input"]["scheduled_at"] for t in ticks}) == 5
        # events: rows created on both nodes, every run executed by whichever node claims it
        ids = []
        for i in range(20):
            client = a if i % 2 == 0 else b
            ids.append(client.post(f"/api/data/entity/{entity}", json={"n": i}).json()["data"]["id"])
        runs = wait_runs(b, event_flow, 20)
        reqs = receiver.wait_for(20, path="/e")
        time.sleep(0.5)  # a duplicate delivery would arrive within the poll interval
        assert len(receiver.of("/e")) == 20
        assert sorted(r.json()["data"]["id"] for r in reqs) == sorted(ids)
        assert len({r.headers["x-nodebase-delivery"] for r in reqs}) == 20
        assert len(runs) == 20 and all(r["status"] == "success" for r in runs)
        assert all(r["output"]["attempts"] == 1 for r in runs)
    finally:
        receiver.stop()
        a.close()
        b.close()
