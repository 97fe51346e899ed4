"""Triggers through the real server: HTTP (sync json/text/html, async 202), manual (API and
CLI), data events (create / update / delete with a where filter), schedules (cron in a time
zone and intervals) with a controllable clock; and the permission matrix of flow routes."""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.conftest import add_entity, unique
from tests.flows.conftest import Clock
from tests.flows.helpers import conn, http_flow, manual_flow, name, put_flow, wait_run, wait_runs
from tests.nodeserver import NodeServer


def render(template: str) -> dict[str, Any]:
    return {"type": "render", "params": {"render": template}}


# -- HTTP ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("response_type", "content_type", "expected"), [
    ("json", "application/json", {"hello": "ann", "via": "POST"}),
    ("text", "text/plain", "Hello ann"),
    ("html", "text/html", "<b>Hello ann</b>"),
])
def test_http_sync_answers_the_responding_task(fnode: NodeServer, fapi: httpx.Client, response_type: str,
                                               content_type: str, expected: Any) -> None:
    path = "/hooks/" + name("h")
    templates = {"json": render('{"hello": "{{ input.body.name }}", "via": "{{ input.method }}"}'),
                 "text": render("Hello {{ input.body.name }}"),
                 "html": render("<b>Hello {{ input.body.name }}</b>")}
    tasks: dict[str, Any] = {"main": templates[response_type]}
    flow = name("http")
    put_flow(fapi, flow, http_flow(tasks, "main", responding="main", path=path, method="POST",
                                   response_type=response_type, public=True))
    r = httpx.post(fnode.url + path, json={"name": "ann"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(content_type)
    if response_type == "json":
        assert json.loads(r.json()) == expected  # the render output is a string holding JSON
    else:
        assert r.text == expected


def test_http_json_output_and_path_params(fnode: NodeServer, fapi: httpx.Client) -> None:
    flow = name("httpjson")
    base = "/" + name("items")
    put_flow(fapi, flow, http_flow({"sum": {"type": "python", "params": {
        "function": "add", "args": {"a": "{{ input.params.id | int }}", "b": "{{ input.query.b | int }}"}}}},
        "sum", responding="sum", path=base + "/:id", public=True))
    r = httpx.get(fnode.url + base + "/40?b=2")
    assert r.status_code == 200 and r.json() == {"sum": 42, "flow": flow}
    assert httpx.post(fnode.url + base + "/40").status_code == 405
    assert httpx.get(fnode.url + base + "/40/more").status_code == 404


def test_http_input_never_stores_credentials(fnode: NodeServer, fapi: httpx.Client) -> None:
    flow = name("httpcred")
    path = "/" + name("cred")
    put_flow(fapi, flow, http_flow({"r": render("ok")}, "r", responding="r", path=path, mode="async"))
    token = fapi.headers["authorization"]
    r = httpx.get(fnode.url + path, headers={"Authorization": token, "X-Keep": "yes"})
    assert r.status_code == 202, r.text
    stored = wait_run(fapi, r.json()["run_id"])
    assert stored["input"]["headers"]["x-keep"] == "yes"
    assert "authorization" not in stored["input"]["headers"]
    assert token.split()[-1] not in json.dumps(stored)


def test_http_async_answers_202_and_records_the_run(fnode: NodeServer, fapi: httpx.Client) -> None:
    flow = name("async")
    path = "/" + name("async")
    put_flow(fapi, flow, http_flow({"wait": {"type": "log", "params": {"delay": 200}}, "r": render("{{ input.query.x }}")},
                                   "wait", responding="r", connections={"1": conn("wait", "r")},
                                   path=path, mode="async", public=True))
    r = httpx.get(fnode.url + path + "?x=later")
    assert r.status_code == 202 and r.json()["success"] is True
    run_id = r.json()["run_id"]
    # the run row exists before the answer
    assert fapi.get(f"/api/flows/runs/{run_id}").status_code == 200
    run = wait_run(fapi, run_id)
    assert run["status"] == "success" and run["output"] == "later" and run["trigger"] == "http"
    assert [t["task"] for t in run["tasks"]] == ["wait", "r"]
    assert run["duration_ms"] >= 200


def test_http_sync_failure_is_a_clear_error(fnode: NodeServer, fapi: httpx.Client) -> None:
    flow = name("httpfail")
    path = "/" + name("fail")
    put_flow(fapi, flow, http_flow({"p": {"type": "python", "params": {"function": "add", "args": {}}}},
                                   "p", responding="p", path=path, public=True))
    r = httpx.get(fnode.url + path)
    assert r.status_code == 502
    body = r.json()
    assert body["success"] is False and body["type"] == "FlowFailed"
    assert body["context"]["flow"] == flow and body["context"]["task"] == "p"


# -- permissions -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def users(fnode: NodeServer) -> dict[str, dict[str, str]]:
    """A signed-in user per role: reader (flows.read), runner (flows.run), manager
    (flows.manage), hook (a custom permission), none (no flows permission)."""
    from tests.conftest import admin_headers

    with httpx.Client(base_url=fnode.url, headers=admin_headers(fnode), timeout=30) as admin:
        r = admin.post("/api/system/config/set/auth", json={"roles": {
            "reader": {"permissions": ["flows.read"]}, "runner": {"permissions": ["flows.run"]},
            "manager": {"permissions": ["flows.manage"]}, "hook": {"permissions": ["data.entity.read"]},
            "none": {"permissions": []}}})
        assert r.status_code == 202, r.text
    out = {}
    for role in ("reader", "runner", "manager", "hook", "none"):
        email, password = f"{role}-{secrets.token_hex(4)}@flows.test", secrets.token_urlsafe(16)
        fnode.cli("user", "create", "--email", email, f"--password={password}", "--role", role)
        r = httpx.post(fnode.url + "/api/auth/password/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        out[role] = {"Authorization": f"Bearer {r.json()['token']}"}
    out["anonymous"] = {}
    return out


def test_permission_matrix(fnode: NodeServer, fapi: httpx.Client, users: dict[str, dict[str, str]]) -> None:
    flow = name("perm")
    put_flow(fapi, flow, manual_flow({"r": render("ok")}, "r", responding="r"))
    run_id = fapi.get(f"/api/flows/flow/{flow}/run").json()["run_id"]
    new_def = manual_flow({"r": render("changed")}, "r")
    routes = {
        "list": ("GET", "/api/flows", None, "flows.read"),
        "definition": ("GET", f"/api/flows/flow/{flow}", None, "flows.read"),
        "runs": ("GET", "/api/flows/runs", None, "flows.read"),
        "run record": ("GET", f"/api/flows/runs/{run_id}", None, "flows.read"),
        "run (GET)": ("GET", f"/api/flows/flow/{flow}/run", None, "flows.run"),
        "run (POST)": ("POST", f"/api/flows/flow/{flow}/run", {"x": 1}, "flows.run"),
        "put": ("PUT", f"/api/flows/flow/{flow}", new_def, "flows.manage"),
    }
    grants = {"reader": "flows.read", "runner": "flows.run", "manager": "flows.manage"}
    for role, headers in users.items():
        for label, (method, path, body, needed) in routes.items():
            r = httpx.request(method, fnode.url + path, json=body, headers=headers, timeout=30)
            allowed = grants.get(role) == needed
            assert r.status_code == (200 if allowed else 403), (role, label, r.status_code, r.text)
            if not allowed:
                assert r.json()["permission"] == needed
    # delete last: only the manager
    for role in ("reader", "runner", "anonymous"):
        assert httpx.delete(fnode.url + f"/api/flows/flow/{flow}", headers=users[role]).status_code == 403
    assert httpx.delete(fnode.url + f"/api/flows/flow/{flow}", headers=users["manager"]).status_code == 200


def test_http_triggers_are_secure_by_default(fnode: NodeServer, fapi: httpx.Client,
                                             users: dict[str, dict[str, str]]) -> None:
    default_path, custom_path, public_path = ("/" + name("sec") for _ in range(3))
    for path, extra in ((default_path, {}), (custom_path, {"permission": "data.entity.read"}),
                        (public_path, {"public": True})):
        put_flow(fapi, name("sec"), http_flow({"r": render("ok")}, "r", responding="r", path=path,
                                              response_type="text", **extra))
    expect = {
        default_path: {"runner"},
        custom_path: {"hook", "reader"} - {"reader"},
        public_path: {"reader", "runner", "manager", "hook", "none", "anonymous"},
    }
    for path, allowed in expect.items():
        for role, headers in users.items():
            r = httpx.get(fnode.url + path, headers=headers)
            assert r.status_code == (200 if role in allowed else 403), (path, role, r.text)
            if r.status_code == 200:
                assert r.text == "ok"


# -- manual: CLI -----------------------------------------------------------------------------
def test_cli_flow_run(fnode: NodeServer, fapi: httpx.Client) -> None:
    ok, bad = name("cli"), name("cli")
    put_flow(fapi, ok, manual_flow({"p": {"type": "python", "params": {"function": "add",
                                                                        "args": {"a": "{{ input.a }}", "b": 3}}}},
                                   "p", responding="p"))
    put_flow(fapi, bad, manual_flow({"p": {"type": "python", "params": {"function": "add", "args": {}}}},
                                    "p", responding="p"))
    r = fnode.cli("flow", "run", ok, "--input", '{"a": 4}')
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"sum": 7, "flow": ok}
    r = fnode.cli("flow", "run", bad, check=False)
    assert r.returncode == 1 and "KeyError" in r.stderr
    r = fnode.cli("flow", "run", "no_such_flow", check=False)
    assert r.returncode == 2 and "not found" in r.stderr
    runs = wait_runs(fapi, ok, 1)
    assert runs[0]["trigger"] == "manual" and runs[0]["input"] == {"a": 4}


# -- data events -----------------------------------------------------------------------------
def test_event_triggers_with_where(fnode: NodeServer, fapi: httpx.Client) -> None:
    entity = unique("posts")
    add_entity(fapi, entity, {"title": {"type": "text"}, "status": {"type": "text"}})
    created, updated, deleted = name("ev"), name("ev"), name("ev")
    r = render("{{ input.title }}|{{ input.previous.status }}|{{ run.event }}")
    put_flow(fapi, created, {"trigger": {"type": "event", "config": {
        "event": "data.create.after", "entity": entity, "where": {"status": "published"}}},
        "tasks": {"r": r}, "start_task": "r"})
    put_flow(fapi, updated, {"trigger": {"type": "event", "config": {
        "event": "mutator-update-after", "entity": entity, "where": {"status": {"$in": ["published", "archived"]}}}},
        "tasks": {"r": r}, "start_task": "r"})
    put_flow(fapi, deleted, {"trigger": {"type": "event", "config": {"event": "data.delete.after", "entity": entity}},
                             "tasks": {"r": r}, "start_task": "r"})
    base = f"/api/data/entity/{entity}"
    draft = fapi.post(base, json={"title": "draft", "status": "draft"}).json()["data"]
    pub = fapi.post(base, json={"title": "pub", "status": "published"}).json()["data"]
    fapi.patch(f"{base}/{draft['id']}", json={"status": "archived"})
    fapi.patch(f"{base}/{pub['id']}", json={"title": "pub2"})
    fapi.patch(f"{base}/{draft['id']}", json={"status": "draft"})  # no match
    assert fapi.delete(f"{base}/{pub['id']}").status_code == 200
    c = wait_runs(fapi, created, 1)
    assert [x["output"] for x in c] == ["pub||data.create.after"]
    assert c[0]["trigger"] == "event" and c[0]["input"]["id"] == pub["id"]
    u = wait_runs(fapi, updated, 2)
    assert sorted(x["output"] for x in u) == ["draft|draft|data.update.after", "pub2|published|data.update.after"]
    d = wait_runs(fapi, deleted, 1)
    assert d[0]["output"] == "pub2||data.delete.after"
    # bulk changes: one run per row
    fapi.post(base, json=[{"title": f"b{i}", "status": "published"} for i in range(3)])
    assert len(wait_runs(fapi, created, 4)) == 4
    r2 = fapi.request("DELETE", base, json={"status": "published"})
    assert r2.status_code == 200, r2.text
    assert len(wait_runs(fapi, deleted, 4)) == 4
    # nothing ran twice
    assert len(wait_runs(fapi, created, 4)) == 4 and len(wait_runs(fapi, updated, 2)) == 2


def test_data_task_acts_as_the_flows_role(fnode: NodeServer, fapi: httpx.Client) -> None:
    entity = unique("notes")
    add_entity(fapi, entity, {"text": {"type": "text"}})
    r = fapi.post("/api/system/config/set/auth", json={"roles": {
        "notewriter": {"permissions": ["data.entity.create", "data.entity.read"]}}})
    assert r.status_code == 202, r.text
    write = {"type": "data", "params": {"action": "create", "entity": entity, "data": {"text": "{{ input.t }}"}}}
    read = {"type": "data", "params": {"action": "read", "entity": entity, "where": {"text": "{{ input.t }}"}}}
    delete = {"type": "data", "params": {"action": "delete", "entity": entity, "id": "{{ w.output.id }}"}}
    with_role, without = name("data"), name("data")
    put_flow(fapi, with_role, manual_flow({"w": write, "r": read, "d": delete}, "w",
                                          connections={"1": conn("w", "r"), "2": conn("r", "d")}, role="notewriter"))
    put_flow(fapi, without, manual_flow({"w": write}, "w", responding="w"))
    a = fapi.post(f"/api/flows/flow/{with_role}/run", json={"t": "hello"}).json()
    assert [x["text"] for x in a["logs"][1]["output"]] == ["hello"]
    # the role may create and read but not delete
    assert a["success"] is False and a["errors"][0]["task"] == "d"
    assert a["errors"][0]["type"] == "PermissionsException"
    b = fapi.post(f"/api/flows/flow/{without}/run", json={"t": "anon"}).json()
    assert b["success"] is False and b["errors"][0]["status"] == 403
    rows = fapi.get(f"/api/data/entity/{entity}").json()["data"]
    assert [x["text"] for x in rows] == ["hello"]


# -- schedules -------------------------------------------------------------------------------
def test_cron_schedule_in_a_time_zone(fapi: httpx.Client, clock: Clock) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    start = datetime(2031, 3, 4, 9, 58, 30, tzinfo=tz).timestamp()
    clock.set(start)
    flow = name("cron")
    put_flow(fapi, flow, {"trigger": {"type": "schedule", "config": {"cron": "0 10 * * *", "timezone": "Asia/Shanghai"}},
                          "tasks": {"r": render("tick {{ input.scheduled_at }}")}, "start_task": "r"})
    clock.set(start + 60)  # 09:59:30 — no tick yet
    clock.set(datetime(2031, 3, 4, 10, 0, 0, tzinfo=tz).timestamp())
    runs = wait_runs(fapi, flow, 1)
    assert runs[0]["input"] == {"scheduled_at": "2031-03-04T10:00:00+08:00"}
    assert runs[0]["trigger"] == "schedule" and runs[0]["output"] == "tick 2031-03-04T10:00:00+08:00"
    # a day later (several ticks late): one run, for the latest tick
    clock.set(datetime(2031, 3, 6, 10, 0, 5, tzinfo=tz).timestamp())
    runs = wait_runs(fapi, flow, 2)
    assert [r["input"]["scheduled_at"] for r in runs] == ["2031-03-04T10:00:00+08:00", "2031-03-06T10:00:00+08:00"]
    fapi.delete(f"/api/flows/flow/{flow}")


def test_interval_schedule(fapi: httpx.Client, clock: Clock) -> None:
    t0 = 1_900_000_000.0
    clock.set(t0 + 0.5)
    flow = name("every")
    put_flow(fapi, flow, {"trigger": {"type": "schedule", "config": {"interval": 5}},
                          "tasks": {"r": render("{{ input.scheduled_at }}")}, "start_task": "r"})
    for k in (1, 2, 3):
        clock.set(t0 + 5 * k)
        wait_runs(fapi, flow, k)
    runs = wait_runs(fapi, flow, 3)
    assert [r["input"]["scheduled_at"] for r in runs] == [
        datetime.fromtimestamp(t0 + 5 * k, ZoneInfo("UTC")).isoformat() for k in (1, 2, 3)]
    fapi.delete(f"/api/flows/flow/{flow}")


def test_the_clock_file_is_refused_without_the_test_flag(tmp_path: Path) -> None:
    """NODEBASE_FLOWS_CLOCK_FILE moves the scheduler's time: a test setting, refused (the node
    exits with a message) unless NODEBASE_TESTING=true is set too, as Studio's clock file."""
    node = NodeServer(tmp_path / "data", env={"NODEBASE_FLOWS_CLOCK_FILE": str(tmp_path / "clock.txt")})
    try:
        with pytest.raises(RuntimeError, match="NODEBASE_FLOWS_CLOCK_FILE is a test setting"):
            node.start(timeout=40)
    finally:
        node.stop()


def test_runs_listing_filters_and_pages(fapi: httpx.Client) -> None:
    flow = name("list")
    put_flow(fapi, flow, manual_flow({"p": {"type": "python", "params": {"function": "add",
                                                                          "args": {"a": "{{ input.a }}", "b": 1}}}}, "p"))
    for a in (1, "x", 2):
        fapi.post(f"/api/flows/flow/{flow}/run", json={"a": a})
    all_runs = fapi.get("/api/flows/runs", params={"flow": flow}).json()
    assert all_runs["meta"] == {"total": 3, "limit": 20, "offset": 0}
    failed = fapi.get("/api/flows/runs", params={"flow": flow, "status": "failed"}).json()
    assert failed["meta"]["total"] == 1 and failed["data"][0]["input"] == {"a": "x"}
    page = fapi.get("/api/flows/runs", params={"flow": flow, "limit": 1, "offset": 1}).json()
    assert page["meta"] == {"total": 3, "limit": 1, "offset": 1} and len(page["data"]) == 1
    assert page["data"][0]["id"] == all_runs["data"][1]["id"]
    one = all_runs["data"][0]
    assert set(one) >= {"id", "flow", "trigger", "status", "started_at", "finished_at", "duration_ms",
                        "input", "output", "tasks"}
    assert set(one["tasks"][0]) >= {"task", "status", "started_at", "duration_ms", "attempts"}
    assert fapi.get("/api/flows/runs", params={"status": "weird"}).status_code == 400
    assert fapi.get("/api/flows/runs", params={"limit": "many"}).status_code == 400
    assert fapi.get("/api/flows/runs/no-such-run").status_code == 404


def test_runs_are_pruned_by_age(make_node: Any) -> None:
    node = make_node()
    from tests.conftest import admin_headers

    api = node.client(headers=admin_headers(node))
    flow = name("prune")
    put_flow(api, flow, manual_flow({"r": render("x")}, "r"))
    for _ in range(3):
        assert api.get(f"/api/flows/flow/{flow}/run").json()["success"] is True
    assert api.get("/api/flows/runs", params={"flow": flow}).json()["meta"]["total"] == 3
    # keep a day: nothing is old enough
    r = api.post("/api/system/config/set/flows", json={"runs": {"keep_days": 1}})
    assert r.status_code == 202, r.text
    time.sleep(0.3)  # the prune runs in the background; give a wrong deletion the chance to show
    assert api.get("/api/flows/runs", params={"flow": flow}).json()["meta"]["total"] == 3
    # keep 0.1 s: the three finished runs go
    r = api.post("/api/system/config/set/flows", json={"runs": {"keep_days": 0.1 / 86400}})
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 20
    while api.get("/api/flows/runs", params={"flow": flow}).json()["meta"]["total"]:
        assert time.monotonic() < deadline, "old runs were not pruned"
        time.sleep(0.05)
    assert api.get("/api/system/config/flows").json()["config"]["runs"]["keep_days"] == 0.1 / 86400
