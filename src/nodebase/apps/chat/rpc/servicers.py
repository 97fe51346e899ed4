"""ChatService and UserService of chat.proto: metadata → caller, request → ChatService call,
NodebaseError → the status code the proto lists (one function, :func:`status_of`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from nodebase.apps.chat.rpc import chat_pb2 as pb
from nodebase.apps.chat.rpc import chat_pb2_grpc as pbg
from nodebase.apps.chat.service import ChatService
from nodebase.kernel.caller import Caller
from nodebase.kernel.errors import NodebaseError

T = TypeVar("T")

_STATUS = {400: grpc.StatusCode.INVALID_ARGUMENT, 401: grpc.StatusCode.UNAUTHENTICATED,
           403: grpc.StatusCode.PERMISSION_DENIED, 404: grpc.StatusCode.NOT_FOUND,
           409: grpc.StatusCode.ALREADY_EXISTS, 413: grpc.StatusCode.INVALID_ARGUMENT,
           422: grpc.StatusCode.INVALID_ARGUMENT, 429: grpc.StatusCode.RESOURCE_EXHAUSTED}


def status_of(exc: NodebaseError) -> grpc.StatusCode:
    return _STATUS.get(exc.status, grpc.StatusCode.INVALID_ARGUMENT if exc.status < 500
                       else grpc.StatusCode.UNAVAILABLE)


async def _call(context: grpc.aio.ServicerContext, fn: Callable[[], Awaitable[T]]) -> T:
    try:
        return await fn()
    except NodebaseError as exc:
        await context.abort(status_of(exc), exc.message)
        raise  # not reached: abort raises


def message_pb(m: dict[str, Any]) -> pb.ChatMessage:
    return pb.ChatMessage(id=m["id"], user_id=m["user_id"], username=m["username"], content=m["content"],
                          room_id=m["room_id"], message_type=m["message_type"], created_at=m["created_at"],
                          seq=m["seq"], client_id=m["client_id"])


def user_pb(u: dict[str, Any]) -> pb.User:
    return pb.User(id=u["id"], username=u["username"], email=u["email"], avatar=u["avatar"],
                   is_online=u["is_online"], created_at=u["created_at"], updated_at=u["updated_at"])


class _Base:
    def __init__(self, service: ChatService) -> None:
        self.service = service

    async def caller(self, context: grpc.aio.ServicerContext) -> Caller:
        authorization = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                authorization = value if isinstance(value, str) else value.decode("latin-1")
        caller: Caller = await self.service.auth.caller_from(authorization, None, None)
        return caller


class ChatServicer(_Base, pbg.ChatServiceServicer):
    async def SendMessage(self, request: pb.SendMessageRequest,  # noqa: N802 (generated name)
                          context: grpc.aio.ServicerContext) -> pb.SendMessageResponse:
        async def run() -> pb.SendMessageResponse:
            caller = await self.caller(context)
            message, _ = await self.service.send(caller, request.room_id, request.content,
                                                 request.message_type or None, request.client_id or None)
            return pb.SendMessageResponse(message=message_pb(message))
        return await _call(context, run)

    async def GetMessages(self, request: pb.GetMessagesRequest,  # noqa: N802
                          context: grpc.aio.ServicerContext) -> pb.GetMessagesResponse:
        async def run() -> pb.GetMessagesResponse:
            caller = await self.caller(context)
            messages, more = await self.service.history(
                caller, request.room_id, request.limit or None, request.before_seq or None,
                request.after_seq if request.after_seq > 0 else None)
            return pb.GetMessagesResponse(messages=[message_pb(m) for m in messages], has_more=more)
        return await _call(context, run)

    async def GetOnlineUsers(self, request: pb.GetOnlineUsersRequest,  # noqa: N802
                             context: grpc.aio.ServicerContext) -> pb.GetOnlineUsersResponse:
        async def run() -> pb.GetOnlineUsersResponse:
            users = await self.service.online_users(await self.caller(context), request.room_id)
            return pb.GetOnlineUsersResponse(users=[user_pb(u) for u in users])
        return await _call(context, run)


class UserServicer(_Base, pbg.UserServiceServicer):
    async def CreateUser(self, request: pb.CreateUserRequest,  # noqa: N802
                         context: grpc.aio.ServicerContext) -> pb.CreateUserResponse:
        async def run() -> pb.CreateUserResponse:
            user, token = await self.service.register(
                {"username": request.username, "email": request.email, "password": request.password},
                context.peer() or "")
            return pb.CreateUserResponse(user=user_pb(user), token=token)
        return await _call(context, run)

    async def GetUser(self, request: pb.GetUserRequest,  # noqa: N802
                      context: grpc.aio.ServicerContext) -> pb.GetUserResponse:
        async def run() -> pb.GetUserResponse:
            return pb.GetUserResponse(user=user_pb(await self.service.get_user(await self.caller(context),
                                                                               request.id)))
        return await _call(context, run)

    async def UpdateUser(self, request: pb.UpdateUserRequest,  # noqa: N802
                         context: grpc.aio.ServicerContext) -> pb.UpdateUserResponse:
        async def run() -> pb.UpdateUserResponse:
            changes = {f: getattr(request, f) for f in ("username", "email", "avatar") if request.HasField(f)}
            user = await self.service.update_user(await self.caller(context), request.id, changes)
            return pb.UpdateUserResponse(user=user_pb(user))
        return await _call(context, run)
