"""Fixtures of the realtime tests: one real Redis server for the module's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.services import RedisServer, start_redis


@pytest.fixture(scope="session")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with start_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server
