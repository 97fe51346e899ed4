"""Nodes starting at the same time on an empty PostgreSQL database: each runs the schema setup
(config table, the Data module's change tracking, every module's tables); the setup is
serialized across processes (a PostgreSQL advisory lock), so none fails and all agree."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.conftest import add_entity, admin_headers
from tests.nodeserver import NodeServer
from tests.support.services import PostgresServer

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("round_", range(2))
def test_nodes_started_together_on_an_empty_database(postgres: PostgresServer, tmp_path: Path,
                                                     round_: int) -> None:
    url = postgres.create_database(f"nb_cstart_{os.getpid()}_{round_}_{time.monotonic_ns() % 100000}")
    # two nodes of two workers each: four processes run the first start at once
    nodes = [NodeServer(tmp_path / label / "data", database_url=url, workers=2) for label in ("a", "b")]
    try:
        for node in nodes:
            node.launch()
        for node in nodes:
            node.wait_ready(timeout=60)
        for node in nodes:
            assert node.proc is not None and node.proc.poll() is None, node.log.read_text()[-4000:]
        a, b = (n.client(headers=admin_headers(n)) for n in nodes)
        add_entity(a, "started_together", {"n": {"type": "number"}})
        row = a.post("/api/data/entity/started_together", json={"n": 1})
        assert row.status_code == 201, row.text
        deadline = time.monotonic() + 15
        while (got := b.get(f"/api/data/entity/started_together/{row.json()['data']['id']}")).status_code != 200:
            assert time.monotonic() < deadline, got.text
            time.sleep(0.2)
        assert got.json()["data"]["n"] == 1
    finally:
        for node in nodes:
            node.stop()
    for node in nodes:
        assert node.server_errors() == "", node.log.read_text()[-4000:]
