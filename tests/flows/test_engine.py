"""The run engine through the real server: a DAG with success / error / matches
conditions, joins, bknd's retry loop, task retries with backoff, every task type."""

from __future__ import annotations

from typing import Any

import httpx

from tests.flows.helpers import Receiver, conn, manual_flow, name, put_flow, wait_run


def run(api: httpx.Client, flow: str, input: Any = None) -> dict[str, Any]:
    r = api.post(f"/api/flows/flow/{flow}/run", json=input) if input is not None else api.get(
        f"/api/flows/flow/{flow}/run")
    assert r.status_code == 200, r.text
    return dict(r.json())


def tasks_run(answer: dict[str, Any]) -> list[str]:
    return [log["task"] for log in answer["logs"]]


def py(function: str, args: Any = None, **extra: Any) -> dict[str, Any]:
    return {"type": "python", "params": {"function": function, "args": args}, **extra}


def render(template: str) -> dict[str, Any]:
    return {"type": "render", "params": {"render": template}}


def test_conditions_pick_the_branch(fapi: httpx.Client) -> None:
    flow = name("branch")
    put_flow(fapi, flow, manual_flow({
        "sum": py("add", {"a": "{{ input.a }}", "b": 2}),
        "big": render("big {{ sum.output.sum }}"),
        "small": render("small {{ sum.output.sum }}"),
        "oops": render("error: {{ sum.error.message }}"),
    }, "sum", connections={
        "1": conn("sum", "big", {"type": "matches", "path": "sum", "value": 12}),
        "2": conn("sum", "small", {"type": "matches", "path": "sum", "value": "3"}),
        "3": conn("sum", "oops", {"type": "error"}),
    }))
    a = run(fapi, flow, {"a": 10})
    assert a["success"] is True and tasks_run(a) == ["sum", "big"]
    assert a["logs"][0]["output"] == {"sum": 12, "flow": flow}
    b = run(fapi, flow, {"a": 1})
    assert tasks_run(b) == ["sum", "small"] and b["logs"][1]["output"] == "small 3"
    # no responding task: bknd answers the last task's output ("oops" did not run)
    assert b["response"] is None
    # a string where a number is needed: the python task fails, the error branch runs
    c = run(fapi, flow, {"a": "x"})
    assert tasks_run(c) == ["sum", "oops"]
    assert c["logs"][1]["output"].startswith("error: TypeError")
    # the error was handled by a connection: the run succeeded
    assert c["success"] is True and c["errors"] == []


def test_unhandled_failure_fails_the_run(fapi: httpx.Client) -> None:
    flow = name("fails")
    put_flow(fapi, flow, manual_flow({"sum": py("add", {"a": 1}), "next": render("never")}, "sum",
                                     connections={"1": conn("sum", "next")}))
    a = run(fapi, flow)
    assert a["success"] is False and tasks_run(a) == ["sum"]
    assert a["errors"][0]["task"] == "sum" and "KeyError" in a["errors"][0]["message"]
    stored = wait_run(fapi, a["run_id"])
    assert stored["status"] == "failed" and stored["error"]["task"] == "sum"


def test_parallel_fan_out_and_join(fapi: httpx.Client) -> None:
    flow = name("join")
    put_flow(fapi, flow, manual_flow({
        "start": {"type": "log", "params": {"delay": 0}},
        "left": render("L{{ input.n }}"),
        "right": {"type": "log", "params": {"delay": 50}},
        "join": render("{{ left.output }}+{{ right.output }}"),
        "unconnected": render("never runs"),
    }, "start", responding="join", connections={
        "1": conn("start", "left"), "2": conn("start", "right"),
        "3": conn("left", "join"), "4": conn("right", "join"),
    }))
    a = run(fapi, flow, {"n": 7})
    assert a["response"] == "L7+True"
    assert tasks_run(a)[0] == "start" and set(tasks_run(a)[1:3]) == {"left", "right"}
    assert tasks_run(a)[3] == "join" and "unconnected" not in tasks_run(a)


def test_join_after_a_branch_not_taken(fapi: httpx.Client) -> None:
    flow = name("halfjoin")
    put_flow(fapi, flow, manual_flow({
        "start": render("go"), "maybe": render("maybe"), "always": render("always"),
        "end": render("{{ always.output }}/{{ maybe.output }}"),
    }, "start", responding="end", connections={
        "1": conn("start", "maybe", {"type": "matches", "path": "x", "value": "never"}),
        "2": conn("start", "always"), "3": conn("maybe", "end"), "4": conn("always", "end"),
    }))
    a = run(fapi, flow)
    assert a["response"] == "always/" and tasks_run(a) == ["start", "always", "end"]


