"""Operations: the admin role deletes a message or a room; ``/chat/stats``; ``nodebase chat
rooms`` / ``nodebase chat stats``."""

from __future__ import annotations

import json
import secrets

import httpx

from tests.chat.helpers import auth, name, register, sync, ws
from tests.nodeserver import NodeServer


def _admin_token(node: NodeServer) -> str:
    email, password = f"admin-{secrets.token_hex(4)}@chat.test", secrets.token_urlsafe(18)
    node.cli("user", "create", "--email", email, f"--password={password}", "--role", "admin")
    r = httpx.post(node.url + "/users/login", json={"email": email, "password": password}, timeout=30)
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


@sync
async def test_admin_deletes_and_stats(chat: NodeServer) -> None:
    admin = _admin_token(chat)
    _, token = register(chat)
    room = name("adm")
    async with httpx.AsyncClient(base_url=chat.url, headers=auth(token)) as c:
        ids = [(await c.post("/chat/messages", json={"room_id": room, "content": f"m{i}"})).json()["message"]["id"]
               for i in range(3)]
        assert (await c.delete(f"/chat/rooms/{room}/messages/{ids[1]}")).status_code == 403
        assert (await c.delete(f"/chat/rooms/{room}")).status_code == 403
        assert (await c.get("/chat/stats")).status_code == 403
    async with httpx.AsyncClient(base_url=chat.url, headers=auth(admin)) as a:
        r = await a.delete(f"/chat/rooms/{room}/messages/{ids[1]}")
        assert r.status_code == 200 and r.json() == {"ok": True}
        assert (await a.delete(f"/chat/rooms/{room}/messages/{ids[1]}")).status_code == 404
        left = (await a.get(f"/chat/rooms/{room}/messages")).json()["messages"]
        assert [m["id"] for m in left] == [ids[0], ids[2]]
        async with ws(chat, token) as w:
            await w.join(name("stats"))
            stats = (await a.get("/chat/stats")).json()
        assert stats["connections"] >= 1 and stats["rooms"] >= 2 and stats["messages"] >= 2
        assert stats["messages_per_second"] > 0
        out = json.loads(chat.cli("chat", "rooms").stdout)
        assert room in {r["id"] for r in out["rooms"]}
        cli_stats = json.loads(chat.cli("chat", "stats").stdout)
        assert cli_stats["rooms"] >= 2 and cli_stats["messages"] == stats["messages"]
        r = await a.delete(f"/chat/rooms/{room}")
        assert r.status_code == 200
        assert (await a.get(f"/chat/rooms/{room}/messages")).status_code == 404
        assert room not in {x["id"] for x in (await a.get("/chat/rooms")).json()["rooms"]}
        assert (await a.delete(f"/chat/rooms/{room}")).status_code == 404
    # a room made again under the same id starts again at seq 1
    async with httpx.AsyncClient(base_url=chat.url, headers=auth(token)) as c:
        again = await c.post("/chat/messages", json={"room_id": room, "content": "new life"})
        assert again.status_code == 201 and again.json()["message"]["seq"] == 1


def test_admin_lists_every_room(chat: NodeServer) -> None:
    """chat.md: GET /chat/rooms lists "public rooms and the caller's private ones" and says
    nothing of admins; as in bknd/PocketBase, where an admin reads every row, the admin role
    (which may already read any private room) is listed every room, private ones included."""
    admin = _admin_token(chat)
    owner, owner_token = register(chat)
    _, other_token = register(chat)
    hidden, public = name("adm-priv"), name("adm-pub")
    with chat.client(headers=auth(owner_token)) as c:
        assert c.post("/chat/rooms", json={"id": hidden, "name": "Hidden", "is_public": False}).status_code == 201
        assert c.post("/chat/rooms", json={"id": public, "name": "Open"}).status_code == 201
    with chat.client(headers=auth(other_token)) as o:
        listed = {r["id"] for r in o.get("/chat/rooms").json()["rooms"]}
        assert public in listed and hidden not in listed
    with chat.client(headers=auth(admin)) as a:
        rooms = a.get("/chat/rooms").json()["rooms"]
        by_id = {r["id"]: r for r in rooms}
        assert by_id[hidden]["is_public"] is False and by_id[hidden]["created_by"] == owner["id"]
        assert by_id[public]["is_public"] is True
        assert [r["id"] for r in rooms] == sorted(by_id)  # one entry each, by id
        assert a.get(f"/chat/rooms/{hidden}/messages").status_code == 200  # as it already could


def test_openapi_describes_the_chat_routes(chat: NodeServer) -> None:
    from openapi_spec_validator import validate

    doc = httpx.get(chat.url + "/api/system/openapi.json", timeout=30).json()
    validate(doc)
    for path in ("/users/register", "/users/login", "/chat/messages", "/chat/rooms", "/chat/rooms/{room_id}/messages",
                 "/chat/rooms/{room_id}/users", "/chat/rooms/{room_id}/members", "/ws"):
        assert path in doc["paths"], path


@sync
async def test_deletes_are_announced_to_the_rooms_connections(chat: NodeServer) -> None:
    admin = _admin_token(chat)
    _, token = register(chat)
    room, other = name("del"), name("keep")
    async with ws(chat, token) as w, ws(chat, token) as bystander:
        await w.join(room)
        await w.join(other)
        await bystander.join(other)
        first = await w.send_message(room, "one")
        second = await w.send_message(room, "two")
        async with httpx.AsyncClient(base_url=chat.url, headers=auth(admin)) as a:
            gone = second["message"]
            assert (await a.delete(f"/chat/rooms/{room}/messages/{gone['id']}")).status_code == 200
            deleted, _ = await w.until("message_deleted")
            assert deleted == {"type": "message_deleted", "room_id": room, "message_id": gone["id"],
                               "seq": gone["seq"]}
            assert (await a.delete(f"/chat/rooms/{room}")).status_code == 200
        left, _ = await w.until("room_left")
        assert left == {"type": "room_left", "room_id": room, "reason": "deleted"}
        # no longer in the room: sending to it needs a join; the other room is untouched
        await w.send(type="send_message", room_id=room, content="after", req_id="r1")
        err, _ = await w.until("error")
        assert (err["code"], err["req_id"]) == ("forbidden", "r1")
        await w.send_message(other, "still here")
        heard, _ = await bystander.until("new_message")
        assert heard["message"]["content"] == "still here"
        assert not [f for f in await bystander.barrier() if f["type"] in ("message_deleted", "room_left")]
        # joining again makes a new room (auto-create): seq starts again, the old messages are gone
        joined, before = await w.join(room, after_seq=0)
        assert joined["last_seq"] == 0 and before == [] and first["message"]["seq"] == 1


@sync
async def test_the_chats_messages_have_no_data_channel_feed(chat: NodeServer) -> None:
    """The chat publishes its messages itself (chat:<room>); the Realtime module does not
    publish them again on data:chat_messages, and says so to a subscriber."""
    from websockets.asyncio.client import connect

    admin = _admin_token(chat)
    url = chat.url.replace("http://", "ws://") + f"/api/realtime?token={admin}"
    async with connect(url) as rt:
        await rt.send(json.dumps({"op": "subscribe", "channel": "data:chat_messages", "id": "s1"}))
        answer = json.loads(await rt.recv())
        assert (answer["op"], answer["code"], answer["id"]) == ("error", "forbidden", "s1")
        assert "not published on data channels" in answer["message"]
        await rt.send(json.dumps({"op": "subscribe", "channel": "data:chat_profiles", "id": "s2"}))
        assert json.loads(await rt.recv())["op"] == "subscribed"
