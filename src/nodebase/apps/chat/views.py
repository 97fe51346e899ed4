"""Rows → the protocol's objects (chat.md "Objects") and errors → WebSocket error codes."""

from __future__ import annotations

import time
from typing import Any

from nodebase.kernel.errors import NodebaseError

MESSAGE_TYPES = ("text", "image", "file", "system")


def now_ms() -> int:
    return int(time.time() * 1000)


def message_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["msg_id"], "seq": int(row["seq"]), "room_id": row["room_key"],
        "user_id": row.get("user_id") or "", "username": row.get("username") or "",
        "content": row.get("content") or "", "message_type": row.get("message_type") or "text",
        "client_id": row.get("client_id") or "", "created_at": int(row.get("created_at") or 0),
    }


def room_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["room_key"], "name": row.get("name") or row["room_key"],
        "description": row.get("description") or "", "is_public": bool(row.get("is_public")),
        "created_by": row.get("created_by") or "", "created_at": int(row.get("created_at") or 0),
        "updated_at": int(row.get("updated_at") or 0), "last_seq": int(row.get("last_seq") or 0),
    }


def user_view(user: dict[str, Any], profile: dict[str, Any] | None, *, online: bool = False) -> dict[str, Any]:
    email = str(user.get("email") or "")
    p = profile or {}
    return {
        "id": str(user["id"]), "username": p.get("username") or email.split("@")[0], "email": email,
        "avatar": p.get("avatar") or "", "is_online": online,
        "created_at": int(p.get("created_at") or 0), "updated_at": int(p.get("updated_at") or 0),
    }


#: HTTP status of a NodebaseError → the WebSocket error code of chat.md
_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 413: "too_large", 429: "rate_limited"}


def error_code(exc: NodebaseError) -> str:
    return _CODES.get(exc.status, "bad_request")
