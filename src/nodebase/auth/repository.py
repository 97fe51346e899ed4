"""SQL of the auth module: the ``users`` entity's secret columns, passkeys, API keys, challenges
(WebAuthn challenges and OAuth sign-in states), linked OAuth identities.

Knows SQL, nothing of HTTP. The ``users`` table belongs to the Data module (it is a system
entity, created by schema sync); user rows are created through the Data service (validation,
events) and only the columns the Data API never shows (``strategy_value``, ``token_version``)
are read and written here. The other tables are the auth module's own, created at start.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nodebase.kernel import jsonutil
from nodebase.kernel.database import Database
from nodebase.kernel.errors import Conflict

PASSKEYS = "__nodebase_passkeys"
APIKEYS = "__nodebase_apikeys"
CHALLENGES = "__nodebase_auth_challenges"
IDENTITIES = "__nodebase_oauth_identities"
USERS = "users"


class _Q:
    """Placeholders in order for the current dialect."""

    def __init__(self, db: Database) -> None:
        self.d = db.dialect
        self.params: list[Any] = []

    def p(self, value: Any) -> str:
        self.params.append(value)
        return self.d.placeholder(len(self.params))

    def q(self, ident: str) -> str:
        return self.d.quote(ident)


@dataclass(frozen=True)
class UserAuth:
    id: Any
    email: str
    role: str | None
    strategy: str | None
    password_hash: str | None
    token_version: int


class UserRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _select(self) -> str:
        q = self.db.dialect.quote
        cols = ", ".join(q(c) for c in ("id", "email", "role", "strategy", "strategy_value", "token_version"))
        return f"SELECT {cols} FROM {q(USERS)}"

    @staticmethod
    def _row(row: Sequence[Any] | None) -> UserAuth | None:
        if row is None:
            return None
        return UserAuth(row[0], row[1], row[2], row[3], row[4], int(row[5] or 0))

    async def by_email(self, email: str) -> UserAuth | None:
        s = _Q(self.db)
        sql = f"{self._select()} WHERE {s.q('email')} = {s.p(email)}"
        return self._row(await self.db.fetch_one(sql, s.params))

    async def by_id(self, id: Any) -> UserAuth | None:
        s = _Q(self.db)
        sql = f"{self._select()} WHERE {s.q('id')} = {s.p(id)}"
        return self._row(await self.db.fetch_one(sql, s.params))

    async def set_password(self, id: Any, password_hash: str | None) -> int | None:
        """Store a new hash (None: no password) and bump the token version; returns the new version."""
        s = _Q(self.db)
        tv = s.q("token_version")
        sql = (f"UPDATE {s.q(USERS)} SET {s.q('strategy_value')} = {s.p(password_hash)}, "
               f"{tv} = COALESCE({tv}, 0) + 1 WHERE {s.q('id')} = {s.p(id)} RETURNING {tv}")
        row = await self.db.fetch_one(sql, s.params)
        return int(row[0]) if row else None

    async def set_role(self, id: Any, role: str | None) -> bool:
        s = _Q(self.db)
        sql = f"UPDATE {s.q(USERS)} SET {s.q('role')} = {s.p(role)} WHERE {s.q('id')} = {s.p(id)} RETURNING {s.q('id')}"
        return await self.db.fetch_one(sql, s.params) is not None

    async def bump_token_version(self, id: Any) -> int | None:
        """Sign the user out everywhere: tokens of an older version stop working."""
        s = _Q(self.db)
        tv = s.q("token_version")
        sql = (f"UPDATE {s.q(USERS)} SET {tv} = COALESCE({tv}, 0) + 1 "
               f"WHERE {s.q('id')} = {s.p(id)} RETURNING {tv}")
        row = await self.db.fetch_one(sql, s.params)
        return int(row[0]) if row else None

    async def count(self) -> int:
        return int(await self.db.fetch_val(f"SELECT COUNT(*) FROM {self.db.dialect.quote(USERS)}") or 0)


@dataclass(frozen=True)
class Passkey:
    id: str
    user_id: str
    credential_id: str
    public_key: str
    sign_count: int
    transports: list[str]
    user_handle: str
    name: str
    aaguid: str
    backed_up: bool
    device_type: str
    created_at: float
    last_used_at: float | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "credential_id": self.credential_id,
            "transports": self.transports,
            "aaguid": self.aaguid,
            "backed_up": self.backed_up,
            "device_type": self.device_type,
            "sign_count": self.sign_count,
            "created_at": _iso(self.created_at),
            "last_used_at": _iso(self.last_used_at),
        }


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


_PK_COLS = ("id", "user_id", "credential_id", "public_key", "sign_count", "transports", "user_handle",
            "name", "aaguid", "backed_up", "device_type", "created_at", "last_used_at")


class PasskeyRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _select(self) -> str:
        q = self.db.dialect.quote
        return f"SELECT {', '.join(q(c) for c in _PK_COLS)} FROM {q(PASSKEYS)}"

    @staticmethod
    def _row(r: Sequence[Any]) -> Passkey:
        return Passkey(
            id=r[0], user_id=r[1], credential_id=r[2], public_key=r[3], sign_count=int(r[4] or 0),
            transports=jsonutil.loads(r[5], what="transports") if r[5] else [],
            user_handle=r[6], name=r[7], aaguid=r[8] or "", backed_up=bool(r[9]),
            device_type=r[10] or "", created_at=float(r[11]),
            last_used_at=float(r[12]) if r[12] is not None else None,
        )

    async def add(self, pk: Passkey) -> None:
        s = _Q(self.db)
        values = [pk.id, pk.user_id, pk.credential_id, pk.public_key, pk.sign_count,
                  jsonutil.dumps_str(pk.transports), pk.user_handle, pk.name, pk.aaguid,
                  1 if pk.backed_up else 0, pk.device_type, pk.created_at, pk.last_used_at]
        cols = ", ".join(s.q(c) for c in _PK_COLS)
        marks = ", ".join(s.p(v) for v in values)
        await self.db.execute(f"INSERT INTO {s.q(PASSKEYS)} ({cols}) VALUES ({marks})", s.params)

    async def for_user(self, user_id: str) -> list[Passkey]:
        s = _Q(self.db)
        sql = (f"{self._select()} WHERE {s.q('user_id')} = {s.p(user_id)} "
               f"ORDER BY {s.q('created_at')}, {s.q('id')}")
        return [self._row(r) for r in await self.db.fetch_all(sql, s.params)]

    async def by_credential(self, credential_id: str) -> Passkey | None:
        s = _Q(self.db)
        row = await self.db.fetch_one(
            f"{self._select()} WHERE {s.q('credential_id')} = {s.p(credential_id)}", s.params)
        return self._row(row) if row else None

    async def get(self, user_id: str, id: str) -> Passkey | None:
        s = _Q(self.db)
        row = await self.db.fetch_one(
            f"{self._select()} WHERE {s.q('id')} = {s.p(id)} AND {s.q('user_id')} = {s.p(user_id)}",
            s.params)
        return self._row(row) if row else None

    async def record_use(self, id: str, old_count: int, new_count: int) -> bool:
        """Store the new signature counter, only if nobody moved it meanwhile (no replay race)."""
        s = _Q(self.db)
        sql = (f"UPDATE {s.q(PASSKEYS)} SET {s.q('sign_count')} = {s.p(new_count)}, "
               f"{s.q('last_used_at')} = {s.p(time.time())} "
               f"WHERE {s.q('id')} = {s.p(id)} AND {s.q('sign_count')} = {s.p(old_count)}")
        return await self.db.execute(sql, s.params) == 1

    async def rename(self, user_id: str, id: str, name: str) -> bool:
        s = _Q(self.db)
        sql = (f"UPDATE {s.q(PASSKEYS)} SET {s.q('name')} = {s.p(name)} "
               f"WHERE {s.q('id')} = {s.p(id)} AND {s.q('user_id')} = {s.p(user_id)}")
        return await self.db.execute(sql, s.params) == 1

    async def delete(self, user_id: str, id: str) -> bool:
        s = _Q(self.db)
        sql = f"DELETE FROM {s.q(PASSKEYS)} WHERE {s.q('id')} = {s.p(id)} AND {s.q('user_id')} = {s.p(user_id)}"
        return await self.db.execute(sql, s.params) == 1


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    role: str
    prefix: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    created_by: str | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "prefix": self.prefix,
            "created_at": _iso(self.created_at),
            "expires_at": _iso(self.expires_at),
            "revoked_at": _iso(self.revoked_at),
            "created_by": self.created_by,
            "active": self.revoked_at is None and (self.expires_at is None or self.expires_at > time.time()),
        }


_AK_COLS = ("id", "name", "role", "prefix", "created_at", "expires_at", "revoked_at", "created_by")


class ApiKeyRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _select(self) -> str:
        q = self.db.dialect.quote
        return f"SELECT {', '.join(q(c) for c in _AK_COLS)} FROM {q(APIKEYS)}"

    @staticmethod
    def _row(r: Sequence[Any]) -> ApiKey:
        return ApiKey(r[0], r[1], r[2], r[3], float(r[4]),
                      float(r[5]) if r[5] is not None else None,
                      float(r[6]) if r[6] is not None else None, r[7])

    async def add(self, key: ApiKey, key_hash: str) -> None:
        s = _Q(self.db)
        cols = [*_AK_COLS, "key_hash"]
        values = [key.id, key.name, key.role, key.prefix, key.created_at, key.expires_at,
                  key.revoked_at, key.created_by, key_hash]
        await self.db.execute(
            f"INSERT INTO {s.q(APIKEYS)} ({', '.join(s.q(c) for c in cols)}) "
            f"VALUES ({', '.join(s.p(v) for v in values)})", s.params)

    async def by_hash(self, key_hash: str) -> ApiKey | None:
        s = _Q(self.db)
        row = await self.db.fetch_one(f"{self._select()} WHERE {s.q('key_hash')} = {s.p(key_hash)}", s.params)
        return self._row(row) if row else None

    async def all(self) -> list[ApiKey]:
        q = self.db.dialect.quote
        rows = await self.db.fetch_all(f"{self._select()} ORDER BY {q('created_at')}, {q('id')}")
        return [self._row(r) for r in rows]

    async def revoke(self, id: str) -> ApiKey | None:
        s = _Q(self.db)
        await self.db.execute(
            f"UPDATE {s.q(APIKEYS)} SET {s.q('revoked_at')} = {s.p(time.time())} "
            f"WHERE {s.q('id')} = {s.p(id)} AND {s.q('revoked_at')} IS NULL", s.params)
        s = _Q(self.db)
        row = await self.db.fetch_one(f"{self._select()} WHERE {s.q('id')} = {s.p(id)}", s.params)
        return self._row(row) if row else None


@dataclass(frozen=True)
class Challenge:
    challenge: str
    purpose: str
    user_id: str | None
    data: dict[str, Any]
    expires_at: float


class ChallengeRepository:
    """Single-use WebAuthn challenges, shared by every process through the database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, ch: Challenge) -> None:
        s = _Q(self.db)
        await self.db.execute(f"DELETE FROM {s.q(CHALLENGES)} WHERE {s.q('expires_at')} < {s.p(time.time())}",
                              s.params)
        s = _Q(self.db)
        cols = ("challenge", "purpose", "user_id", "data", "expires_at")
        values = [ch.challenge, ch.purpose, ch.user_id, jsonutil.dumps_str(ch.data), ch.expires_at]
        await self.db.execute(
            f"INSERT INTO {s.q(CHALLENGES)} ({', '.join(s.q(c) for c in cols)}) "
            f"VALUES ({', '.join(s.p(v) for v in values)})", s.params)

    async def take(self, challenge: str, purpose: str) -> Challenge | None:
        """Remove and return the challenge; ``None`` if unknown, used, expired or for another use."""
        s = _Q(self.db)
        row = await self.db.fetch_one(
            f"SELECT {s.q('user_id')}, {s.q('data')}, {s.q('expires_at')} FROM {s.q(CHALLENGES)} "
            f"WHERE {s.q('challenge')} = {s.p(challenge)} AND {s.q('purpose')} = {s.p(purpose)}", s.params)
        if row is None:
            return None
        s = _Q(self.db)
        deleted = await self.db.execute(
            f"DELETE FROM {s.q(CHALLENGES)} WHERE {s.q('challenge')} = {s.p(challenge)}", s.params)
        if deleted != 1 or float(row[2]) < time.time():
            return None  # another request took it first, or it expired
        return Challenge(challenge, purpose, row[0], jsonutil.loads(row[1], what="challenge"), float(row[2]))


