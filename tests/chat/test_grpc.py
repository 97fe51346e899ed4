"""chat.proto's ChatService and UserService through a client generated from chat.proto, on
the node's own gRPC listener; status codes as the proto lists them."""

from __future__ import annotations

import socket
from pathlib import Path

import grpc
import httpx
import pytest

from nodebase.apps.chat.rpc import chat_pb2 as pb
from nodebase.apps.chat.rpc import chat_pb2_grpc as pbg
from tests.chat.helpers import PASSWORD, auth, name, sync, ws
from tests.nodeserver import NodeServer


def _meta(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def _code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    return info.value.code()


@sync
async def test_grpc_users_messages_and_status_codes(chat: NodeServer) -> None:
    target = chat.grpc_target  # type: ignore[attr-defined]
    async with grpc.aio.insecure_channel(target) as channel:
        users = pbg.UserServiceStub(channel)
        rpc = pbg.ChatServiceStub(channel)
        username = name("g")
        created = await users.CreateUser(pb.CreateUserRequest(username=username, email=f"{username}@chat.test",
                                                              password=PASSWORD))
        token, me = created.token, created.user
        assert me.username == username and me.email == f"{username}@chat.test" and me.id
        assert await _code(users.CreateUser(pb.CreateUserRequest(
            username=username, email=f"o{username}@chat.test", password=PASSWORD))) == grpc.StatusCode.ALREADY_EXISTS
        assert await _code(users.CreateUser(pb.CreateUserRequest(
            username="bad name", email="x@chat.test", password=PASSWORD))) == grpc.StatusCode.INVALID_ARGUMENT
        other = await users.CreateUser(pb.CreateUserRequest(username=name("h"), email=f"{name('h')}@chat.test",
                                                            password=PASSWORD))

        got = await users.GetUser(pb.GetUserRequest(id=me.id), metadata=_meta(token))
        assert got.user.username == username
        assert await _code(users.GetUser(pb.GetUserRequest(id=me.id))) == grpc.StatusCode.UNAUTHENTICATED
        assert await _code(users.GetUser(pb.GetUserRequest(id="999999"), metadata=_meta(token))) == grpc.StatusCode.NOT_FOUND
        updated = await users.UpdateUser(pb.UpdateUserRequest(id=me.id, avatar="https://x.test/a.png"),
                                         metadata=_meta(token))
        assert updated.user.avatar == "https://x.test/a.png" and updated.user.username == username
        assert await _code(users.UpdateUser(pb.UpdateUserRequest(id=other.user.id, avatar="x"),
                                            metadata=_meta(token))) == grpc.StatusCode.PERMISSION_DENIED
        assert await _code(users.UpdateUser(pb.UpdateUserRequest(id=me.id, username=other.user.username),
                                            metadata=_meta(token))) == grpc.StatusCode.ALREADY_EXISTS

        room = name("grpc")
        async with ws(chat, other.token) as listener:
            await listener.join(room)
            sent = await rpc.SendMessage(pb.SendMessageRequest(room_id=room, content="over grpc", client_id="g-1"),
                                         metadata=_meta(token))
            m = sent.message
            assert m.seq == 1 and m.content == "over grpc" and m.user_id == me.id and m.client_id == "g-1"
            assert m.message_type == "text" and m.id.startswith("m_") and m.created_at > 0
            heard, _ = await listener.until("new_message")
            assert heard["message"]["id"] == m.id
            online = await rpc.GetOnlineUsers(pb.GetOnlineUsersRequest(room_id=room), metadata=_meta(token))
            assert [u.id for u in online.users] == [other.user.id] and online.users[0].is_online
            # idempotent retry: the same stored message, nothing broadcast
            again = await rpc.SendMessage(pb.SendMessageRequest(room_id=room, content="retry", client_id="g-1"),
                                          metadata=_meta(token))
            assert again.message == m
            assert not [f for f in await listener.barrier() if f["type"] == "new_message"]
        for i in range(2, 6):
            await rpc.SendMessage(pb.SendMessageRequest(room_id=room, content=f"m{i}"), metadata=_meta(token))
        page = await rpc.GetMessages(pb.GetMessagesRequest(room_id=room, limit=2), metadata=_meta(token))
        assert [x.seq for x in page.messages] == [4, 5] and page.has_more
        page = await rpc.GetMessages(pb.GetMessagesRequest(room_id=room, limit=2, before_seq=4), metadata=_meta(token))
        assert [x.seq for x in page.messages] == [2, 3] and page.has_more
        page = await rpc.GetMessages(pb.GetMessagesRequest(room_id=room, after_seq=3), metadata=_meta(token))
        assert [x.seq for x in page.messages] == [4, 5] and not page.has_more

        codes = {
            "no token": await _code(rpc.SendMessage(pb.SendMessageRequest(room_id=room, content="x"))),
            "empty": await _code(rpc.SendMessage(pb.SendMessageRequest(room_id=room, content=" "),
                                                 metadata=_meta(token))),
            "limit": await _code(rpc.GetMessages(pb.GetMessagesRequest(room_id=room, limit=201),
                                                 metadata=_meta(token))),
            "missing": await _code(rpc.GetMessages(pb.GetMessagesRequest(room_id=name("none")),
                                                   metadata=_meta(token))),
        }
        assert codes == {"no token": grpc.StatusCode.UNAUTHENTICATED, "empty": grpc.StatusCode.INVALID_ARGUMENT,
                         "limit": grpc.StatusCode.INVALID_ARGUMENT, "missing": grpc.StatusCode.NOT_FOUND}

        # a private room probed by a non-member answers exactly like a room that does not exist
        secret = name("gpriv")
        r = httpx.post(chat.url + "/chat/rooms", headers=auth(token), json={"id": secret, "name": "s",
                                                                            "is_public": False})
        assert r.status_code == 201
        for call in (rpc.SendMessage(pb.SendMessageRequest(room_id=secret, content="x", client_id="p"),
                                     metadata=_meta(other.token)),
                     rpc.GetMessages(pb.GetMessagesRequest(room_id=secret), metadata=_meta(other.token)),
                     rpc.GetOnlineUsers(pb.GetOnlineUsersRequest(room_id=secret), metadata=_meta(other.token))):
            assert await _code(call) == grpc.StatusCode.NOT_FOUND

        # rate limit: RESOURCE_EXHAUSTED
        seen = set()
        for i in range(60):
            try:
                await rpc.SendMessage(pb.SendMessageRequest(room_id=room, content=f"r{i}"), metadata=_meta(other.token))
            except grpc.aio.AioRpcError as exc:
                seen.add(exc.code())
                break
        assert seen == {grpc.StatusCode.RESOURCE_EXHAUSTED}


def test_a_taken_grpc_port_stops_serve(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        node = NodeServer(tmp_path, env={"NODEBASE_APPS": "chat", "NODEBASE_GRPC_PORT": str(port)})
        with pytest.raises(RuntimeError, match="exited early"):
            node.start()
    assert f"the chat's gRPC port 127.0.0.1:{port}" in node.log.read_text()
