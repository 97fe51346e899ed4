"""Bad flow definitions are refused with a 400 naming the flow, the task and the field, and
are not stored; good ones are stored in bknd's shape and served by /api/flows."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.flows.helpers import conn, manual_flow, name, put_flow


def _refused(api: httpx.Client, flow: str, definition: Any) -> dict[str, Any]:
    r = api.post(f"/api/system/config/add/flows/flows.{flow}", json=definition)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["success"] is False and body["type"] == "type-invalid"
    assert api.get("/api/system/config/flows").json()["config"]["flows"].get(flow) is None
    assert api.get(f"/api/flows/flow/{flow}").status_code == 404
    return dict(body)


LOG = {"type": "log", "params": {"delay": 0}}

CASES = [
    ("unknown task type", {"a": {"type": "sendmail", "params": {}}}, "a", {}, "a", "type", "unknown task type"),
    ("cycle", {"a": LOG, "b": LOG, "c": LOG}, "a",
     {"1": conn("a", "b"), "2": conn("b", "c"), "3": conn("c", "a")}, "a", "connections", "cycle"),
    ("missing start task", {"a": LOG}, None, {}, None, "start_task", "start_task is required"),
    ("unknown start task", {"a": LOG}, "zz", {}, "zz", "start_task", "not a task"),
    ("connection to a missing task", {"a": LOG}, "a", {"1": conn("a", "ghost")}, "ghost",
     "connections.1.target", "not a task"),
    ("template syntax error", {"r": {"type": "render", "params": {"render": "Hi {{ input.name "}}}, "r", {},
     "r", "params.render", "template syntax error"),
    ("template error in a nested param", {"f": {"type": "fetch", "params": {
        "url": "https://example.com/", "headers": [{"key": "X", "value": "{% if %}"}]}}}, "f", {},
     "f", "params.headers[0].value", "template syntax error"),
    ("bad params", {"f": {"type": "fetch", "params": {"url": "ftp://x"}}}, "f", {}, "f", "params.url", "http"),
    ("unknown python function", {"p": {"type": "python", "params": {"function": "nope"}}}, "p", {}, "p",
     "params.function", "no function"),
    ("unknown subflow", {"s": {"type": "subflow", "params": {"flow": "no_such_flow"}}}, "s", {}, "s",
     "params.flow", "no flow"),
]


@pytest.mark.parametrize(("case", "tasks", "start", "connections", "task", "field", "message"), CASES,
                         ids=[c[0] for c in CASES])
def test_bad_definition_names_task_and_field(fapi: httpx.Client, case: str, tasks: dict[str, Any],
                                             start: str | None, connections: dict[str, Any],
                                             task: str | None, field: str, message: str) -> None:
    flow = name("bad")
    definition: dict[str, Any] = {"trigger": {"type": "manual", "config": {}}, "tasks": tasks,
                                  "connections": connections}
    if start is not None:
        definition["start_task"] = start
    body = _refused(fapi, flow, definition)
    assert body["context"]["flow"] == flow
    assert body["context"]["field"] == field
    assert body["context"].get("task") == task
    assert message in body["error"]


@pytest.mark.parametrize(("trigger", "field", "message"), [
    ({"type": "schedule", "config": {"cron": "61 * * * *"}}, "trigger.config.cron", "bad cron"),
    ({"type": "schedule", "config": {"cron": "* * *"}}, "trigger.config.cron", "bad cron"),
    ({"type": "schedule", "config": {"cron": "* * * * *", "timezone": "Mars/Olympus"}},
     "trigger.config.timezone", "unknown time zone"),
    ({"type": "schedule", "config": {"interval": 0.5}}, "trigger.config.interval", "≥ 1"),
    ({"type": "cron", "config": {}}, "trigger.type", "unknown trigger type"),
    ({"type": "http", "config": {"path": "/api/data/x"}}, "trigger.config.path", "inside a module"),
    ({"type": "http", "config": {"path": "/x", "method": "TRACE"}}, "trigger.config.method", "method"),
    ({"type": "http", "config": {"path": "/x", "permission": "no.such.permission"}},
     "trigger.config.permission", "unknown permission"),
    ({"type": "event", "config": {"event": "data.create.before", "entity": "x"}}, "trigger.config.event",
     "event must be"),
    ({"type": "event", "config": {"event": "data.create.after", "entity": "x", "where": {"a": {"$near": 1}}}},
     "trigger.config.where", "unknown operator"),
])
def test_bad_trigger(fapi: httpx.Client, trigger: dict[str, Any], field: str, message: str) -> None:
    flow = name("badtrig")
    body = _refused(fapi, flow, {"trigger": trigger, "tasks": {"a": LOG}, "start_task": "a"})
    assert body["context"] == {"flow": flow, "field": field}
    assert message in body["error"]


def test_retry_loop_back_is_allowed_but_a_plain_back_edge_is_not(fapi: httpx.Client) -> None:
    tasks = {"a": LOG, "b": LOG, "c": LOG}
    ok = name("loop")
    put_flow(fapi, ok, manual_flow(tasks, "a", connections={
        "1": conn("a", "b"), "2": conn("b", "c"),
        "3": conn("c", "b", {"type": "error"}, max_retries=2)}))
    bad = name("loop")
    body = _refused(fapi, bad, manual_flow(tasks, "a", connections={
        "1": conn("a", "b"), "2": conn("b", "c"), "3": conn("c", "b", {"type": "success"})}))
    assert "cycle" in body["error"] and body["context"]["field"] == "connections"


def test_change_through_the_config_api_is_validated_too(fapi: httpx.Client) -> None:
    flow = name("patch")
    put_flow(fapi, flow, manual_flow({"a": LOG}, "a"))
    r = fapi.patch(f"/api/system/config/patch/flows/flows.{flow}", json={"start_task": "nope"})
    assert r.status_code == 400, r.text
    assert r.json()["context"] == {"flow": flow, "field": "start_task", "task": "nope"}
    assert fapi.get(f"/api/flows/flow/{flow}").json()["start_task"] == "a"
    r = fapi.put(f"/api/flows/flow/{flow}", json=manual_flow({"a": LOG, "b": LOG}, "b"))
    assert r.status_code == 200, r.text
    assert fapi.get(f"/api/flows/flow/{flow}").json()["start_task"] == "b"
    assert fapi.delete(f"/api/flows/flow/{flow}").status_code == 200
    assert fapi.get(f"/api/flows/flow/{flow}").status_code == 404


def test_webhook_secret_is_masked(fapi: httpx.Client) -> None:
    flow = name("secret")
    definition = manual_flow({"w": {"type": "webhook", "params": {"url": "https://example.com/h",
                                                                  "secret": "s3cr3t-value"}}}, "w")
    r = fapi.post(f"/api/system/config/add/flows/flows.{flow}", json=definition)
    assert r.status_code == 202 and "s3cr3t-value" not in r.text
    assert "s3cr3t-value" not in fapi.get("/api/flows").text
    for path in (f"/api/flows/flow/{flow}", "/api/system/config/flows"):
        text = fapi.get(path).text
        assert "s3cr3t-value" not in text, path
        assert "********" in text, path
    # sending the masked value back keeps the secret
    doc = fapi.get(f"/api/flows/flow/{flow}").json()
    doc["tasks"]["w"]["params"]["url"] = "https://example.com/other"
    assert fapi.put(f"/api/flows/flow/{flow}", json=doc).status_code == 200
    raw = fapi.get("/api/system/config/flows", params={"secrets": 1}).json()["config"]
    assert raw["flows"][flow]["tasks"]["w"]["params"]["secret"] == "s3cr3t-value"
