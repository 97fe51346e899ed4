"""``/metrics`` (scraped and parsed with prometheus-client's parser) and the JSON request log
(parsed line by line and scanned for every secret the test used)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from tests.auth.helpers import PASSWORD, bearer, email, set_auth_config
from tests.conftest import add_entity, admin_headers, unique
from tests.nodeserver import NodeServer
from tests.realtime.helpers import ws

SECRET_PASSWORD = "s3cret-Passw0rd-" + "x7Q"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _scrape(node: NodeServer, headers: dict[str, str]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with node.client() as c:
        r = c.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return _samples(r.text)


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_metrics_are_protected_and_count_requests_db_and_realtime(make_node: Callable[..., NodeServer]) -> None:
    node = make_node(env={"NODEBASE_LOG_LEVEL": "info"})
    admin = admin_headers(node)
    entity = unique("metered")
    with node.client(headers=admin) as c:
        add_entity(c, entity, {"title": {"type": "text"}})
        created = c.post(f"/api/data/entity/{entity}", json={"title": "a"}).json()["data"]
        for _ in range(5):
            assert c.get(f"/api/data/entity/{entity}/{created['id']}").status_code == 200
        assert c.get(f"/api/data/entity/{entity}/999999").status_code == 404
    with node.client() as c:
        # a mounted static app counts under its own template, a missing file too
        assert c.get("/admin/static/app.js").status_code == 200
        assert c.get("/admin/static/admin.css").status_code == 200
        assert c.get("/admin/static/no-such-file.js").status_code == 404
        address = email("metrics")
        r = c.post("/api/auth/register", json={"email": address, "password": SECRET_PASSWORD})
        assert r.status_code == 201
        user_token = r.json()["token"]
        user_id = r.json()["user"]["id"]
        assert c.get(f"/api/users/{user_id}", headers=bearer(user_token)).status_code == 200
        assert c.post("/api/auth/login", json={"email": address, "password": "wrong-" + SECRET_PASSWORD}
                      ).status_code == 401
        # not public: anonymous and a plain user are refused
        assert c.get("/metrics").status_code == 403
        assert c.get("/metrics", headers=bearer(user_token)).status_code == 403
        # a role holding only system.metrics may scrape
        with node.client(headers=admin) as a:
            set_auth_config(a, {"roles": {"scraper": {"permissions": ["system.metrics"]}}})
        apikey = c.post("/api/auth/apikeys", headers=admin, json={"name": "scraper", "role": "scraper"}).json()["data"]
        key = apikey["key"]
        assert c.get("/api/system/config", headers=bearer(key)).status_code == 403

    samples = _scrape(node, bearer(key))
    read = "/api/data/entity/{entity}/{id}"
    assert _value(samples, "nodebase_http_requests_total", method="GET", route=read, status="200") == 5
    assert _value(samples, "nodebase_http_requests_total", method="GET", route=read, status="404") == 1
    assert _value(samples, "nodebase_http_requests_total", method="GET", route="/api/users/{id}",
                  status="200") == 1
    assert _value(samples, "nodebase_http_requests_total", method="POST", route="/api/auth/login",
                  status="401") == 1
    assert _value(samples, "nodebase_http_requests_total", method="GET", route="/metrics", status="403") == 2
    static = "/admin/static/{path}"
    assert _value(samples, "nodebase_http_requests_total", method="GET", route=static, status="200") == 2
    assert _value(samples, "nodebase_http_requests_total", method="GET", route=static, status="404") == 1
    assert _value(samples, "nodebase_http_requests_total", method="GET", route="<unmatched>", status="200") == 0
    assert _value(samples, "nodebase_http_request_duration_seconds_count", method="GET", route=read) == 6
    assert _value(samples, "nodebase_http_request_duration_seconds_bucket", method="GET", route=read,
                  le="+Inf") == 6
    assert _value(samples, "nodebase_http_request_duration_seconds_sum", method="GET", route=read) > 0
    db_statements = sum(v for (n, _l), v in samples.items() if n == "nodebase_db_query_duration_seconds_count")
    assert db_statements >= 6
    assert sum(v for (n, _l), v in samples.items() if n == "nodebase_http_errors_total") == 0
    assert _value(samples, "nodebase_realtime_connections") == 0

    async def realtime() -> None:
        async with ws(node, user_token) as conn:
            await conn.barrier()
            assert _value(await asyncio.to_thread(_scrape, node, bearer(key)), "nodebase_realtime_connections") == 1

    asyncio.run(realtime())
    _wait_for(lambda: _value(_scrape(node, bearer(key)), "nodebase_realtime_connections") == 0,
              "the closed realtime connection to leave the gauge")

    # the request log: one JSON line per request, route templates, caller ids, no secrets
    node.stop()
    lines = [json.loads(line) for line in node.log.read_text().splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("logger") == "nodebase.request"]
    reads = [line for line in requests if line["route"] == read]
    assert len(reads) == 6 and sorted(line["status"] for line in reads) == [200] * 5 + [404]
    assert all(set(line) >= {"ts", "level", "method", "route", "status", "duration_ms", "caller"}
               for line in requests)
    assert all(isinstance(line["duration_ms"], float) for line in requests)
    mine = [line for line in requests if line["route"] == "/api/users/{id}"]
    assert [m["caller"] for m in mine] == [str(user_id)]
    scrapes = [line for line in requests if line["route"] == "/metrics" and line["status"] == 200]
    assert scrapes and all(line["caller"] == f"apikey:{apikey['id']}" for line in scrapes)
    text = node.log.read_text()
    admin_token = admin["Authorization"].split(" ", 1)[1]
    for secret in (SECRET_PASSWORD, PASSWORD, user_token, key, admin_token, key.split("_", 2)[2]):
        assert secret not in text


