"""One chat-enabled nodebase server per backend (SQLite, PostgreSQL) for the chat tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import _database_url
from tests.nodeserver import NodeServer
from tests.support.services import RedisServer, free_port, start_redis

#: low enough for the rate-limit test to reach quickly, high enough for the other tests
SEND_RATE = 20


@pytest.fixture(scope="module")
def chat(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeServer]:
    data_dir = tmp_path_factory.mktemp(f"chat-{backend}")
    grpc_port = free_port()
    server = NodeServer(data_dir, database_url=_database_url(backend, request),
                        env={"NODEBASE_APPS": "chat", "NODEBASE_CHAT_SEND_RATE": str(SEND_RATE),
                             "NODEBASE_GRPC_PORT": str(grpc_port)})
    server.grpc_target = f"127.0.0.1:{grpc_port}"  # type: ignore[attr-defined]
    server.start()
    yield server
    server.stop()
    errors = server.server_errors()
    assert not errors, f"the server logged unhandled errors:\n{errors}"


@pytest.fixture(scope="session")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with start_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server
