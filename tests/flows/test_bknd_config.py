"""bknd's own flow configs load unchanged (from the config API and from the schema file) and
run with bknd's answer shapes — behind nodebase's permissions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import admin_headers
from tests.flows.conftest import flows_env, prepare_project
from tests.flows.helpers import Receiver
from tests.nodeserver import NodeServer

#: the flow behind bknd's verified `GET /hello` → "Hello from a bknd flow" (reference §2.5)
HELLO = {"trigger": {"type": "http", "config": {"method": "GET", "path": "/hello", "mode": "sync",
                                                  "response_type": "text"}},
         "tasks": {"render": {"type": "render", "params": {"render": "Hello from a bknd flow"}}},
         "connections": {}, "start_task": "render", "responding_task": "render"}


def simple_fetch(url: str) -> dict[str, Any]:
    """bknd's app/src/flows/examples/simple-fetch.ts as config (Flow.toJSON's shape; delays
    shortened): First → Second, First → Long Third → Fetch Something; Task 4 unconnected."""
    return {
        "trigger": {"type": "manual", "config": {"mode": "sync"}},
        "tasks": {
            "First": {"type": "log", "params": {"delay": 10}},
            "Second": {"type": "log", "params": {"delay": 10}},
            "Long Third": {"type": "log", "params": {"delay": 25}},
            "Fetch Something": {"type": "fetch", "params": {"url": url}},
            "Task 4": {"type": "log", "params": {"delay": 5}},
        },
        "connections": {
            "c1": {"source": "First", "target": "Second", "config": {}},
            "c2": {"source": "First", "target": "Long Third", "config": {}},
            "c3": {"source": "Long Third", "target": "Fetch Something", "config": {}},
        },
        "start_task": "First",
        "responding_task": "Fetch Something",
    }


def test_bknd_flows_from_the_schema_file(tmp_path: Path, backend: str, make_node: Any) -> None:
    receiver = Receiver().start()
    receiver.answer = lambda req: (200, "application/json", b'{"userId": 1, "id": 1, "title": "delectus aut autem"}')
    url = make_node(start=False).database_url
    project = prepare_project(tmp_path / "bknd")
    (project / "nodebase.schema.json").write_text(json.dumps({
        "data": {"entities": {}},
        "flows": {"basepath": "/api/flows",
                  "flows": {"hello": HELLO, "simpleFetch": simple_fetch(receiver.url + "/todos/1")}},
    }))
    node = NodeServer(project / "data", database_url=url, project_dir=project, env=flows_env(project)).start()
    try:
        # secure by default: bknd served these anonymously
        assert httpx.get(node.url + "/hello").status_code == 403
        assert httpx.get(node.url + "/api/flows").status_code == 403
        api = node.client(headers=admin_headers(node))
        r = api.get("/hello")
        assert r.status_code == 200 and r.text == "Hello from a bknd flow"
        assert r.headers["content-type"].startswith("text/plain")

        listing = api.get("/api/flows").json()
        assert set(listing) == {"hello", "simpleFetch"}
        assert listing["simpleFetch"]["tasks"] == 5
        assert listing["simpleFetch"]["connections"] == simple_fetch(receiver.url + "/todos/1")["connections"]
        assert listing["hello"]["trigger"] == HELLO["trigger"]

        definition = api.get("/api/flows/flow/simpleFetch").json()
        assert definition["tasks"] == simple_fetch(receiver.url + "/todos/1")["tasks"]
        assert definition["start_task"] == "First" and definition["responding_task"] == "Fetch Something"

        answer = api.get("/api/flows/flow/simpleFetch/run").json()
        assert set(answer) >= {"success", "time", "errors", "response", "flow", "logs"}
        assert answer["success"] is True and answer["errors"] == []
        assert answer["response"] == {"userId": 1, "id": 1, "title": "delectus aut autem"}
        assert answer["flow"]["tasks"] == 5
        order = [log["task"] for log in answer["logs"]]
        assert order[0] == "First" and set(order[1:3]) == {"Second", "Long Third"}
        assert order[3] == "Fetch Something" and "Task 4" not in order
        assert all(log["success"] for log in answer["logs"])
        assert receiver.of("/todos/1")[0].method == "GET"

        # making the trigger public is one key (nodebase's addition)
        r = api.patch("/api/system/config/patch/flows/flows.hello", json={"trigger": {"config": {"public": True}}})
        assert r.status_code == 202, r.text
        assert httpx.get(node.url + "/hello").text == "Hello from a bknd flow"
        # the schema file keeps both modules' documents
        saved = json.loads((project / "nodebase.schema.json").read_text())
        assert saved["flows"]["flows"]["hello"]["trigger"]["config"]["public"] is True
        assert "data" in saved
    finally:
        node.stop()
        receiver.stop()
        assert not node.server_errors()


def test_openapi_describes_flow_routes_and_http_triggers(fapi: httpx.Client) -> None:
    from tests.flows.helpers import http_flow, name, put_flow
    from tests.system.test_openapi import fetch_openapi

    path = "/" + name("oa")
    flow = name("oa")
    put_flow(fapi, flow, http_flow({"r": {"type": "render", "params": {"render": "x"}}}, "r",
                                   path=path + "/:item", method="POST", public=True))
    doc = fetch_openapi(fapi, check_spec=True)
    paths = doc["paths"]
    for route in ("/api/flows", "/api/flows/flow/{name}", "/api/flows/flow/{name}/run", "/api/flows/runs",
                  "/api/flows/runs/{id}"):
        assert route in paths, route
    op = paths[path + "/{item}"]["post"]
    assert op["operationId"] == f"flows_trigger_{flow}" and "public" in op["description"]
    assert op["parameters"][0]["name"] == "item"
    assert "flows.manage" in paths["/api/flows/flow/{name}"]["put"]["description"]


def test_bknd_config_through_the_config_api(fnode: NodeServer, fapi: httpx.Client) -> None:
    r = fapi.post("/api/system/config/add/flows/flows.hello_api", json={**HELLO, "trigger": {
        "type": "http", "config": {**HELLO["trigger"]["config"], "path": "/hello-api"}}})
    assert r.status_code == 202, r.text
    assert fapi.get("/hello-api").text == "Hello from a bknd flow"
    # bknd's event names are accepted as they are
    r = fapi.post("/api/system/config/add/flows/flows.bknd_event", json={
        "trigger": {"type": "event", "config": {"event": "mutator-insert-after", "entity": "anything", "mode": "async"}},
        "tasks": {"log": {"type": "log", "params": {"delay": 0}}}, "start_task": "log"})
    assert r.status_code == 202, r.text
