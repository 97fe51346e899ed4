"""Sign-in throttling an attacker cannot use against the owner; registration limits; proxies.

The servers here trust 127.0.0.1 as a proxy (``NODEBASE_TRUSTED_PROXIES``), so a test can
speak for several client addresses through ``X-Forwarded-For``.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.auth.helpers import PASSWORD, bearer, email, register, set_auth_config
from tests.conftest import admin_headers
from tests.nodeserver import NodeServer
from tests.support.services import RedisServer

#: a first delay of 60 s: a test's next request surely comes before the hold ends
LIMITS = {"rate_limit": {"enabled": True, "window": 600, "free_attempts": 3, "first_delay": 60,
                         "max_delay": 600, "max_per_ip": 50, "max_per_account": 8,
                         "register_per_ip": 50}}
PROXIED = {"NODEBASE_TRUSTED_PROXIES": "127.0.0.1"}
ATTACKER, OWNER = "203.0.113.7", "198.51.100.2"


def _limited(make_node: Any, limits: dict[str, Any] | None = None, env: dict[str, str] | None = None,
             ) -> NodeServer:
    server: NodeServer = make_node(env={**PROXIED, **(env or {})})
    with server.client(headers=admin_headers(server)) as c:
        set_auth_config(c, {"rate_limit": {**LIMITS["rate_limit"], **(limits or {})}})
    return server


def login_from(c: httpx.Client, ip: str, address: str, password: str = PASSWORD,
               cookies: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": ip}
    if cookies:
        headers["Cookie"] = cookies
    return c.post("/api/auth/password/login", json={"email": address, "password": password},
                  headers=headers)


def device_cookie(r: httpx.Response) -> str:
    for value in r.headers.get_list("set-cookie"):
        if value.startswith("nb_device="):
            assert "HttpOnly" in value and "Path=/api/auth" in value, value
            return value.split(";")[0]
    raise AssertionError(f"no device cookie in {r.headers.get_list('set-cookie')}")


def test_hammering_from_one_address_does_not_lock_out_the_owner(make_node: Any) -> None:
    server = _limited(make_node)
    with server.client() as c:
        victim = email("rl-victim")
        register(c, victim)
        for _ in range(3):  # free_attempts
            assert login_from(c, ATTACKER, victim, "wrong password!").status_code == 401
        for _ in range(30):  # the attacker keeps going: every try waits, none is checked
            r = login_from(c, ATTACKER, victim, "wrong password!")
            assert r.status_code == 429, r.text
            assert 1 <= r.json()["context"]["retry_after"] <= 60
        blocked = login_from(c, ATTACKER, victim)  # even the right password, from there
        assert blocked.status_code == 429 and blocked.json()["type"] == "TooManyRequestsException"
        assert int(blocked.headers["Retry-After"]) == blocked.json()["context"]["retry_after"] >= 1
        # the owner, from anywhere else, signs in while the attack goes on
        assert login_from(c, OWNER, victim).status_code == 200
        assert login_from(c, ATTACKER, victim, "wrong password!").status_code == 429


def test_delays_double_and_a_success_clears_them(make_node: Any) -> None:
    server = _limited(make_node, {"free_attempts": 2, "first_delay": 3})
    with server.client() as c:
        a = email("rl-delay")
        register(c, a)
        assert [login_from(c, ATTACKER, a, "wrong!!!").status_code for _ in range(2)] == [401, 401]
        first = login_from(c, ATTACKER, a)  # the right password waits too
        assert first.status_code == 429, first.text
        wait = int(first.headers["Retry-After"])  # 3 s from the failure (rounded up)
        assert 1 <= wait <= 3, first.text
        time.sleep(wait)  # the hold is a span of time: wait it out
        assert login_from(c, ATTACKER, a, "wrong!!!").status_code == 401
        second = login_from(c, ATTACKER, a, "wrong!!!")
        assert second.status_code == 429, second.text
        assert 3 < int(second.headers["Retry-After"]) <= 6, second.text  # doubled

        b = email("rl-clear")
        register(c, b)
        assert login_from(c, OWNER, b, "typo typo").status_code == 401
        assert login_from(c, OWNER, b).status_code == 200
        assert login_from(c, OWNER, b, "typo typo").status_code == 401
        assert login_from(c, OWNER, b).status_code == 200  # 1 failure since the success: no wait


def test_many_addresses_trip_the_account_budget_but_not_the_owners_device(make_node: Any) -> None:
    server = _limited(make_node, {"max_per_account": 8})
    with server.client() as c:
        victim, other = email("rl-spread"), email("rl-other")
        register(c, victim)
        register(c, other)
        device = device_cookie(login_from(c, OWNER, victim))
        for i in range(8):  # 8 addresses, one failure each: no pair is slowed down
            assert login_from(c, f"203.0.113.{i + 10}", victim, "wrong password!").status_code == 401
        r = login_from(c, "203.0.113.99", victim)
        assert r.status_code == 429 and "account" in r.json()["error"], r.text
        # a new device of the owner waits too (that is the price of the account budget) ...
        assert login_from(c, "192.0.2.50", victim).status_code == 429
        # ... but a browser the owner signed in with before gets in, from any address
        assert login_from(c, "192.0.2.50", victim, cookies=device).status_code == 200
        # the device cookie is bound to its account and to the server's secret
        assert login_from(c, "192.0.2.51", victim, cookies=device[:-2] + "xx").status_code == 429
        other_device = device_cookie(login_from(c, OWNER, other))
        assert login_from(c, "192.0.2.52", victim, cookies=other_device).status_code == 429
        # a wrong password from the device is slowed down by its own counter only
        for _ in range(3):
            assert login_from(c, "192.0.2.50", victim, "wrong password!", device).status_code == 401
        assert login_from(c, "192.0.2.50", victim, cookies=device).status_code == 429


def test_one_address_spraying_many_accounts(make_node: Any) -> None:
    server = _limited(make_node, {"max_per_ip": 4})
    with server.client() as c:
        accounts = [email("rl-spray") for _ in range(5)]
        for a in accounts:
            register(c, a)
        for a in accounts[:4]:
            assert login_from(c, ATTACKER, a, "Summer2026!").status_code == 401
        r = login_from(c, ATTACKER, accounts[4])
        assert r.status_code == 429 and "address" in r.json()["error"], r.text
        assert login_from(c, OWNER, accounts[4]).status_code == 200


def test_forwarded_for_is_believed_only_from_trusted_proxies(make_node: Any) -> None:
    # without the setting the header is ignored: every "address" below is 127.0.0.1
    plain: NodeServer = make_node()
    with plain.client(headers=admin_headers(plain)) as admin:
        set_auth_config(admin, LIMITS)
    with plain.client() as c:
        a = email("rl-noproxy")
        register(c, a)
        for i in range(3):
            assert login_from(c, f"198.51.100.{i}", a, "wrong password!").status_code == 401
        assert login_from(c, "198.51.100.200", a).status_code == 429

    # trusted: the right-most hop that is not a trusted proxy is the client
    proxied = _limited(make_node, env={"NODEBASE_TRUSTED_PROXIES": "127.0.0.1,10.0.0.0/8"})
    with proxied.client() as c:
        b = email("rl-proxy")
        register(c, b)
        for forged in ("1.1.1.1", "2.2.2.2", "3.3.3.3"):  # the client writes the left part
            assert login_from(c, f"{forged}, 198.51.100.9, 10.1.2.3", b, "wrong password!").status_code == 401
        assert login_from(c, "4.4.4.4, 198.51.100.9, 10.9.9.9", b).status_code == 429
        assert login_from(c, "198.51.100.10, 10.1.2.3", b).status_code == 200


def test_registration_is_limited_per_address(make_node: Any) -> None:
    server = _limited(make_node, {"register_per_ip": 3})
    with server.client() as c:
        for _ in range(3):
            r = c.post("/api/auth/password/register", headers={"X-Forwarded-For": ATTACKER},
                       json={"email": email("rl-reg"), "password": PASSWORD})
            assert r.status_code == 200, r.text
            assert device_cookie(r)  # registering is signing in: this browser is a known device
        r = c.post("/api/auth/password/register", headers={"X-Forwarded-For": ATTACKER},
                   json={"email": email("rl-reg"), "password": PASSWORD})
        assert r.status_code == 429, r.text
        assert r.json()["context"]["setting"] == "auth.rate_limit.register_per_ip"
        assert int(r.headers["Retry-After"]) == 600
        r = c.post("/api/auth/password/register", headers={"X-Forwarded-For": OWNER},
                   json={"email": email("rl-reg"), "password": PASSWORD})
        assert r.status_code == 200, r.text


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
        # 3 failures in all, spread over both processes: each saw fewer than free_attempts
        assert login_from(c1, ATTACKER, a, "wrong password!").status_code == 401
        assert login_from(c2, ATTACKER, a, "wrong password!").status_code == 401
        assert login_from(c1, ATTACKER, a, "wrong password!").status_code == 401
        assert login_from(c2, ATTACKER, a).status_code == 429
        assert login_from(c1, ATTACKER, a).status_code == 429
        assert login_from(c2, OWNER, a).status_code == 200
    keys = redis_server.command("KEYS", "nodebase:auth:*").decode(errors="replace")
    assert f"nodebase:auth:count:pair:{a}|ip:{ATTACKER}" in keys, keys
    assert f"nodebase:auth:count:account:{a}" in keys, keys
    # without Redis the processes count separately (the control for the test above)
    three = _limited(make_node)
    with three.client() as c3:
        register(c3, a)
        assert login_from(c3, ATTACKER, a).status_code == 200


def test_failed_passkey_sign_ins_count_against_the_address(make_node: Any) -> None:
    server = _limited(make_node, {"max_per_ip": 3})
    forged = {"credential": {"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {}}}
    with server.client() as c:
        for _ in range(3):
            r = c.post("/api/auth/passkey/login/verify", json=forged, headers={"X-Forwarded-For": ATTACKER})
            assert r.status_code == 400 and r.json()["type"] == "PasskeyException", r.text
        r = c.post("/api/auth/passkey/login/verify", json=forged, headers={"X-Forwarded-For": ATTACKER})
        assert r.status_code == 429 and "address" in r.json()["error"], r.text
        a = email("rl-pk")
        register(c, a)
        assert login_from(c, ATTACKER, a).status_code == 429  # the same budget as passwords
        assert login_from(c, OWNER, a).status_code == 200
