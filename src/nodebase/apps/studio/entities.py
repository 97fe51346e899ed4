"""The Data entities Nano Studio keeps (system entities: only the app writes them, always
scoped to the signed-in user's ``owner_id``)."""

from __future__ import annotations

from typing import Any

_OWNER = {"type": "text", "config": {"required": True, "index": True}}
_TIME = {"type": "text"}

SESSIONS = "studio_sessions"
NOTES = "studio_notes"
SETTINGS = "studio_settings"
CHECKINS = "studio_checkins"
PROFILES = "studio_profiles"
UPLOADS = "studio_uploads"

ENTITIES: dict[str, dict[str, Any]] = {
    SESSIONS: {"fields": {
        "owner_id": _OWNER, "title": {"type": "text"}, "description": {"type": "text"},
        # the Knowledge collection holding the session's sources
        "collection_id": {"type": "text", "config": {"required": True, "unique": True}},
        "created_at": _TIME, "updated_at": _TIME}},
    NOTES: {"fields": {
        "owner_id": _OWNER, "session_id": {"type": "text", "config": {"required": True, "index": True}},
        "kind": {"type": "text"}, "title": {"type": "text"}, "content": {"type": "text"},
        "created_at": _TIME, "updated_at": _TIME}},
    SETTINGS: {"fields": {
        "owner_id": {"type": "text", "config": {"required": True, "unique": True}},
        "doc": {"type": "json"}}},
    CHECKINS: {"fields": {
        "owner_id": _OWNER, "date": {"type": "text"},
        # owner_id + ":" + date: one check-in per user and UTC day, also across processes
        "day_key": {"type": "text", "config": {"required": True, "unique": True}}}},
    PROFILES: {"fields": {
        "owner_id": {"type": "text", "config": {"required": True, "unique": True}},
        "username": {"type": "text"}, "avatar": {"type": "text"}, "bio": {"type": "text"},
        "created_at": _TIME}},
    UPLOADS: {"fields": {
        "owner_id": _OWNER,
        "object_key": {"type": "text", "config": {"required": True, "unique": True}},
        "document_id": {"type": "text", "config": {"index": True}}}},
}
