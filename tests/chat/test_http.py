"""chat.md "HTTP": registration, login, rooms, members, messages by seq, online users."""

from __future__ import annotations

import httpx

from tests.chat.helpers import PASSWORD, auth, name, register
from tests.nodeserver import NodeServer


def test_register_and_login(chat: NodeServer) -> None:
    username = name("reg")
    user, token = register(chat, username)
    assert user["username"] == username and user["email"] == f"{username}@chat.test"
    assert token
    with chat.client() as c:
        dup = c.post("/users/register", json={"username": username, "email": f"x{username}@chat.test",
                                              "password": PASSWORD})
        assert dup.status_code == 409, dup.text
        assert dup.json()["type"] and dup.json()["context"]["field"] == "username"
        dup_mail = c.post("/users/register", json={"username": "o" + username, "email": f"{username}@chat.test",
                                                   "password": PASSWORD})
        assert dup_mail.status_code == 409, dup_mail.text
        by_name = c.post("/users/login", json={"username": username, "password": PASSWORD})
        assert by_name.status_code == 200, by_name.text
        assert by_name.json()["user"]["id"] == user["id"]
        by_mail = c.post("/users/login", json={"email": f"{username}@chat.test", "password": PASSWORD})
        assert by_mail.status_code == 200
        assert c.post("/users/login", json={"username": username, "password": "wrong-password"}).status_code == 401
        assert c.post("/users/login", json={"username": "nobody-here", "password": PASSWORD}).status_code == 401
        assert c.get("/health").status_code == 200


def test_send_history_and_idempotency(chat: NodeServer) -> None:
    user, token = register(chat)
    room = name("hist")
    with chat.client(headers=auth(token)) as c:
        seqs = []
        for i in range(7):
            r = c.post("/chat/messages", json={"room_id": room, "content": f"  m{i}  ", "client_id": f"c{i}"})
            assert r.status_code == 201, r.text
            m = r.json()["message"]
            assert m["content"] == f"m{i}" and m["user_id"] == user["id"] and m["username"] == user["username"]
            assert m["room_id"] == room and m["message_type"] == "text" and m["id"].startswith("m_")
            seqs.append(m["seq"])
        assert seqs == list(range(1, 8))
        again = c.post("/chat/messages", json={"room_id": room, "content": "other text", "client_id": "c3"})
        assert again.status_code == 200, again.text
        assert again.json()["message"]["seq"] == 4 and again.json()["message"]["content"] == "m3"

        newest = c.get(f"/chat/rooms/{room}/messages", params={"limit": 3}).json()
        assert [m["seq"] for m in newest["messages"]] == [5, 6, 7] and newest["has_more"] is True
        older = c.get(f"/chat/rooms/{room}/messages", params={"limit": 3, "before_seq": 5}).json()
        assert [m["seq"] for m in older["messages"]] == [2, 3, 4] and older["has_more"] is True
        oldest = c.get(f"/chat/rooms/{room}/messages", params={"limit": 3, "before_seq": 2}).json()
        assert [m["seq"] for m in oldest["messages"]] == [1] and oldest["has_more"] is False
        after = c.get(f"/chat/rooms/{room}/messages", params={"limit": 4, "after_seq": 2}).json()
        assert [m["seq"] for m in after["messages"]] == [3, 4, 5, 6] and after["has_more"] is True
        rest = c.get(f"/chat/rooms/{room}/messages", params={"after_seq": 6}).json()
        assert [m["seq"] for m in rest["messages"]] == [7] and rest["has_more"] is False

        listed = {r["id"]: r for r in c.get("/chat/rooms").json()["rooms"]}
        assert listed[room]["is_public"] is True and listed[room]["last_seq"] == 7


def test_bad_input(chat: NodeServer) -> None:
    _, token = register(chat)
    room = name("bad")
    with chat.client(headers=auth(token)) as c:
        cases = [
            {"room_id": room, "content": "   "},
            {"room_id": room, "content": "x" * 4001},
            {"room_id": room, "content": "hi", "message_type": "system"},
            {"room_id": room, "content": "hi", "message_type": "video"},
            {"room_id": room, "content": "hi", "client_id": "c" * 65},
            {"room_id": "bad room!", "content": "hi"},
            {"content": "hi"},
        ]
        for body in cases:
            r = c.post("/chat/messages", json=body)
            assert r.status_code == 400, (body, r.text)
            assert set(r.json()) == {"error", "type", "context"}
        assert c.post("/chat/messages", json={"room_id": room, "content": "x" * 4000}).status_code == 201
        assert c.get(f"/chat/rooms/{room}/messages", params={"limit": 201}).status_code == 400
        assert c.get(f"/chat/rooms/{room}/messages", params={"after_seq": "-1"}).status_code == 400
        assert c.get(f"/chat/rooms/{room}/messages", params={"after_seq": "x"}).status_code == 400
        assert c.get("/chat/rooms/never-made/messages").status_code == 404
    with chat.client() as anon:
        assert anon.post("/chat/messages", json={"room_id": room, "content": "hi"}).status_code == 401
        assert anon.get("/chat/rooms").status_code == 401
        assert anon.get("/chat/rooms", headers=auth("not-a-token")).status_code == 401


