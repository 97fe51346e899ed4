"""The chat's WebSocket from a browser: headless Chromium (Debian's, driven by Playwright)
opens two ``WebSocket``s with ``?token=``, joins, sends, gets the ack and the other side's
``new_message``, resumes with ``after_seq``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.chat.helpers import name, register
from tests.nodeserver import NodeServer

SCRIPT = """
async ({base, room, alice, bob}) => {
  const open = (token) => new Promise((ok, fail) => {
    const ws = new WebSocket(`${base}/ws?token=${token}`);
    ws.frames = []; ws.waiters = [];
    ws.onmessage = (e) => { const f = JSON.parse(e.data); ws.frames.push(f);
      ws.waiters = ws.waiters.filter((w) => !(w.type === f.type && (w.ok(f), true))); };
    ws.next = (type) => new Promise((ok) => ws.waiters.push({type, ok}));
    ws.onopen = () => ok(ws); ws.onerror = fail;
  });
  const a = await open(alice), b = await open(bob);
  let joined = a.next("room_joined"); a.send(JSON.stringify({type: "join_room", room_id: room})); await joined;
  joined = b.next("room_joined"); b.send(JSON.stringify({type: "join_room", room_id: room})); await joined;
  const heard = b.next("new_message"), acked = a.next("message_ack");
  a.send(JSON.stringify({type: "send_message", room_id: room, content: "from chromium", client_id: "br-1"}));
  const ack = await acked, msg = await heard;
  const pong = a.next("pong"); a.send(JSON.stringify({type: "ping"})); await pong;
  const echoed = a.frames.filter((f) => f.type === "new_message").length;
  const c = await open(bob);
  const resumedJoin = c.next("room_joined");
  c.send(JSON.stringify({type: "join_room", room_id: room, after_seq: 0}));
  const rj = await resumedJoin;
  const replay = c.frames.filter((f) => f.type === "new_message").map((f) => f.message.content);
  const closed = new Promise((ok) => { const x = new WebSocket(`${base}/ws?token=nope`); x.onclose = (e) => ok(e.code); });
  const code = await closed;
  [a, b, c].forEach((w) => w.close());
  return {ack, msg, echoed, replay, lastSeq: rj.last_seq, code};
}
"""


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeServer]:
    """One SQLite node: the browser side does not depend on the database."""
    server = NodeServer(tmp_path_factory.mktemp("chat-browser"),
                        env={"NODEBASE_APPS": "chat", "NODEBASE_GRPC_PORT": "0"}).start()
    yield server
    server.stop()
    assert not server.server_errors(), server.server_errors()


def test_browser_websocket(chat: NodeServer, chromium: Any) -> None:
    _, alice = register(chat)
    _, bob = register(chat)
    room = name("browser")
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(chat.url + "/health")
        out: dict[str, Any] = page.evaluate(SCRIPT, {"base": chat.url.replace("http", "ws"), "room": room,
                                                     "alice": alice, "bob": bob})
    finally:
        context.close()
    assert out["ack"]["client_id"] == "br-1" and out["ack"]["message"]["seq"] == 1
    assert out["msg"]["message"] == out["ack"]["message"]
    assert out["echoed"] == 0
    assert out["replay"] == ["from chromium"] and out["lastSeq"] == 1
    assert out["code"] == 4401
