"""System routes: ping, health, info, config read (secrets never echoed)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import add_entity, unique


def test_ping(node: Any) -> None:
    r = httpx.get(node.url + "/api/system/ping")
    assert r.status_code == 200 and r.json() == {"pong": True}
    assert r.headers["content-type"] == "application/json"


def test_health_checks_the_database(node: Any) -> None:
    r = httpx.get(node.url + "/health")
    assert r.status_code == 200 and r.json() == {"status": "ok", "database": True}


def test_info(api: httpx.Client, backend: str) -> None:
    body = api.get("/api/system/info").json()
    assert body["version"]["config"] == 10 and body["runtime"] == "python"
    assert body["connection"]["name"] == ("sqlite" if backend == "sqlite" else "postgresql")
    assert body["connection"]["supports"]["softscans"] is True
    url = body["settings"]["database_url"]
    if backend == "postgres":
        assert ":***@" in url  # the password never leaves the server


def test_config_read_whole_and_module(api: httpx.Client) -> None:
    e = unique("sysent")
    add_entity(api, e, {"a": {"type": "text"}})
    whole = api.get("/api/system/config").json()
    assert whole["version"] == 10 and e in whole["data"]["entities"]
    mod = api.get("/api/system/config/data").json()
    assert mod["module"] == "data" and e in mod["config"]["entities"]
    assert api.get("/api/system/config/nope").status_code == 404


def test_cors_allows_loopback_not_other_origins_on_fast_and_slow_paths(node: Any) -> None:
    """The default policy (more in test_cors.py): loopback yes, anything else no."""
    for path in ("/api/system/ping", "/api/system/config"):
        r = httpx.get(node.url + path, headers={"Origin": "http://localhost:5173"})
        assert r.headers.get("access-control-allow-origin") == "http://localhost:5173"
        assert r.headers.get("access-control-allow-credentials") == "true"
        r = httpx.get(node.url + path, headers={"Origin": "http://app.local"})
        assert "access-control-allow-origin" not in r.headers
    pre = httpx.options(node.url + "/api/data/entity/x", headers={
        "Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 204 and "POST" in pre.headers["access-control-allow-methods"]


def test_unknown_routes_and_methods_are_json(node: Any) -> None:
    r = httpx.get(node.url + "/api/nothing/here")
    assert r.status_code == 404 and r.json()["error"] == "Not found"
    r = httpx.put(node.url + "/api/system/ping")
    assert r.status_code == 405 and r.json()["error"]
