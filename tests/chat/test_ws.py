"""chat.md "WebSocket", frame by frame, over real WebSocket connections."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.chat.helpers import TIMEOUT, SendRefused, Ws, auth, name, register, sync, ws
from tests.nodeserver import NodeServer


@sync
async def test_send_ack_no_self_echo_and_idempotent_retry(chat: NodeServer) -> None:
    alice, a_token = register(chat)
    bob, b_token = register(chat)
    room = name("general")
    async with ws(chat, a_token) as a1, ws(chat, a_token) as a2, ws(chat, b_token) as b:
        joined, _ = await a1.join(room, req_id="j1")
        assert joined["req_id"] == "j1" and joined["room_id"] == room and joined["last_seq"] == 0
        assert [u["id"] for u in joined["online_users"]] == [alice["id"]]
        await a2.join(room)
        await b.join(room)
        for conn in (a1, a2, b):
            await conn.barrier()
        await a1.send(type="send_message", room_id=room, content="hello", client_id="c-1", req_id="s1",
                      user_id=bob["id"])
        ack, before = await a1.until("message_ack")
        assert not [f for f in before if f["type"] == "new_message"]
        m = ack["message"]
        assert ack["client_id"] == "c-1" and ack["req_id"] == "s1"
        assert m["seq"] == 1 and m["id"].startswith("m_") and m["content"] == "hello"
        assert m["user_id"] == alice["id"] and m["username"] == alice["username"]  # user_id in the frame ignored
        for other in (a2, b):
            got, _ = await other.until("new_message")
            assert got["message"] == m
        # a retry after a lost ack: the stored message again, nothing broadcast
        await a1.send(type="send_message", room_id=room, content="hello again?", client_id="c-1")
        again, _ = await a1.until("message_ack")
        assert again["message"] == m
        await a1.send(type="send_message", room_id=room, content="second")
        second, _ = await a1.until("message_ack")
        assert second["message"]["seq"] == 2 and second["client_id"] == ""
        for other in (a2, b):
            got, _ = await other.until("new_message")
            assert got["message"]["seq"] == 2  # seq 1 was not delivered a second time
            assert not [f for f in await other.barrier() if f["type"] == "new_message"]
        assert not [f for f in await a1.barrier() if f["type"] == "new_message"]


@sync
async def test_http_send_reaches_every_connection_including_the_posters(chat: NodeServer) -> None:
    _, token = register(chat)
    room = name("hs")
    async with ws(chat, token) as own:
        await own.join(room)
        async with httpx.AsyncClient(base_url=chat.url, headers=auth(token)) as c:
            r = await c.post("/chat/messages", json={"room_id": room, "content": "from http"})
            assert r.status_code == 201
        got, _ = await own.until("new_message")
        assert got["message"] == r.json()["message"]


@sync
async def test_join_after_seq_resumes_exactly(chat: NodeServer) -> None:
    _, token = register(chat)
    room = name("resume")
    async with httpx.AsyncClient(base_url=chat.url, headers=auth(token)) as c:
        for i in range(1, 6):
            assert (await c.post("/chat/messages", json={"room_id": room, "content": f"m{i}"})).status_code == 201
    async with ws(chat, token) as w:
        joined, before = await w.join(room, after_seq=2)
        assert [f["message"]["seq"] for f in before if f["type"] == "new_message"] == [3, 4, 5]
        assert joined["last_seq"] == 5
    async with ws(chat, token) as w:
        joined, before = await w.join(room)
        assert joined["last_seq"] == 5 and not [f for f in before if f["type"] == "new_message"]
        await w.send(type="get_messages", room_id=room, limit=2, req_id="g")
        page, _ = await w.until("messages")
        assert page["req_id"] == "g" and page["room_id"] == room and page["has_more"] is True
        assert [m["seq"] for m in page["messages"]] == [4, 5]
        await w.send(type="get_messages", room_id=room, before_seq=4, limit=2)
        page, _ = await w.until("messages")
        assert [m["seq"] for m in page["messages"]] == [2, 3] and page["has_more"] is True
        await w.send(type="get_messages", room_id=room, after_seq=3)
        page, _ = await w.until("messages")
        assert [m["seq"] for m in page["messages"]] == [4, 5] and page["has_more"] is False


@sync
async def test_presence_typing_and_leave(chat: NodeServer) -> None:
    alice, a_token = register(chat)
    bob, b_token = register(chat)
    room = name("presence")
    async with ws(chat, a_token) as a, ws(chat, b_token) as b:
        await a.join(room)
        online, _ = await a.until("online_users")
        assert [u["id"] for u in online["users"]] == [alice["id"]]
        joined, _ = await b.join(room)
        assert {u["id"] for u in joined["online_users"]} == {alice["id"], bob["id"]}
        assert all(u["is_online"] for u in joined["online_users"])
        came, _ = await a.until("user_joined")
        assert came["room_id"] == room and came["user"]["id"] == bob["id"]
        online, _ = await a.until("online_users")
        assert {u["id"] for u in online["users"]} == {alice["id"], bob["id"]}
        async with httpx.AsyncClient(base_url=chat.url, headers=auth(a_token)) as c:
            users = (await c.get(f"/chat/rooms/{room}/users")).json()["users"]
        assert sorted(u["username"] for u in users) == sorted([alice["username"], bob["username"]])
        await b.barrier()
        await a.send(type="typing", room_id=room)
        typing, _ = await b.until("typing")
        assert typing == {"type": "typing", "room_id": room, "user": typing["user"]}
        assert typing["user"]["id"] == alice["id"]
        assert not [f for f in await a.barrier() if f["type"] == "typing"]
        await b.send(type="leave_room", room_id=room, req_id="l")
        left, _ = await b.until("room_left")
        assert left == {"type": "room_left", "room_id": room, "req_id": "l"}
        gone, _ = await a.until("user_left")
        assert gone["user"]["id"] == bob["id"]
        online, _ = await a.until("online_users")
        assert [u["id"] for u in online["users"]] == [alice["id"]]
        await b.send(type="send_message", room_id=room, content="after leaving")
        err, _ = await b.until("error")
        assert err["code"] == "forbidden"


@sync
async def test_errors_keep_the_connection_open(chat: NodeServer) -> None:
    _, token = register(chat)
    room = name("err")
    async with ws(chat, token) as w:
        await w.send(type="send_message", room_id=room, content="not joined", client_id="x1", req_id="r1")
        err = await w.expect("error")
        assert err["code"] == "forbidden" and err["req_id"] == "r1" and err["client_id"] == "x1"
        await w.conn.send("{not json")
        assert (await w.expect("error"))["code"] == "bad_request"
        await w.send(type="fly")
        assert (await w.expect("error"))["code"] == "bad_request"
        await w.send(room_id=room)
        assert (await w.expect("error"))["code"] == "bad_request"
        await w.conn.send(json.dumps({"type": "send_message", "room_id": room, "content": "x" * 70_000}))
        assert (await w.expect("error"))["code"] == "too_large"
        await w.send(type="join_room", room_id="bad room")
        assert (await w.expect("error"))["code"] == "bad_request"
        await w.send(type="join_room", room_id=room, after_seq=-3)
        assert (await w.expect("error"))["code"] == "bad_request"
        await w.join(room)
        await w.send(type="send_message", room_id=room, content="   ", req_id="e")
        err, _ = await w.until("error")
        assert err["code"] == "bad_request" and err["req_id"] == "e"
        await w.send(type="send_message", room_id=room, content="x" * 4001)
        err, _ = await w.until("error")
        assert err["code"] == "bad_request"
        await w.send(type="get_messages", room_id=room, limit=500)
        err, _ = await w.until("error")
        assert err["code"] == "bad_request"
        await w.send(type="get_messages", room_id=name("notjoined"))
        err, _ = await w.until("error")
        assert err["code"] == "forbidden"
        ack = await w.send_message(room, "still open")
        assert ack["message"]["seq"] == 1


@sync
async def test_private_room_is_invisible_over_websocket(chat: NodeServer) -> None:
    _, owner_token = register(chat)
    _, other_token = register(chat)
    room = name("wspriv")
    async with httpx.AsyncClient(base_url=chat.url, headers=auth(owner_token)) as c:
        assert (await c.post("/chat/rooms", json={"id": room, "name": "x", "is_public": False})).status_code == 201
        assert (await c.post("/chat/messages", json={"room_id": room, "content": "secret"})).status_code == 201
    async with ws(chat, other_token) as w:
        await w.send(type="join_room", room_id=room, after_seq=0, req_id="p")
        hidden = await w.expect("error")
        assert hidden["code"] == "not_found" and hidden["req_id"] == "p"
        await w.send(type="send_message", room_id=room, content="x", client_id="probe")
        assert (await w.expect("error"))["code"] == "forbidden"  # not joined: nothing learnt
        assert not [f for f in await w.barrier() if f["type"] == "new_message"]


@pytest.mark.parametrize("how", ["none", "bad"])
@sync
async def test_no_valid_token_closes_4401(chat: NodeServer, how: str) -> None:
    async with ws(chat, None if how == "none" else "garbage") as w:
        with pytest.raises(ConnectionClosed) as info:
            await w.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 4401


@sync
async def test_token_in_header_and_flood_is_rate_limited(chat: NodeServer) -> None:
    from tests.chat.conftest import SEND_RATE

    _, token = register(chat)
    room = name("flood")
    async with ws(chat, None, additional_headers=auth(token)) as w:
        await w.join(room)
        for i in range(SEND_RATE * 2):
            await w.send(type="send_message", room_id=room, content=f"m{i}", client_id=f"f{i}")
        codes = []
        while len(codes) < SEND_RATE * 2:
            f = await w.recv()
            if f["type"] in ("message_ack", "error"):
                codes.append(f.get("code", "ack"))
        assert "rate_limited" in codes and codes[0] == "ack"
        await asyncio.sleep(0)  # the connection is still usable
        assert (await w.barrier()) is not None


@pytest.fixture(scope="module")
def slow_frames(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeServer]:
    """A chat node that takes 2 WebSocket frames a second per connection (bursts of 4)."""
    server = NodeServer(tmp_path_factory.mktemp("chat-frames"),
                        env={"NODEBASE_APPS": "chat", "NODEBASE_GRPC_PORT": "0",
                             "NODEBASE_CHAT_SEND_RATE": "0", "NODEBASE_CHAT_FRAME_RATE": "2"})
    server.start()
    yield server
    server.stop()
    assert not server.server_errors(), server.server_errors()


@sync
async def test_a_send_over_the_frame_rate_is_answered_with_its_ids(slow_frames: NodeServer) -> None:
    """A send_message dropped by the frame rate is not silently lost: it is answered
    rate_limited with its req_id and client_id, in its place among the answers, stores
    nothing, and its retry (same client_id) is stored once."""
    _, token = register(slow_frames)
    room = name("frames")
    n = 20
    async with ws(slow_frames, token) as w:
        await w.join(room)  # 1 of the 4 tokens
        for i in range(n):  # far faster than 2 a second: most are over the rate
            await w.send(type="send_message", room_id=room, content=f"m{i}", client_id=f"c{i}", req_id=f"r{i}")
        answers = []
        while len(answers) < n:
            f = await w.recv()
            if f["type"] in ("message_ack", "error"):
                answers.append(f)
        # one answer per send, in the order sent
        assert [f["req_id"] for f in answers] == [f"r{i}" for i in range(n)]
        assert [f["client_id"] for f in answers] == [f"c{i}" for i in range(n)]
        refused = [f for f in answers if f["type"] == "error"]
        assert refused and all(f["code"] == "rate_limited" and "frames a second" in f["message"] for f in refused)
        acked = [f["message"] for f in answers if f["type"] == "message_ack"]
        with httpx.Client(base_url=slow_frames.url, headers=auth(token)) as c:
            stored = c.get(f"/chat/rooms/{room}/messages", params={"limit": 200}).json()["messages"]
        assert stored == acked  # a refused send stored nothing
        # the client retries the refused sends with their client_id: each is stored once
        for f in refused:
            deadline = asyncio.get_running_loop().time() + 30
            while True:
                try:
                    acked.append((await w.send_message(room, f"m{f['client_id'][1:]}", client_id=f["client_id"]))
                                 ["message"])
                    break
                except SendRefused as again:
                    assert again.args[0]["code"] == "rate_limited"
                    assert asyncio.get_running_loop().time() < deadline
                    await asyncio.sleep(0.25)  # back off: the rate refills with time
        with httpx.Client(base_url=slow_frames.url, headers=auth(token)) as c:
            stored = c.get(f"/chat/rooms/{room}/messages", params={"limit": 200}).json()["messages"]
        assert sorted(m["client_id"] for m in stored) == sorted(f"c{i}" for i in range(n))
        assert [m["seq"] for m in stored] == list(range(1, n + 1))


#: chat.md's server → client frames and their fields ("req_id" echoes a request's)
CHAT_MD_FRAMES = {
    "room_joined": {"room_id", "last_seq", "online_users"}, "room_left": {"room_id"},
    "user_joined": {"room_id", "user"}, "user_left": {"room_id", "user"}, "online_users": {"room_id", "users"},
    "message_ack": {"client_id", "message"}, "new_message": {"message"},
    "messages": {"room_id", "messages", "has_more"}, "typing": {"room_id", "user"}, "pong": set(),
    "error": {"code", "message", "client_id"},
}
CHAT_MD_CODES = {"bad_request", "unauthorized", "forbidden", "not_found", "rate_limited", "too_large"}


class ChatMdOnly(Ws):
    """A client that knows chat.md and nothing else: any other frame type, field or error
    code fails the test (nodebase's extensions, docs/chat.md, only follow operations chat.md
    does not have)."""

    kinds: set[Any]

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        doc = await super().recv(timeout)
        kind = doc.get("type")
        self.kinds.add(kind)
        assert kind in CHAT_MD_FRAMES, f"a frame chat.md does not define: {doc}"
        assert set(doc) - {"type", "req_id"} <= CHAT_MD_FRAMES[kind], f"fields beyond chat.md: {doc}"
        if kind == "error":
            assert doc["code"] in CHAT_MD_CODES, f"an error code beyond chat.md: {doc}"
        return doc


@sync
async def test_a_session_within_chat_md_gets_only_chat_md_frames(chat: NodeServer) -> None:
    _, a_token = register(chat)
    _, b_token = register(chat)
    room = name("strict")
    async with ws(chat, a_token) as ca, ws(chat, b_token) as cb:
        a, b = ChatMdOnly(ca.conn), ChatMdOnly(cb.conn)
        a.kinds, b.kinds = set(), set()
        await a.join(room, req_id="j")
        await b.join(room, after_seq=0)
        await a.send_message(room, "one", client_id="k1", req_id="s1")
        await a.send_message(room, "one", client_id="k1")  # a retry: the stored message
        async with httpx.AsyncClient(base_url=chat.url, headers=auth(b_token)) as c:
            assert (await c.post("/chat/messages", json={"room_id": room, "content": "two"})).status_code == 201
        await a.send(type="typing", room_id=room)
        await b.until("typing")
        await a.send(type="get_messages", room_id=room, after_seq=0, req_id="g")
        await a.send(type="get_messages", room_id=room, before_seq=2)
        await a.send(type="send_message", room_id=name("elsewhere"), content="x", client_id="k2")  # forbidden
        await a.send(type="fly", req_id="f")  # bad_request
        await a.conn.send(json.dumps({"type": "send_message", "room_id": room, "content": "x" * 70_000}))
        await b.send(type="leave_room", room_id=room, req_id="l")
        await b.until("room_left")
        await a.barrier()
        await b.barrier()
        assert a.kinds | b.kinds == set(CHAT_MD_FRAMES)  # every chat.md frame was seen (and checked)
