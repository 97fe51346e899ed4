"""The chat's HTTP routes (chat.md "HTTP"): parse, call ChatService, answer."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from nodebase.apps.chat.service import ChatService
from nodebase.apps.chat.ws import ChatEndpoint
from nodebase.kernel.caller import Caller
from nodebase.kernel.http import json, read_json


def routes(service: ChatService, endpoint: ChatEndpoint, nb: Any) -> list[BaseRoute]:
    def caller(request: Request) -> Caller:
        c: Caller = nb.caller(request)
        return c

    def ip(request: Request) -> str:
        return request.client.host if request.client else ""

    async def register(request: Request) -> Response:
        user, token = await service.register(await read_json(request), ip(request))
        return json({"user": user, "token": token}, status=201)

    async def login(request: Request) -> Response:
        user, token = await service.login(await read_json(request), ip(request))
        return json({"user": user, "token": token})

    async def post_message(request: Request) -> Response:
        c = caller(request)
        service.user_id(c)
        body = await read_json(request)
        if not isinstance(body, dict):
            body = {}
        message, created = await service.send(c, body.get("room_id"), body.get("content"),
                                              body.get("message_type"), body.get("client_id"))
        return json({"message": message}, status=201 if created else 200)

    async def messages(request: Request) -> Response:
        q = request.query_params
        msgs, more = await service.history(caller(request), request.path_params["room_id"], q.get("limit"),
                                           q.get("before_seq"), q.get("after_seq"))
        return json({"messages": msgs, "has_more": more})

    async def users(request: Request) -> Response:
        return json({"users": await service.online_users(caller(request), request.path_params["room_id"])})

    async def rooms(request: Request) -> Response:
        if request.method == "POST":
            c = caller(request)
            service.user_id(c)
            return json({"room": await service.create_room(await read_json(request), c)}, status=201)
        return json({"rooms": await service.list_rooms(caller(request))})

    async def members(request: Request) -> Response:
        c = caller(request)
        service.user_id(c)
        await service.add_member(request.path_params["room_id"], await read_json(request), c)
        return json({"ok": True})

    async def delete_room(request: Request) -> Response:
        await service.delete_room(caller(request), request.path_params["room_id"])
        return json({"ok": True})

    async def delete_message(request: Request) -> Response:
        await service.delete_message(caller(request), request.path_params["room_id"],
                                     request.path_params["message_id"])
        return json({"ok": True})

    async def stats(request: Request) -> Response:
        service.require_admin(caller(request))
        return json({**await service.stats(), "connections": len(endpoint.sockets)})

    async def socket(websocket: WebSocket) -> None:
        await endpoint(websocket)

    async def health(request: Request) -> Response:
        return json({"status": "ok"})

    return [
        Route("/users/register", register, methods=["POST"]),
        Route("/users/login", login, methods=["POST"]),
        Route("/chat/messages", post_message, methods=["POST"]),
        Route("/chat/rooms/{room_id}/messages", messages, methods=["GET"]),
        Route("/chat/rooms/{room_id}/users", users, methods=["GET"]),
        Route("/chat/rooms/{room_id}/members", members, methods=["POST"]),
        Route("/chat/rooms/{room_id}/messages/{message_id}", delete_message, methods=["DELETE"]),
        Route("/chat/rooms/{room_id}", delete_room, methods=["DELETE"]),
        Route("/chat/rooms", rooms, methods=["GET", "POST"]),
        Route("/chat/stats", stats, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        WebSocketRoute("/ws", socket),
    ]
