"""ChatService: the chat's use cases, shared by the HTTP, WebSocket (and gRPC) transports.

Transport-free. Storage goes through the Data module's ``DataService`` (system caller),
identity through the Auth module's ``AuthService``, fan-out and presence through the Realtime
module's ``RealtimeService``.

Per room, ``seq`` is gapless: a message is inserted with ``seq_key = "<room>:<seq>"`` (a
unique key), seq being one more than the room's last; when another node took that seq the
insert conflicts and is retried with the room's real last seq. Inside one process the
sends to a room are serialised by a lock, so publications leave in seq order; receivers
(ws.py) put publications from several nodes back in order and fill gaps from the database.
Messages travel as ephemeral Realtime publications: the database, not Realtime's history, is
the chat's history.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

from nodebase.apps.chat.entities import MEMBERS, MESSAGES, PROFILES, ROOMS
from nodebase.apps.chat.views import MESSAGE_TYPES, message_view, now_ms, room_view, user_view
from nodebase.auth.service import AuthService
from nodebase.data.service import DataService
from nodebase.kernel.caller import SYSTEM, Caller
from nodebase.kernel.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from nodebase.realtime.service import RealtimeService

log = logging.getLogger("nodebase.chat")

ROOM_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_CONTENT = 4000
MAX_CLIENT_ID = 64
MAX_LIMIT, DEFAULT_LIMIT = 200, 50
SEND_RETRIES = 50
#: seconds between writes of a busy room's last_seq
LAST_SEQ_FLUSH = 5.0


@dataclass
class ChatSettings:
    auto_create_rooms: bool = True
    #: messages one user may send per second (every node together when a broker is set)
    send_rate: int = 10


def channel(room_key: str) -> str:
    return "chat:" + room_key


def user_channel(user_id: str) -> str:
    """The Realtime presence channel of one user: an entry per live connection, every node."""
    return "chat.user:" + user_id


def _int_arg(value: Any, name: str, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise BadRequest(f'"{name}" must be a non-negative integer', context={"field": name})
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f'"{name}" must be a non-negative integer', context={"field": name}) from None
    if n < 0 or (isinstance(value, float) and not value.is_integer()):
        raise BadRequest(f'"{name}" must be a non-negative integer', context={"field": name})
    return n


class ChatService:
    def __init__(self, data: DataService, auth: AuthService, realtime: RealtimeService,
                 settings: ChatSettings | None = None) -> None:
        self.data = data
        self.auth = auth
        self.rt = realtime
        self.settings = settings or ChatSettings()
        self._locks: dict[str, asyncio.Lock] = {}
        #: the next seq this process expects to use, per room row (a recreated room is a new row)
        self._next: dict[tuple[str, Any], int] = {}
        self._profiles: dict[str, dict[str, Any] | None] = {}
        self._names: dict[str, str] = {}  # usernames of users without a profile
        #: rooms whose row's last_seq lags what this process stored: room key → (row id, seq)
        self._dirty: dict[str, tuple[Any, int]] = {}
        self._flusher: asyncio.Task[None] | None = None
        self.sent = 0  # messages stored by this process (stats)

    async def _find(self, entity: str, query: dict[str, Any], caller: Caller) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """read_many without the count meta (two COUNT queries the chat never reads)."""
        return await self.data.read_many(entity, {**query, "count": False}, caller)

    # -- users -----------------------------------------------------------------------------
    async def _profile(self, user_id: str) -> dict[str, Any] | None:
        if user_id in self._profiles:
            return self._profiles[user_id]
        rows, _ = await self._find(PROFILES, {"where": {"user_id": user_id}, "limit": 1}, SYSTEM)
        profile = dict(rows[0]) if rows else None
        if len(self._profiles) > 10_000:
            self._profiles.clear()
        self._profiles[user_id] = profile
        return profile

    def _forget(self, uid: str) -> None:
        self._profiles.pop(uid, None)
        self._names.pop(uid, None)

    async def user(self, user_id: Any, *, online: bool | None = None) -> dict[str, Any] | None:
        """The protocol's user object; ``is_online`` from the user's presence (any node)
        unless ``online`` says it."""
        row = await self.auth.user_view(self.auth.users_pk(user_id))
        if row is None:
            return None
        uid = str(row["id"])
        if online is None:
            online = await self.is_online(uid)
        return user_view(row, await self._profile(uid), online=online)

    # -- user-wide presence: one Realtime presence entry per live connection --------------------
    async def is_online(self, user_id: str) -> bool:
        try:
            return bool(await self.rt.presence(user_channel(user_id)))
        except Exception as exc:  # the broker is down: the user object still answers
            log.warning("chat: reading %s's presence failed (%s)", user_id, exc)
            return False

    async def connected(self, connection_id: str, user_id: str) -> None:
        try:
            await self.rt.join(user_channel(user_id), connection_id, {"id": user_id})
        except Exception as exc:  # kept locally: the presence store re-announces it
            log.warning("chat: marking %s online failed (%s)", user_id, exc)

    async def disconnected(self, connection_id: str, user_id: str) -> None:
        try:
            await self.rt.leave(user_channel(user_id), connection_id, {"id": user_id})
        except Exception as exc:
            log.warning("chat: marking %s offline failed (%s)", user_id, exc)

    def user_id(self, caller: Caller) -> str:
        if caller.user is None:
            reason = caller.attrs.get("credential_error") or "no token"
            raise Unauthorized("A valid user token is required", context={"reason": reason})
        return str(caller.user["id"])

    async def me(self, caller: Caller, *, online: bool | None = None) -> dict[str, Any]:
        uid = self.user_id(caller)
        view = await self.user(uid, online=online)
        if view is None:
            raise Unauthorized("The token's user no longer exists")
        return view

    async def register(self, body: Any, ip: str) -> tuple[dict[str, Any], str]:
        if not isinstance(body, dict):
            raise BadRequest('The body must be an object {"username", "email", "password"}')
        username = body.get("username")
        if not isinstance(username, str) or not ROOM_ID.match(username.strip()):
            raise BadRequest('"username" must be 1-64 characters of A-Z a-z 0-9 _ . -',
                             context={"field": "username"})
        username = username.strip()
        taken, _ = await self._find(PROFILES, {"where": {"username": username}, "limit": 1}, SYSTEM)
        if taken:
            raise Conflict("This username is taken", context={"field": "username"})
        session = await self.auth.register({"email": body.get("email"), "password": body.get("password")}, ip)
        uid = str(session.user["id"])
        t = now_ms()
        try:
            await self.data.create(PROFILES, {"user_id": uid, "username": username, "avatar": "",
                                              "created_at": t, "updated_at": t}, SYSTEM)
        except Conflict:
            raise Conflict("This username is taken", context={"field": "username"}) from None
        self._forget(uid)
        view = await self.user(uid)
        assert view is not None
        return view, session.token

    async def login(self, body: Any, ip: str) -> tuple[dict[str, Any], str]:
        if not isinstance(body, dict):
            raise BadRequest('The body must be an object {"username" or "email", "password"}')
        email = body.get("email")
        if not email and isinstance(body.get("username"), str):
            rows, _ = await self._find(
                PROFILES, {"where": {"username": body["username"].strip()}, "limit": 1}, SYSTEM)
            row = await self.auth.user_view(self.auth.users_pk(rows[0]["user_id"])) if rows else None
            email = row["email"] if row else "unknown-user@invalid"
        session = await self.auth.login({"email": email, "password": body.get("password")}, ip)
        view = await self.user(session.user["id"])
        assert view is not None
        return view, session.token

    async def get_user(self, caller: Caller, user_id: Any) -> dict[str, Any]:
        self.user_id(caller)
        view = await self.user(user_id) if isinstance(user_id, str) and user_id else None
        if view is None:
            raise NotFound("No such user", context={"id": user_id})
        return view

    async def update_user(self, caller: Caller, user_id: Any, changes: dict[str, Any]) -> dict[str, Any]:
        """``username``, ``email``, ``avatar`` of a user: the user themself or an admin."""
        me = self.user_id(caller)
        target = await self.get_user(caller, user_id)
        if target["id"] != me and caller.role != "admin":
            raise Forbidden("Only the user themself or an admin may change a user", context={"id": user_id})
        uid = target["id"]
        if "email" in changes:
            email = changes["email"]
            if not isinstance(email, str) or "@" not in email:
                raise BadRequest('"email" must be an e-mail address', context={"field": "email"})
            try:
                await self.data.update_one("users", self.auth.users_pk(uid), {"email": email.strip().lower()},
                                           SYSTEM)
            except Conflict:
                raise Conflict("An account with this e-mail already exists", context={"field": "email"}) from None
            self.auth.forget_credentials()
            self._forget(uid)
        profile: dict[str, Any] = {}
        if "username" in changes:
            username = changes["username"]
            if not isinstance(username, str) or not ROOM_ID.match(username):
                raise BadRequest('"username" must be 1-64 characters of A-Z a-z 0-9 _ . -',
                                 context={"field": "username"})
            profile["username"] = username
        if "avatar" in changes:
            if not isinstance(changes["avatar"], str) or len(changes["avatar"]) > 2000:
                raise BadRequest('"avatar" must be a URL of at most 2000 characters', context={"field": "avatar"})
            profile["avatar"] = changes["avatar"]
        if profile:
            t = now_ms()
            rows, _ = await self._find(PROFILES, {"where": {"user_id": uid}, "limit": 1}, SYSTEM)
            try:
                if rows:
                    await self.data.update_one(PROFILES, rows[0]["id"], {**profile, "updated_at": t}, SYSTEM)
                else:
                    await self.data.create(PROFILES, {"user_id": uid, "username": profile.get(
                        "username", target["username"]), "avatar": profile.get("avatar", ""),
                        "created_at": t, "updated_at": t}, SYSTEM)
            except Conflict:
                raise Conflict("This username is taken", context={"field": "username"}) from None
            self._forget(uid)
        view = await self.user(uid)
        assert view is not None
        return view

    # -- rooms -----------------------------------------------------------------------------
    def _room_key(self, room_id: Any) -> str:
        if not isinstance(room_id, str) or not ROOM_ID.match(room_id):
            raise BadRequest('"room_id" must be 1-64 characters of A-Z a-z 0-9 _ . -',
                             context={"field": "room_id"})
        return room_id

    async def _room_row(self, key: str) -> dict[str, Any] | None:
        rows, _ = await self._find(ROOMS, {"where": {"room_key": key}, "limit": 1}, SYSTEM)
        return dict(rows[0]) if rows else None

    async def is_member(self, key: str, uid: str) -> bool:
        rows, _ = await self._find(MEMBERS, {"where": {"member_key": f"{key}:{uid}"}, "limit": 1},
                                            SYSTEM)
        return bool(rows)

    async def _may_see(self, row: dict[str, Any], caller: Caller, uid: str) -> bool:
        if row.get("is_public") or caller.role == "admin":
            return True
        return await self.is_member(row["room_key"], uid)

    async def room(self, room_id: Any, caller: Caller, *, create: bool = False) -> dict[str, Any]:
        """The room row if the caller may see it; a public room is created on first use
        (``create``) when ``auto_create_rooms`` is on. Invisible = not found."""
        uid = self.user_id(caller)
        key = self._room_key(room_id)
        row = await self._room_row(key)
        if row is None and create and self.settings.auto_create_rooms:
            row = await self._insert_room(key, key, "", True, uid)
        if row is None or not await self._may_see(row, caller, uid):
            raise NotFound(f'No room "{key}"', context={"room_id": key})
        return row

    async def _insert_room(self, key: str, name: str, description: str, public: bool, uid: str,
                           *, fail_if_exists: bool = False) -> dict[str, Any]:
        t = now_ms()
        try:
            row = await self.data.create(ROOMS, {"room_key": key, "name": name, "description": description,
                                                 "is_public": public, "created_by": uid, "last_seq": 0,
                                                 "created_at": t, "updated_at": t}, SYSTEM)
        except Conflict:
            if fail_if_exists:
                raise Conflict(f'A room "{key}" already exists', context={"room_id": key}) from None
            existing = await self._room_row(key)
            assert existing is not None
            return existing
        assert isinstance(row, dict)
        if not public:
            await self._add_member(key, uid)
        return dict(row)

    async def _add_member(self, key: str, uid: str) -> None:
        with contextlib.suppress(Conflict):  # already a member
            await self.data.create(MEMBERS, {"room_key": key, "user_id": uid, "member_key": f"{key}:{uid}",
                                             "created_at": now_ms()}, SYSTEM)

    async def list_rooms(self, caller: Caller) -> list[dict[str, Any]]:
        """Public rooms and the caller's private ones; an admin (who may see any room) every room."""
        uid = self.user_id(caller)
        admin = caller.role == "admin"
        rows, _ = await self._find(ROOMS, {"where": {} if admin else {"is_public": True},
                                           "limit": 10_000, "sort": "room_key"}, SYSTEM)
        rooms = [dict(r) for r in rows]
        mine, _ = ([], 0) if admin else await self._find(
            MEMBERS, {"where": {"user_id": uid}, "limit": 10_000}, SYSTEM)
        keys = [m["room_key"] for m in mine]
        if keys:
            private, _ = await self._find(
                ROOMS, {"where": {"room_key": {"$in": keys}, "is_public": False}, "limit": 10_000}, SYSTEM)
            rooms.extend(dict(r) for r in private)
        return [self._room_out(r) for r in sorted(rooms, key=lambda r: r["room_key"])]

    async def create_room(self, body: Any, caller: Caller) -> dict[str, Any]:
        uid = self.user_id(caller)
        if not isinstance(body, dict):
            raise BadRequest('The body must be an object {"id"?, "name", "description"?, "is_public"?}')
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise BadRequest('"name" must be 1-200 characters', context={"field": "name"})
        description = body.get("description", "")
        if not isinstance(description, str) or len(description) > 2000:
            raise BadRequest('"description" must be a string of at most 2000 characters',
                             context={"field": "description"})
        public = body.get("is_public", True)
        if not isinstance(public, bool):
            raise BadRequest('"is_public" must be a boolean', context={"field": "is_public"})
        key = self._room_key(body["id"]) if body.get("id") is not None else "r_" + secrets.token_hex(8)
        row = await self._insert_room(key, name.strip(), description, public, uid, fail_if_exists=True)
        return room_view(row)

    async def add_member(self, room_id: Any, body: Any, caller: Caller) -> None:
        uid = self.user_id(caller)
        row = await self.room(room_id, caller)
        if row.get("created_by") != uid and caller.role != "admin":
            raise Forbidden("Only the room's owner or an admin may add members", context={"room_id": room_id})
        member = body.get("user_id") if isinstance(body, dict) else None
        if not isinstance(member, (str, int)) or isinstance(member, bool) or await self.user(member, online=False) is None:
            raise NotFound("No such user", context={"field": "user_id"})
        await self._add_member(row["room_key"], str(member))

    # -- messages --------------------------------------------------------------------------
    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            if len(self._locks) > 10_000:
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def _by_dedupe(self, dedupe: str) -> dict[str, Any] | None:
        rows, _ = await self._find(MESSAGES, {"where": {"dedupe_key": dedupe}, "limit": 1}, SYSTEM)
        return dict(rows[0]) if rows else None

    async def _last_stored(self, key: str) -> int:
        rows, _ = await self._find(MESSAGES, {"where": {"room_key": key}, "sort": "-seq", "limit": 1,
                                                       "select": ["seq"]}, SYSTEM)
        return int(rows[0]["seq"]) if rows else 0

    async def last_seq(self, key: str) -> int:
        return await self._last_stored(key)

    async def _check_rate(self, uid: str) -> None:
        rate = self.settings.send_rate
        if rate > 0 and await self.auth.limiter.hit(f"chat.send:{uid}", 1) > rate:
            raise TooManyRequests(f"At most {rate} messages a second", context={"limit": rate})

    async def send(self, caller: Caller, room_id: Any, content: Any, message_type: Any = None,
                   client_id: Any = None, *, origin: str | None = None,
                   room: dict[str, Any] | None = None) -> tuple[dict[str, Any], bool]:
        """Store and broadcast a message; ``(message, created)`` — ``created`` is false for a
        repeated ``client_id`` (the stored message, nothing broadcast)."""
        uid = self.user_id(caller)
        if not isinstance(content, str) or not content.strip():
            raise BadRequest('"content" must be 1 to 4000 characters', context={"field": "content"})
        content = content.strip()
        if len(content) > MAX_CONTENT:
            raise BadRequest(f'"content" must be at most {MAX_CONTENT} characters',
                             context={"field": "content", "length": len(content)})
        mtype = message_type or "text"
        if mtype not in MESSAGE_TYPES or mtype == "system":
            raise BadRequest('"message_type" must be one of text, image, file',
                             context={"field": "message_type"})
        if client_id in (None, ""):
            client_id = None
        elif not isinstance(client_id, str) or len(client_id) > MAX_CLIENT_ID:
            raise BadRequest(f'"client_id" must be a string of at most {MAX_CLIENT_ID} characters',
                             context={"field": "client_id"})
        row = room or await self.room(room_id, caller, create=True)
        key = row["room_key"]
        # a retry (same client_id) is found by its insert's unique dedupe_key, not by a read
        # before every send; rate limited, a retry still gets its stored message
        dedupe = f"{key}:{uid}:{client_id}" if client_id else None
        try:
            await self._check_rate(uid)
        except TooManyRequests:
            existing = await self._by_dedupe(dedupe) if dedupe else None
            if existing:
                return message_view(existing), False
            raise
        username = await self._username(uid)
        async with self._lock(key):
            seq = max(self._next.get((key, row.get("id")), 0), int(row.get("last_seq") or 0) + 1)
            for _ in range(SEND_RETRIES):
                values = {"msg_id": "m_" + secrets.token_urlsafe(12), "room_key": key, "seq": seq,
                          "seq_key": f"{key}:{seq}", "user_id": uid, "username": username,
                          "content": content, "message_type": mtype, "client_id": client_id,
                          "dedupe_key": dedupe, "origin": origin, "created_at": now_ms()}
                try:
                    stored = await self.data.create(MESSAGES, values, SYSTEM)
                except Conflict as exc:
                    if dedupe and "dedupe_key" in exc.context.get("fields", ()):
                        existing = await self._by_dedupe(dedupe)
                        if existing:
                            return message_view(existing), False
                    seq = await self._last_stored(key) + 1  # another node took it
                    continue
                break
            else:
                raise TooManyRequests("The room is too busy; retry", context={"room_id": key})
            assert isinstance(stored, dict)
            if len(self._next) > 10_000:
                self._next.clear()
            self._next[(key, row.get("id"))] = seq + 1
            self.sent += 1
            message = message_view(stored)
            try:
                # ephemeral: the chat's order and history are its own (seq in the database);
                # Realtime's channel seq would restart with a restarted Redis and drop events
                await self.rt.publish(channel(key), message, event="message", origin=origin, ephemeral=True)
            except Exception as exc:  # stored: receivers fill the gap, resumes read the database
                log.warning("chat: broadcasting %s:%s failed (%s)", key, seq, exc)
        held = self._dirty.get(key)
        if held is None or held[0] != row.get("id") or held[1] < seq:
            self._dirty[key] = (row.get("id"), seq)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_last_seqs(), name="chat-last-seq")
        return message, True

    async def _username(self, uid: str) -> str:
        profile = await self._profile(uid)
        if profile and profile.get("username"):
            return str(profile["username"])
        name = self._names.get(uid)
        if name is None:  # a user made elsewhere, without a profile: the e-mail's local part
            view = await self.user(uid, online=False)
            if view is None:
                raise Unauthorized("The token's user no longer exists")
            if len(self._names) > 10_000:
                self._names.clear()
            name = self._names[uid] = str(view["username"])
        return name

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(BaseException):
                await self._flusher
        await self.flush_last_seqs()

    async def _flush_last_seqs(self) -> None:
        """Write the rooms' ``last_seq`` (a hint for the next seq and the room object's field)
        at most once per room every LAST_SEQ_FLUSH seconds, off the send path."""
        while self._dirty:
            await asyncio.sleep(LAST_SEQ_FLUSH)
            await self.flush_last_seqs()

    async def flush_last_seqs(self) -> None:
        dirty, self._dirty = self._dirty, {}
        for key, (row_id, seq) in dirty.items():
            try:  # by row id: a room deleted and made again under the same key is another row
                await self.data.update_many(ROOMS, {"id": row_id, "last_seq": {"$lt": seq}},
                                            {"last_seq": seq, "updated_at": now_ms()}, SYSTEM)
            except Exception as exc:
                log.warning("chat: updating %s's last_seq failed (%s)", key, exc)

    def _room_out(self, row: dict[str, Any]) -> dict[str, Any]:
        """room_view with the last seq this process stored when the row does not have it yet."""
        view = room_view(row)
        pending = self._dirty.get(row["room_key"])
        if pending and pending[0] == row.get("id") and pending[1] > view["last_seq"]:
            view["last_seq"] = pending[1]
        return view

    async def history(self, caller: Caller, room_id: Any, limit: Any = None, before_seq: Any = None,
                      after_seq: Any = None, *, room: dict[str, Any] | None = None,
                      ) -> tuple[list[dict[str, Any]], bool]:
        n = _int_arg(limit, "limit", DEFAULT_LIMIT) or DEFAULT_LIMIT
        if n > MAX_LIMIT:
            raise BadRequest(f'"limit" must be at most {MAX_LIMIT}', context={"field": "limit"})
        before = _int_arg(before_seq, "before_seq")
        after = _int_arg(after_seq, "after_seq")
        if before and after is not None:
            raise BadRequest('Give "before_seq" or "after_seq", not both', context={"field": "before_seq"})
        key = (room or await self.room(room_id, caller))["room_key"]
        if after is not None:
            rows = await self.after(key, after, n + 1)
            return [message_view(r) for r in rows[:n]], len(rows) > n
        where: dict[str, Any] = {"room_key": key}
        if before:
            where["seq"] = {"$lt": before}
        found, _ = await self._find(MESSAGES, {"where": where, "sort": "-seq", "limit": n + 1}, SYSTEM)
        rows = [dict(r) for r in found[:n]]
        rows.reverse()
        return [message_view(r) for r in rows], len(found) > n

    async def after(self, key: str, after_seq: int, limit: int, before_seq: int | None = None) -> list[dict[str, Any]]:
        """Stored rows of room ``key`` with ``after_seq < seq < before_seq``, ascending."""
        cond: dict[str, Any] = {"$gt": after_seq}
        if before_seq is not None:
            cond["$lt"] = before_seq
        rows, _ = await self._find(MESSAGES, {"where": {"room_key": key, "seq": cond}, "sort": "seq",
                                                       "limit": limit}, SYSTEM)
        return [dict(r) for r in rows]

    async def online(self, key: str) -> list[dict[str, Any]]:
        """Users with at least one connection joined to room ``key``, on any node."""
        seen: dict[str, dict[str, Any]] = {}
        for entry in await self.rt.presence(channel(key)):
            user = entry.user
            if isinstance(user, dict) and "id" in user and user["id"] not in seen:
                seen[user["id"]] = {**user, "is_online": True}
        return list(seen.values())

    async def online_users(self, caller: Caller, room_id: Any) -> list[dict[str, Any]]:
        row = await self.room(room_id, caller)
        return await self.online(row["room_key"])

    # -- operations (admin) ---------------------------------------------------------------
    @staticmethod
    def require_admin(caller: Caller) -> None:
        if caller.is_system or caller.role == "admin":
            return
        if caller.user is None and caller.role is None:
            raise Unauthorized("A valid admin token is required")
        raise Forbidden("Only the admin role may do this", context={"role": caller.role})

    async def stats(self, window_s: int = 60) -> dict[str, Any]:
        """Rooms, messages, and messages a second over the last ``window_s`` (every node)."""
        rooms = await self.data.count(ROOMS, None, SYSTEM)
        messages = await self.data.count(MESSAGES, None, SYSTEM)
        recent = await self.data.count(MESSAGES, {"created_at": {"$gte": now_ms() - window_s * 1000}}, SYSTEM)
        return {"rooms": rooms, "messages": messages, "messages_per_second": round(recent / window_s, 3),
                "window_s": window_s, "sent_by_this_process": self.sent}

    async def all_rooms(self) -> list[dict[str, Any]]:
        rows, _ = await self._find(ROOMS, {"limit": 10_000, "sort": "room_key"}, SYSTEM)
        return [self._room_out(dict(r)) for r in rows]

    async def delete_message(self, caller: Caller, room_id: Any, message_id: Any) -> None:
        """Admin: remove one message (its seq stays used: history shows a hole there)."""
        self.require_admin(caller)
        key = self._room_key(room_id)
        rows = await self.data.delete_many(MESSAGES, {"room_key": key, "msg_id": str(message_id)}, SYSTEM)
        if not rows:
            raise NotFound("No such message", context={"room_id": key, "id": message_id})
        await self._announce(key, "deleted", {"room_id": key, "message_id": rows[0]["msg_id"],
                                              "seq": int(rows[0]["seq"])})

    async def delete_room(self, caller: Caller, room_id: Any) -> None:
        """Admin: remove a room with its messages and members."""
        self.require_admin(caller)
        key = self._room_key(room_id)
        if await self._room_row(key) is None:
            raise NotFound(f'No room "{key}"', context={"room_id": key})
        for entity in (MESSAGES, MEMBERS):
            while await self.data.delete_many(entity, {"room_key": key}, SYSTEM):
                pass
        await self.data.delete_many(ROOMS, {"room_key": key}, SYSTEM)
        self._dirty.pop(key, None)
        await self._announce(key, "room_deleted", {"room_id": key})

    async def _announce(self, key: str, event: str, data: dict[str, Any]) -> None:
        """Tell the room's live connections (every node); the deletion itself is already done."""
        try:
            await self.rt.publish(channel(key), data, event=event, ephemeral=True)
        except Exception as exc:
            log.warning("chat: announcing %s of %s failed (%s)", event, key, exc)
