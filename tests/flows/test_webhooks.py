"""Webhooks: signed with X-Nodebase-Signature (checked here by an independent HMAC), retried
with backoff, every attempt recorded; a run survives the process being killed between the
data commit and the delivery, and is delivered once after the restart."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from nodebase.flows import signing
from tests.conftest import add_entity, admin_headers, unique
from tests.flows.conftest import MODULE, flows_env, prepare_project
from tests.flows.helpers import Receiver, conn, name, put_flow, wait_runs
from tests.nodeserver import NodeServer
from tests.support.services import free_port

SECRET = "whsec-" + "x" * 24


def check_signature(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """What a receiver does (written from the docs, not with nodebase's code)."""
    parts = dict(p.split("=", 1) for p in header.split(","))
    t = int(parts["t"])
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return abs(time.time() - t) <= tolerance and hmac.compare_digest(expected, parts["v1"])


def webhook_flow(entity: str, url: str, **params: Any) -> dict[str, Any]:
    return {"trigger": {"type": "event", "config": {"event": "data.create.after", "entity": entity}},
            "tasks": {"hook": {"type": "webhook", "params": {"url": url, "secret": SECRET, **params}}},
            "start_task": "hook"}


def test_webhook_is_signed_with_the_default_body(fapi: httpx.Client, receiver: Receiver) -> None:
    entity = unique("orders")
    add_entity(fapi, entity, {"total": {"type": "number"}})
    flow = name("wh")
    put_flow(fapi, flow, webhook_flow(entity, receiver.url + "/hook/" + flow))
    row = fapi.post(f"/api/data/entity/{entity}", json={"total": 12}).json()["data"]
    req = receiver.wait_for(1, path="/hook/" + flow)[0]
    assert req.method == "POST" and req.headers["content-type"] == "application/json"
    assert check_signature(SECRET, req.headers["x-nodebase-signature"], req.body)
    assert not check_signature("wrong-secret", req.headers["x-nodebase-signature"], req.body)
    assert not check_signature(SECRET, req.headers["x-nodebase-signature"], req.body + b" ")
    body = req.json()
    assert body["event"] == "data.create.after" and body["entity"] == entity
    assert body["data"] == row and body["at"].endswith("Z")
    run = wait_runs(fapi, flow, 1)[0]
    assert req.headers["x-nodebase-delivery"] == f"{run['id']}:hook"
    assert run["status"] == "success" and run["output"] == {"status": 200, "attempts": 1}


def test_deliveries_reuse_one_connection(fapi: httpx.Client) -> None:
    """N deliveries to one receiver travel over one kept-alive TCP connection (the outbound
    pool of kernel.outbound), each still signed and checked."""
    receiver = Receiver(keep_alive=True).start()
    try:
        entity = unique("orders")
        add_entity(fapi, entity, {"total": {"type": "number"}})
        flow = name("ka")
        put_flow(fapi, flow, webhook_flow(entity, receiver.url + "/ka/" + flow))
        for i in range(6):
            fapi.post(f"/api/data/entity/{entity}", json={"total": i})
            # the run is finished once the answer was read: the connection is back in the pool
            assert len(wait_runs(fapi, flow, i + 1)) == i + 1
        reqs = receiver.of("/ka/" + flow)
        assert [json.loads(r.body)["data"]["total"] for r in reqs] == list(range(6))
        assert all(check_signature(SECRET, r.headers["x-nodebase-signature"], r.body) for r in reqs)
        assert receiver.connections == 1
    finally:
        receiver.stop()


def test_webhook_rendered_body_and_headers(fapi: httpx.Client, receiver: Receiver) -> None:
    entity = unique("tickets")
    add_entity(fapi, entity, {"title": {"type": "text"}})
    flow = name("whbody")
    put_flow(fapi, flow, webhook_flow(entity, receiver.url + "/t/{{ input.id }}",
                                      body={"text": "New ticket: {{ input.title }}"},
                                      headers={"X-Team": "support"}))
    row = fapi.post(f"/api/data/entity/{entity}", json={"title": "printer on fire"}).json()["data"]
    req = receiver.wait_for(1, path=f"/t/{row['id']}")[0]
    assert req.json() == {"text": "New ticket: printer on fire"}
    assert req.headers["x-team"] == "support"
    assert signing.verify(SECRET, req.body, req.headers["x-nodebase-signature"])


def test_webhook_retries_with_backoff_and_logs_every_attempt(fapi: httpx.Client, receiver: Receiver) -> None:
    entity = unique("retry")
    add_entity(fapi, entity, {"n": {"type": "number"}})
    receiver.script = [500, 503]
    flow = name("whretry")
    put_flow(fapi, flow, webhook_flow(entity, receiver.url + "/r/" + flow, backoff=0.2))
    fapi.post(f"/api/data/entity/{entity}", json={"n": 1})
    reqs = receiver.wait_for(3, path="/r/" + flow)
    assert [r.headers["x-nodebase-attempt"] for r in reqs] == ["1", "2", "3"]
    assert len({r.headers["x-nodebase-delivery"] for r in reqs}) == 1
    run = wait_runs(fapi, flow, 1)[0]
    assert run["status"] == "success" and run["output"] == {"status": 200, "attempts": 3}
    assert [(t["status"], t["attempts"], t.get("error", {}).get("status")) for t in run["tasks"]] == [
        ("failed", 1, 500), ("failed", 2, 503), ("success", 3, None)]


def test_webhook_gives_up_after_its_retries(fapi: httpx.Client, receiver: Receiver) -> None:
    entity = unique("giveup")
    add_entity(fapi, entity, {"n": {"type": "number"}})
    receiver.default = 500
    flow = name("whgiveup")
    put_flow(fapi, flow, webhook_flow(entity, receiver.url + "/g/" + flow, retries=2, backoff=0.05))
    fapi.post(f"/api/data/entity/{entity}", json={"n": 1})
    run = wait_runs(fapi, flow, 1)[0]
    assert run["status"] == "failed" and len(run["tasks"]) == 3
    assert run["error"]["task"] == "hook" and run["error"]["status"] == 500
    assert len(receiver.of("/g/" + flow)) == 3


def _node(tmp: Path, backend_url: str, name_: str) -> NodeServer:
    project = prepare_project(tmp / name_)
    return NodeServer(project / "data", database_url=backend_url, project_dir=project, env=flows_env(project))


def _setup(node: NodeServer, entity: str, flow: str, definition: dict[str, Any]) -> httpx.Client:
    api = node.client(headers=admin_headers(node))
    r = api.post("/api/system/config/set/flows", json={"python_modules": [MODULE], "runs": {"lease_seconds": 2}})
    assert r.status_code == 202, r.text
    add_entity(api, entity, {"n": {"type": "number"}})
    put_flow(api, flow, definition)
    return api


def _restart(node: NodeServer, between: Callable[[], Any] | None = None) -> httpx.Client:
    node.stop(signal.SIGKILL)
    if between is not None:
        between()
    node.start()
    return node.client(headers=admin_headers(node))


def _until(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_killed_while_the_run_waits_then_delivered_once(make_node: Any, tmp_path: Path) -> None:
    """The data change commits, its run starts, the process is killed (SIGKILL) before the
    webhook is sent; after the restart the run is taken over and delivered exactly once."""
    node = make_node(start=False)
    url = node.database_url
    node = _node(tmp_path, url, "kill1")
    receiver = Receiver().start()
    gate = tmp_path / "gate"
    entity, flow = unique("killed"), name("whkill")
    definition = {"trigger": {"type": "event", "config": {"event": "data.create.after", "entity": entity}},
                  "tasks": {"gate": {"type": "python", "params": {"function": "wait_for_file", "args": {"path": str(gate)}}},
                            "hook": {"type": "webhook", "params": {"url": receiver.url + "/k", "secret": SECRET}}},
                  "connections": {"1": conn("gate", "hook")}, "start_task": "gate"}
    try:
        node.start()
        api = _setup(node, entity, flow, definition)
        row = api.post(f"/api/data/entity/{entity}", json={"n": 7}).json()["data"]
        _until(lambda: bool(api.get("/api/flows/runs", params={"flow": flow}).json()["data"]))
        api = _restart(node)  # SIGKILL: the run was claimed and waiting in "gate"
        assert receiver.of("/k") == []
        gate.write_text("open")
        run = wait_runs(api, flow, 1)[0]
        assert run["status"] == "success"
        reqs = receiver.wait_for(1, path="/k")
        assert len(receiver.of("/k")) == 1
        assert json.loads(reqs[0].body)["data"] == row
        assert check_signature(SECRET, reqs[0].headers["x-nodebase-signature"], reqs[0].body)
    finally:
        node.stop()
        receiver.stop()
        assert not node.server_errors()


def test_killed_during_the_backoff_then_delivered_once(make_node: Any, tmp_path: Path) -> None:
    """The receiver is down: attempt 1 fails, the run waits 5 s; the process is killed in that
    wait. The receiver comes up, the node restarts, the retry is delivered once."""
    url = make_node(start=False).database_url
    node = _node(tmp_path, url, "kill2")
    port = free_port()
    entity, flow = unique("down"), name("whdown")
    try:
        node.start()
        api = _setup(node, entity, flow, webhook_flow(entity, f"http://127.0.0.1:{port}/d", backoff=5))
        api.post(f"/api/data/entity/{entity}", json={"n": 1})

        def first_attempt_failed() -> bool:
            runs = api.get("/api/flows/runs", params={"flow": flow}).json()["data"]
            return bool(runs) and len(runs[0]["tasks"]) == 1

        _until(first_attempt_failed)
        receiver = Receiver()
        api = _restart(node, lambda: receiver.start(port))
        try:
            run = wait_runs(api, flow, 1)[0]
            assert run["status"] == "success" and run["output"] == {"status": 200, "attempts": 2}
            assert [t["status"] for t in run["tasks"]] == ["failed", "success"]
            assert run["tasks"][0]["error"]["type"] == "webhook"
            assert len(receiver.of("/d")) == 1
        finally:
            receiver.stop()
    finally:
        node.stop()
        assert not node.server_errors()


def test_signing_helpers() -> None:
    body = b'{"a":1}'
    header = signing.sign("k", body, timestamp=1_700_000_000)
    assert header == "t=1700000000,v1=" + hmac.new(b"k", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert signing.verify("k", body, header, now=1_700_000_100)
    assert not signing.verify("k", body, header, now=1_700_000_400)  # too old: a replay
    assert not signing.verify("k", body + b"x", header, now=1_700_000_000)
    assert not signing.verify("k", body, "v1=abc", now=1_700_000_000)
    assert signing.verify("k", body, header + ",v1=" + "0" * 64, now=1_700_000_000)  # rotation


def _doc_snippet(lang: str) -> str:
    """The verification code block of docs/flows.md for ``lang`` (tested as documented)."""
    text = (Path(__file__).parents[2] / "docs" / "flows.md").read_text()
    section = text.split("### Verifying the signature", 1)[1]
    return section.split(f"```{lang}\n", 1)[1].split("```", 1)[0]


def test_documented_verifiers_accept_a_real_delivery(fapi: httpx.Client, receiver: Receiver,
                                                     tmp_path: Path) -> None:
    import shutil
    import subprocess

    entity = unique("verify")
    add_entity(fapi, entity, {"n": {"type": "number"}})
    flow = name("whverify")
    put_flow(fapi, flow, webhook_flow(entity, receiver.url + "/v/" + flow))
    fapi.post(f"/api/data/entity/{entity}", json={"n": 5})
    req = receiver.wait_for(1, path="/v/" + flow)[0]
    header = req.headers["x-nodebase-signature"]
    # Python, as documented
    scope: dict[str, Any] = {}
    exec(_doc_snippet("python"), scope)  # noqa: S102 - the documentation's own code
    assert scope["verify"](SECRET, req.body, header) is True
    assert scope["verify"](SECRET, req.body + b"x", header) is False
    assert scope["verify"]("other", req.body, header) is False
    # JavaScript (Node), as documented
    node = shutil.which("node")
    assert node, "node is not installed"
    (tmp_path / "body.bin").write_bytes(req.body)
    script = _doc_snippet("js") + (
        "\nconst fs = require('node:fs');\n"
        "const body = fs.readFileSync(process.argv[2]);\n"
        "console.log(JSON.stringify([verify(process.argv[3], body, process.argv[4]),"
        " verify(process.argv[3], Buffer.concat([body, Buffer.from('x')]), process.argv[4]),"
        " verify('other', body, process.argv[4])]));\n")
    (tmp_path / "verify.js").write_text(script)
    out = subprocess.run([node, str(tmp_path / "verify.js"), str(tmp_path / "body.bin"), SECRET, header],
                         capture_output=True, text=True, timeout=30, check=True)
    assert json.loads(out.stdout) == [True, False, False]
