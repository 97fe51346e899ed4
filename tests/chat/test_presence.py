"""User-wide presence: ``is_online`` in every user object is true while the user has a live
WebSocket connection (any room or none), and false once the last one closed."""

from __future__ import annotations

from typing import Any

import grpc
import httpx

from nodebase.apps.chat.rpc import chat_pb2 as pb
from nodebase.apps.chat.rpc import chat_pb2_grpc as pbg
from tests.chat.helpers import PASSWORD, auth, name, register, sync, ws
from tests.nodeserver import NodeServer


def login(node: NodeServer, user: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(node.url + "/users/login", json={"username": user["username"], "password": PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()["user"]
    return found


async def grpc_user(node: NodeServer, token: str, user_id: str) -> pb.User:
    async with grpc.aio.insecure_channel(node.grpc_target) as channel:  # type: ignore[attr-defined]
        got = await pbg.UserServiceStub(channel).GetUser(pb.GetUserRequest(id=user_id),
                                                         metadata=(("authorization", f"Bearer {token}"),))
        return got.user


@sync
async def test_is_online_follows_the_users_connections(chat: NodeServer) -> None:
    alice, a_token = register(chat)
    bob, b_token = register(chat)
    assert alice["is_online"] is False  # registered, never connected
    assert login(chat, alice)["is_online"] is False
    assert (await grpc_user(chat, b_token, alice["id"])).is_online is False
    room, lobby = name("pres"), name("lobby")
    async with ws(chat, b_token) as b:
        await b.join(room)
        await b.join(lobby)
        async with ws(chat, a_token) as a1:
            await a1.barrier()  # connected, in no room yet: online already
            assert login(chat, alice)["is_online"] is True
            assert (await grpc_user(chat, b_token, alice["id"])).is_online is True
            await a1.join(lobby)
            async with ws(chat, a_token) as a2:
                joined, _ = await a2.join(room)
                assert {u["id"]: u["is_online"] for u in joined["online_users"]} == {alice["id"]: True,
                                                                                    bob["id"]: True}
                came, _ = await b.until("user_joined")
                assert came["user"]["id"] == alice["id"] and came["user"]["is_online"] is True
                await a2.send(type="typing", room_id=room)
                typing, _ = await b.until("typing")
                assert typing["user"]["is_online"] is True
            # a2 closed, a1 still open: alice left the room but is online
            gone, _ = await b.until("user_left")
            assert (gone["room_id"], gone["user"]["id"], gone["user"]["is_online"]) == (room, alice["id"], True)
            assert login(chat, alice)["is_online"] is True
        # a1, the last connection, closed
        gone, _ = await b.until("user_left")
        assert (gone["room_id"], gone["user"]["id"], gone["user"]["is_online"]) == (lobby, alice["id"], False)
        assert login(chat, alice)["is_online"] is False
        assert (await grpc_user(chat, b_token, alice["id"])).is_online is False
        async with httpx.AsyncClient(base_url=chat.url, headers=auth(b_token)) as c:
            users = (await c.get(f"/chat/rooms/{room}/users")).json()["users"]
        assert [(u["id"], u["is_online"]) for u in users] == [(bob["id"], True)]