@dataclass(frozen=True)
class Identity:
    """An account at an OAuth provider linked to a user: (strategy, subject) → user."""

    strategy: str
    subject: str
    user_id: str
    email: str | None
    created_at: float


class IdentityRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _select(self) -> str:
        q = self.db.dialect.quote
        cols = ", ".join(q(c) for c in ("strategy", "subject", "user_id", "email", "created_at"))
        return f"SELECT {cols} FROM {q(IDENTITIES)}"

    @staticmethod
    def _row(r: Sequence[Any] | None) -> Identity | None:
        return Identity(r[0], r[1], r[2], r[3], float(r[4])) if r else None

    async def get(self, strategy: str, subject: str) -> Identity | None:
        s = _Q(self.db)
        sql = f"{self._select()} WHERE {s.q('strategy')} = {s.p(strategy)} AND {s.q('subject')} = {s.p(subject)}"
        return self._row(await self.db.fetch_one(sql, s.params))

    async def of_user(self, strategy: str, user_id: str) -> Identity | None:
        s = _Q(self.db)
        sql = f"{self._select()} WHERE {s.q('strategy')} = {s.p(strategy)} AND {s.q('user_id')} = {s.p(user_id)}"
        return self._row(await self.db.fetch_one(sql, s.params))

    async def add(self, ident: Identity) -> None:
        s = _Q(self.db)
        cols = ("strategy", "subject", "user_id", "email", "created_at")
        values = [ident.strategy, ident.subject, ident.user_id, ident.email, ident.created_at]
        try:
            await self.db.execute(
                f"INSERT INTO {s.q(IDENTITIES)} ({', '.join(s.q(c) for c in cols)}) "
                f"VALUES ({', '.join(s.p(v) for v in values)})", s.params)
        except Exception as exc:
            problem = self.db.integrity_problem(exc)
            if problem is None or problem.kind != "unique":
                raise
            raise Conflict(f"This {ident.strategy} account was linked by a concurrent sign-in: sign in again",
                           context={"reason": "already_linked", "strategy": ident.strategy}) from None

    async def delete(self, strategy: str, subject: str) -> None:
        s = _Q(self.db)
        await self.db.execute(f"DELETE FROM {s.q(IDENTITIES)} WHERE {s.q('strategy')} = {s.p(strategy)} "
                              f"AND {s.q('subject')} = {s.p(subject)}", s.params)


