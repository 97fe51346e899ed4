"""Auth fixtures: a real Redis server (for the shared rate limit)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.services import RedisServer, start_redis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with start_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server