def test_bknd_retry_loop(fapi: httpx.Client) -> None:
    """bknd's back.ts: third fails until its third call; an error connection back to second
    with max_retries 2 runs second and third again."""
    flow = name("back")
    tasks = {"first": render("1"), "second": render("2"),
             "third": py("fail_until", {"key": "third", "n": 3}), "fourth": render("done {{ third.output.calls }}")}
    connections = {"1": conn("first", "second"), "2": conn("second", "third"),
                   "3": conn("third", "second", {"type": "error"}, max_retries=2),
                   "4": conn("third", "fourth", {"type": "success"})}
    put_flow(fapi, flow, manual_flow(tasks, "first", responding="fourth", connections=connections))
    a = run(fapi, flow)
    assert tasks_run(a) == ["first", "second", "third", "second", "third", "second", "third", "fourth"]
    assert a["success"] is True and a["response"] == "done 3"
    # one retry too few: the run fails naming the task that reached its maximum
    flow2 = name("back")
    tasks["third"] = py("fail_until", {"key": "third", "n": 4})
    put_flow(fapi, flow2, manual_flow(tasks, "first", responding="fourth", connections=connections))
    b = run(fapi, flow2)
    assert b["success"] is False and "fourth" not in tasks_run(b)
    assert b["errors"][0]["type"] == "max_retries" and b["errors"][0]["task"] == "second"


def test_task_retries_with_backoff_are_recorded(fapi: httpx.Client) -> None:
    flow = name("retry")
    put_flow(fapi, flow, manual_flow({"flaky": py("fail_until", {"key": "k", "n": 3}, retries=3, backoff=0.1)},
                                     "flaky", responding="flaky"))
    a = run(fapi, flow)
    assert a["success"] is True and a["response"] == {"calls": 3}
    stored = wait_run(fapi, a["run_id"])
    attempts = [(t["task"], t["status"], t["attempts"]) for t in stored["tasks"]]
    assert attempts == [("flaky", "failed", 1), ("flaky", "failed", 2), ("flaky", "success", 3)]
    assert "attempt 1 fails" in stored["tasks"][0]["error"]["message"]
    # the second wait is backoff * 4: the retries really waited
    t = stored["tasks"]
    from datetime import datetime

    gap = (datetime.fromisoformat(t[2]["started_at"]) - datetime.fromisoformat(t[1]["started_at"])).total_seconds()
    assert gap >= 0.4


def test_fetch_task(fapi: httpx.Client, receiver: Receiver) -> None:
    receiver.answer = lambda req: (200, "application/json", b'{"title": "from receiver", "n": 3}')
    flow = name("fetch")
    put_flow(fapi, flow, manual_flow({
        "get": {"type": "fetch", "params": {
            "url": receiver.url + "/items/{{ input.id }}?q={{ input.q }}", "method": "POST",
            "headers": [{"key": "X-Test", "value": "v-{{ input.id }}"}],
            "body": {"id": "{{ input.id }}", "nested": ["{{ input.q }}"]}}},
        "show": render("{{ get.output.title }} x{{ get.output.n }}"),
    }, "get", responding="show", connections={"1": conn("get", "show")}))
    a = run(fapi, flow, {"id": 5, "q": "abc"})
    assert a["response"] == "from receiver x3"
    req = receiver.of("/items/5")[0]
    assert req.method == "POST" and req.path == "/items/5?q=abc"
    assert req.headers["x-test"] == "v-5" and req.headers["content-type"] == "application/json"
    assert req.json() == {"id": 5, "nested": ["abc"]}


def test_fetch_failure_is_an_error_with_the_status(fapi: httpx.Client, receiver: Receiver) -> None:
    receiver.default = 503
    flow = name("fetchfail")
    put_flow(fapi, flow, manual_flow({"get": {"type": "fetch", "params": {"url": receiver.url + "/down"}}}, "get"))
    a = run(fapi, flow)
    assert a["success"] is False and a["errors"][0]["status"] == 503


def test_subflow_and_loop(fapi: httpx.Client) -> None:
    inner = name("inner")
    put_flow(fapi, inner, manual_flow({"up": py("upper", "{{ input }}")}, "up", responding="up"))
    outer = name("outer")
    put_flow(fapi, outer, manual_flow({
        "one": {"type": "subflow", "params": {"flow": inner, "input": "{{ input.word }}"}},
        "many": {"type": "subflow", "params": {"flow": inner, "input": "{{ input.words }}", "loop": True}},
        "out": render("{{ one.output }} {{ many.output | join(',') }}"),
    }, "one", responding="out", connections={"1": conn("one", "many"), "2": conn("many", "out")}))
    a = run(fapi, outer, {"word": "hi", "words": ["a", "b"]})
    assert a["response"] == "HI A,B"


def test_templates_are_sandboxed(fapi: httpx.Client) -> None:
    flow = name("sandbox")
    put_flow(fapi, flow, manual_flow({"r": render("{{ input.__class__.__mro__ }}|{{ ''.__class__ }}")},
                                     "r", responding="r"))
    a = run(fapi, flow, {"x": 1})
    assert a["response"] == "|"


def test_render_sees_task_ids_with_spaces(fapi: httpx.Client) -> None:
    """bknd's example has ids such as "Fetch Something": {{ Fetch Something.output }} works."""
    flow = name("spaces")
    put_flow(fapi, flow, manual_flow({"First Task": py("add", {"a": 1, "b": 1}),
                                      "Show It": render("sum={{ First Task.output.sum }}")},
                                     "First Task", responding="Show It",
                                     connections={"c": conn("First Task", "Show It")}))
    assert run(fapi, flow)["response"] == "sum=2"