def ddl(db: Database) -> list[str]:
    q = db.dialect.quote
    real = "DOUBLE PRECISION"
    return [
        f"CREATE TABLE IF NOT EXISTS {q(PASSKEYS)} ("
        f"{q('id')} TEXT PRIMARY KEY, {q('user_id')} TEXT NOT NULL, {q('credential_id')} TEXT NOT NULL UNIQUE, "
        f"{q('public_key')} TEXT NOT NULL, {q('sign_count')} BIGINT NOT NULL DEFAULT 0, "
        f"{q('transports')} TEXT, {q('user_handle')} TEXT NOT NULL, {q('name')} TEXT NOT NULL, "
        f"{q('aaguid')} TEXT, {q('backed_up')} INTEGER NOT NULL DEFAULT 0, {q('device_type')} TEXT, "
        f"{q('created_at')} {real} NOT NULL, {q('last_used_at')} {real})",
        f"CREATE INDEX IF NOT EXISTS {q('idx_nb_passkeys_user')} ON {q(PASSKEYS)} ({q('user_id')})",
        f"CREATE TABLE IF NOT EXISTS {q(APIKEYS)} ("
        f"{q('id')} TEXT PRIMARY KEY, {q('name')} TEXT NOT NULL, {q('role')} TEXT NOT NULL, "
        f"{q('prefix')} TEXT NOT NULL, {q('key_hash')} TEXT NOT NULL UNIQUE, "
        f"{q('created_at')} {real} NOT NULL, {q('expires_at')} {real}, {q('revoked_at')} {real}, "
        f"{q('created_by')} TEXT)",
        f"CREATE TABLE IF NOT EXISTS {q(CHALLENGES)} ("
        f"{q('challenge')} TEXT PRIMARY KEY, {q('purpose')} TEXT NOT NULL, {q('user_id')} TEXT, "
        f"{q('data')} TEXT NOT NULL, {q('expires_at')} {real} NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {q(IDENTITIES)} ("
        f"{q('strategy')} TEXT NOT NULL, {q('subject')} TEXT NOT NULL, {q('user_id')} TEXT NOT NULL, "
        f"{q('email')} TEXT, {q('created_at')} {real} NOT NULL, "
        f"PRIMARY KEY ({q('strategy')}, {q('subject')}))",
        f"CREATE INDEX IF NOT EXISTS {q('idx_nb_oauth_user')} ON {q(IDENTITIES)} ({q('user_id')})",
    ]
