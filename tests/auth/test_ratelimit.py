"""Brute-force protection: 429 + Retry-After per account and per IP; shared through Redis."""

from __future__ import annotations

from typing import Any

from tests.auth.helpers import PASSWORD, bearer, email, login, register, set_auth_config
from tests.conftest import admin_headers
from tests.nodeserver import NodeServer
from tests.support.services import RedisServer

LIMITS = {"rate_limit": {"enabled": True, "window": 60, "max_per_account": 3, "max_per_ip": 6}}


def _limited(make_node: Any, **kw: Any) -> NodeServer:
    server: NodeServer = make_node(**kw)
    with server.client(headers=admin_headers(server)) as c:
        set_auth_config(c, LIMITS)
    return server


def test_per_account_then_per_ip(make_node: Any) -> None:
    server = _limited(make_node)
    with server.client() as c:
        a, b, d = email("rl-a"), email("rl-b"), email("rl-d")
        for address in (a, b, d):
            register(c, address)
        for _ in range(3):
            assert login(c, a, "wrong password!").status_code == 401
        blocked = login(c, a)  # even the right password waits now
        assert blocked.status_code == 429, blocked.text
        assert blocked.json()["type"] == "TooManyRequestsException"
        wait = int(blocked.headers["Retry-After"])
        assert 1 <= wait <= 60 and blocked.json()["context"]["retry_after"] == wait
        assert "account" in blocked.json()["error"]
        assert login(c, b).status_code == 200  # other accounts are not affected
        for _ in range(3):
            assert login(c, b, "wrong password!").status_code == 401
        # 6 failures from this address: now every account is refused from here
        r = login(c, d)
        assert r.status_code == 429 and "address" in r.json()["error"]
        # unknown accounts count too (no way to probe which accounts exist)
        assert login(c, email("ghost")).status_code == 429


def test_success_clears_the_account_counter(make_node: Any) -> None:
    server = _limited(make_node)
    with server.client() as c:
        a = email("rl-ok")
        register(c, a)
        for _ in range(2):
            assert login(c, a, "wrong password!").status_code == 401
        assert login(c, a).status_code == 200
        for _ in range(2):
            assert login(c, a, "wrong password!").status_code == 401
        assert login(c, a).status_code == 200


def test_password_change_attempts_count(make_node: Any) -> None:
    server = _limited(make_node)
    with server.client() as c:
        a = email("rl-ch")
        _, token = register(c, a)
        for _ in range(3):
            r = c.post("/api/auth/password/change", headers=bearer(token),
                       json={"current_password": "guess guess", "new_password": "a new password"})
            assert r.status_code == 401
        r = c.post("/api/auth/password/change", headers=bearer(token),
                   json={"current_password": PASSWORD, "new_password": "a new password"})
        assert r.status_code == 429 and r.headers["Retry-After"]


def test_two_processes_share_the_limit_through_redis(make_node: Any, redis_server: RedisServer) -> None:
    env = {"NODEBASE_BROKER_URL": redis_server.url}
    one = _limited(make_node, env=env)
    two = _limited(make_node, env=env)
    a = email("rl-shared")
    with one.client() as c1, two.client() as c2:
        register(c1, a)
        register(c2, a)  # separate databases: the same account on both
        # 3 failures in all, spread over both processes: each saw fewer than the limit
        assert login(c1, a, "wrong password!").status_code == 401
        assert login(c2, a, "wrong password!").status_code == 401
        assert login(c1, a, "wrong password!").status_code == 401
        assert login(c2, a).status_code == 429
        assert login(c1, a).status_code == 429
    keys = redis_server.command("KEYS", "nodebase:auth:fail:*").decode(errors="replace")
    assert "account:" + a in keys
    # without Redis the processes count separately (the control for the test above)
    three = _limited(make_node)
    with three.client() as c3:
        register(c3, a)
        assert login(c3, a).status_code == 200
