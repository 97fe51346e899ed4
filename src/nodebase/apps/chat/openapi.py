"""OpenAPI description of the chat's HTTP routes (the WebSocket frames: docs/chat.md)."""

from __future__ import annotations

from typing import Any

from nodebase.kernel.openapi import errors, json_body, ok, path_param, query_param

_ROOM = path_param("room_id", {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}, "the room's id")
_MS = {"type": "integer", "description": "Unix milliseconds"}
USER = {"type": "object", "properties": {
    "id": {"type": "string"}, "username": {"type": "string"}, "email": {"type": "string"},
    "avatar": {"type": "string"}, "is_online": {"type": "boolean"}, "created_at": _MS, "updated_at": _MS}}
MESSAGE = {"type": "object", "properties": {
    "id": {"type": "string"}, "seq": {"type": "integer"}, "room_id": {"type": "string"},
    "user_id": {"type": "string"}, "username": {"type": "string"}, "content": {"type": "string"},
    "message_type": {"type": "string", "enum": ["text", "image", "file", "system"]},
    "client_id": {"type": "string"}, "created_at": _MS}}
ROOM = {"type": "object", "properties": {
    "id": {"type": "string"}, "name": {"type": "string"}, "description": {"type": "string"},
    "is_public": {"type": "boolean"}, "created_by": {"type": "string"}, "created_at": _MS,
    "updated_at": _MS, "last_seq": {"type": "integer"}}}
_SESSION = {"type": "object", "properties": {"user": USER, "token": {"type": "string"}}}
_OK = {"type": "object", "properties": {"ok": {"type": "boolean"}}}


def _op(op_id: str, summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"tags": ["chat"], "operationId": op_id, "summary": summary, "responses": responses, **extra}


def chat_paths(nb: Any) -> dict[str, Any]:
    bearer: list[dict[str, list[str]]] = [{"bearerAuth": []}]
    return {
        "/users/register": {"post": _op("chat_register", "Register (username, email, password)", {
            "201": ok(_SESSION), **errors(400, 409, 429)}, requestBody=json_body({"type": "object", "properties": {
                "username": {"type": "string"}, "email": {"type": "string"}, "password": {"type": "string"}}}))},
        "/users/login": {"post": _op("chat_login", "Sign in with username or email", {
            "200": ok(_SESSION), **errors(400, 401, 429)}, requestBody=json_body({"type": "object", "properties": {
                "username": {"type": "string"}, "email": {"type": "string"}, "password": {"type": "string"}}}))},
        "/chat/messages": {"post": _op("chat_send", "Store and broadcast a message (client_id: idempotent)", {
            "201": ok({"type": "object", "properties": {"message": MESSAGE}}),
            "200": ok({"type": "object", "properties": {"message": MESSAGE}}, "the stored message of a repeated client_id"),
            **errors(400, 401, 404, 429)}, security=bearer, requestBody=json_body({"type": "object", "properties": {
                "room_id": {"type": "string"}, "content": {"type": "string"}, "message_type": {"type": "string"},
                "client_id": {"type": "string", "maxLength": 64}}}))},
        "/chat/rooms/{room_id}/messages": {"get": _op("chat_messages", "Messages by seq, ascending", {
            "200": ok({"type": "object", "properties": {"messages": {"type": "array", "items": MESSAGE},
                                                        "has_more": {"type": "boolean"}}}),
            **errors(400, 401, 404)}, security=bearer, parameters=[
                _ROOM, query_param("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "default 50"),
                query_param("before_seq", {"type": "integer", "minimum": 0}, "the page before this seq"),
                query_param("after_seq", {"type": "integer", "minimum": 0}, "the messages after this seq")])},
        "/chat/rooms/{room_id}/users": {"get": _op("chat_online", "Users online in the room, on every node", {
            "200": ok({"type": "object", "properties": {"users": {"type": "array", "items": USER}}}),
            **errors(401, 404)}, security=bearer, parameters=[_ROOM])},
        "/chat/rooms/{room_id}/members": {"post": _op("chat_add_member", "Add a member (room owner or admin)", {
            "200": ok(_OK), **errors(400, 401, 403, 404)}, security=bearer, parameters=[_ROOM],
            requestBody=json_body({"type": "object", "properties": {"user_id": {"type": "string"}}}))},
        "/chat/rooms/{room_id}/messages/{message_id}": {"delete": _op("chat_delete_message", "Delete a message (admin)", {
            "200": ok(_OK), **errors(401, 403, 404)}, security=bearer, parameters=[
                _ROOM, path_param("message_id", {"type": "string"}, "the message's id")])},
        "/chat/rooms/{room_id}": {"delete": _op("chat_delete_room", "Delete a room with its messages (admin)", {
            "200": ok(_OK), **errors(401, 403, 404)}, security=bearer, parameters=[_ROOM])},
        "/chat/rooms": {
            "get": _op("chat_rooms", "Public rooms and the caller's private ones", {
                "200": ok({"type": "object", "properties": {"rooms": {"type": "array", "items": ROOM}}}),
                **errors(401)}, security=bearer),
            "post": _op("chat_create_room", "Create a room", {
                "201": ok({"type": "object", "properties": {"room": ROOM}}), **errors(400, 401, 409)},
                security=bearer, requestBody=json_body({"type": "object", "properties": {
                    "id": {"type": "string"}, "name": {"type": "string"}, "description": {"type": "string"},
                    "is_public": {"type": "boolean"}}}))},
        "/chat/stats": {"get": _op("chat_stats", "Rooms, messages, messages a second, connections (admin)", {
            "200": ok({"type": "object"}), **errors(401, 403)}, security=bearer)},
        "/health": {"get": _op("chat_health", "Health", {"200": ok({"type": "object"})})},
        "/ws": {"get": _op("chat_websocket", "WebSocket: the chat's frames (docs/chat.md)", {
            "101": {"description": "switching protocols"}})},
    }
