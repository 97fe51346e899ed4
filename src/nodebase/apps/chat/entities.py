"""The chat's Data entities, registered as system entities (like auth's ``users``).

Uniqueness the protocol needs is enforced by the database through single-column unique
keys: ``seq_key`` = ``<room>:<seq>`` (no seq twice in a room, on any node) and
``dedupe_key`` = ``<room>:<user>:<client_id>`` (one stored message per client_id).
"""

from __future__ import annotations

from typing import Any

ROOMS, MESSAGES, MEMBERS, PROFILES = "chat_rooms", "chat_messages", "chat_members", "chat_profiles"

_ms = {"type": "number", "config": {"integer": True}}

ENTITIES: dict[str, dict[str, Any]] = {
    ROOMS: {"fields": {
        "room_key": {"type": "text", "config": {"required": True, "unique": True, "maxLength": 64}},
        "name": {"type": "text"},
        "description": {"type": "text"},
        "is_public": {"type": "boolean", "config": {"default_value": True}},
        "created_by": {"type": "text"},
        "last_seq": {"type": "number", "config": {"integer": True, "default_value": 0}},
        "created_at": _ms,
        "updated_at": _ms,
    }},
    MESSAGES: {"fields": {
        "msg_id": {"type": "text", "config": {"required": True, "unique": True}},
        "room_key": {"type": "text", "config": {"required": True, "index": True}},
        "seq": {"type": "number", "config": {"integer": True, "required": True}},
        "seq_key": {"type": "text", "config": {"required": True, "unique": True}},
        "user_id": {"type": "text"},
        "username": {"type": "text"},
        "content": {"type": "text"},
        "message_type": {"type": "text"},
        "client_id": {"type": "text"},
        "dedupe_key": {"type": "text", "config": {"unique": True}},
        #: the sending WebSocket connection (never shown): a gap fill skips its own messages
        "origin": {"type": "text"},
        "created_at": _ms,
    }},
    MEMBERS: {"fields": {
        "room_key": {"type": "text", "config": {"required": True, "index": True}},
        "user_id": {"type": "text", "config": {"required": True, "index": True}},
        "member_key": {"type": "text", "config": {"required": True, "unique": True}},
        "created_at": _ms,
    }},
    PROFILES: {"fields": {
        "user_id": {"type": "text", "config": {"required": True, "unique": True}},
        "username": {"type": "text", "config": {"required": True, "unique": True, "maxLength": 64}},
        "avatar": {"type": "text"},
        "created_at": _ms,
        "updated_at": _ms,
    }},
}