def test_private_room_is_invisible_over_http(chat: NodeServer) -> None:
    owner, owner_token = register(chat)
    other, other_token = register(chat)
    room = name("priv")
    with chat.client(headers=auth(owner_token)) as c:
        r = c.post("/chat/rooms", json={"id": room, "name": "Secret", "is_public": False})
        assert r.status_code == 201, r.text
        assert r.json()["room"] == {**r.json()["room"], "id": room, "name": "Secret", "is_public": False,
                                    "created_by": owner["id"], "last_seq": 0}
        assert c.post("/chat/rooms", json={"id": room, "name": "Again"}).status_code == 409
        assert c.post("/chat/messages", json={"room_id": room, "content": "secret"}).status_code == 201
    with chat.client(headers=auth(other_token)) as o:
        missing = o.get("/chat/rooms/no-such-room-at-all/messages")
        hidden = o.get(f"/chat/rooms/{room}/messages")
        assert hidden.status_code == missing.status_code == 404
        assert o.post("/chat/messages", json={"room_id": room, "content": "let me in"}).status_code == 404
        assert o.post("/chat/messages", json={"room_id": room, "content": "x", "client_id": "p"}).status_code == 404
        assert o.get(f"/chat/rooms/{room}/users").status_code == 404
        assert room not in {x["id"] for x in o.get("/chat/rooms").json()["rooms"]}
        # not the owner: may not add members, and learns nothing (404 before 403)
        assert o.post(f"/chat/rooms/{room}/members", json={"user_id": other["id"]}).status_code == 404
    with chat.client(headers=auth(owner_token)) as c:
        assert c.post(f"/chat/rooms/{room}/members", json={"user_id": "999999"}).status_code == 404
        ok = c.post(f"/chat/rooms/{room}/members", json={"user_id": other["id"]})
        assert ok.status_code == 200 and ok.json() == {"ok": True}
    with chat.client(headers=auth(other_token)) as o:
        got = o.get(f"/chat/rooms/{room}/messages").json()["messages"]
        assert [m["content"] for m in got] == ["secret"]
        assert room in {x["id"] for x in o.get("/chat/rooms").json()["rooms"]}
        third_party, _ = register(chat)
        assert o.post(f"/chat/rooms/{room}/members", json={"user_id": third_party["id"]}).status_code == 403


def test_send_rate_limit(chat: NodeServer) -> None:
    from tests.chat.conftest import SEND_RATE

    _, token = register(chat)
    room = name("rate")
    codes = []
    with httpx.Client(base_url=chat.url, headers=auth(token), timeout=30) as c:
        for i in range(SEND_RATE * 3):
            r = c.post("/chat/messages", json={"room_id": room, "content": f"{i}"})
            codes.append(r.status_code)
            if r.status_code == 429:
                assert set(r.json()) == {"error", "type", "context"}
                break
    assert codes[-1] == 429 and set(codes[:-1]) == {201} and len(codes) - 1 >= SEND_RATE // 2


def test_a_retry_gets_its_stored_message_even_when_rate_limited(chat: NodeServer) -> None:
    """A send with a client_id is found again by its unique key: its retry answers the stored
    message (200), also while the user is over the send rate."""
    from tests.chat.conftest import SEND_RATE

    _, token = register(chat)
    room = name("retry")
    with httpx.Client(base_url=chat.url, headers=auth(token), timeout=30) as c:
        first = c.post("/chat/messages", json={"room_id": room, "content": "once", "client_id": "k-1"})
        assert first.status_code == 201
        for i in range(SEND_RATE * 3):
            r = c.post("/chat/messages", json={"room_id": room, "content": f"{i}"})
            if r.status_code == 429:
                break
        assert r.status_code == 429
        again = c.post("/chat/messages", json={"room_id": room, "content": "once?", "client_id": "k-1"})
        assert again.status_code == 200 and again.json()["message"] == first.json()["message"]
        stored = c.get(f"/chat/rooms/{room}/messages", params={"limit": 200}).json()["messages"]
    assert [m["client_id"] for m in stored].count("k-1") == 1
