"""The auth module's use cases: who is calling, sign-up, sign-in, tokens, passwords, API keys.

Transport-free: the HTTP layer passes plain values in and gets plain values (or a
:class:`~nodebase.kernel.errors.NodebaseError`) back.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nodebase.auth.apikeys import ApiKeyService, hash_key, looks_like_key
from nodebase.auth.config import AuthConfig
from nodebase.auth.passwords import (
    check_password,
    hash_password,
    normalise_email,
    verify_password,
)
from nodebase.auth.ratelimit import Limiter, MemoryLimiter
from nodebase.auth.repository import ApiKeyRepository, UserAuth, UserRepository
from nodebase.auth.throttle import Attempt, Throttle
from nodebase.auth.tokens import TokenError, Tokens, VerifiedCache
from nodebase.data.service import DataService
from nodebase.kernel.caller import ANONYMOUS, SYSTEM, Caller
from nodebase.kernel.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    ValidationFailed,
)

log = logging.getLogger("nodebase.auth")

#: user columns a client never sets itself (registration, admin create)
PROTECTED_FIELDS = frozenset({"id", "role", "strategy", "strategy_value", "token_version", "created_at"})
INVALID_CREDENTIALS = "Invalid credentials"


@dataclass(frozen=True)
class Session:
    """What a successful sign-in returns: the user as the API shows it and a fresh token."""

    user: dict[str, Any]
    token: str
    #: a fresh device cookie value (password sign-in), see nodebase.auth.throttle
    device: str | None = None


def _refused(reason: str) -> Caller:
    return Caller(attrs={"credential_error": reason})


class AuthService:
    def __init__(self, data: DataService, users: UserRepository, apikeys: ApiKeyRepository) -> None:
        self.data = data
        self.users = users
        self.apikeys = ApiKeyService(apikeys)
        self.cfg: AuthConfig | None = None
        self.tokens: Tokens | None = None
        self.limiter: Limiter = MemoryLimiter()
        self._token_cache: VerifiedCache[Caller] = VerifiedCache()
        self._key_cache: VerifiedCache[Caller] = VerifiedCache()
        #: credentials that live in this process only (the sidecar's per-launch token), by hash
        self._launch_tokens: dict[str, Caller] = {}

    def add_launch_token(self, token: str, *, role: str) -> None:
        """Accept exactly ``token`` (as a bearer token or an API key) as ``role`` until this
        process exits. It is never stored; only its SHA-256 is kept, in memory."""
        self._launch_tokens[hash_key(token)] = Caller(role=role, via="launch")

    # -- configuration -------------------------------------------------------------------
    @property
    def config(self) -> AuthConfig:
        assert self.cfg is not None, "auth module not started"
        return self.cfg

    @property
    def throttle(self) -> Throttle:
        return Throttle(self.limiter, self.config.rate_limit)

    @property
    def tok(self) -> Tokens:
        assert self.tokens is not None, "auth module not started"
        return self.tokens

    def forget_credentials(self) -> None:
        """Drop every cached verification (after a password, role, key or config change)."""
        self._token_cache.clear()
        self._key_cache.clear()

    # -- who is calling (runs on every request: cache first) --------------------------------
    async def caller_from(self, authorization: str | None, api_key: str | None,
                          cookie: str | None) -> Caller:
        """``Authorization: Bearer`` wins over ``X-API-Key``, which wins over the cookie."""
        if self._launch_tokens:
            launch = self._launch_caller(authorization, api_key)
            if launch is not None:
                return launch
        if authorization:
            scheme, _, value = authorization.strip().partition(" ")
            value = value.strip()
            if scheme.lower() != "bearer" or not value:
                return _refused("the Authorization header is not 'Bearer <token>'")
            if looks_like_key(value):
                return await self._from_key(value)
            return await self._from_token(value, "jwt")
        if api_key:
            return await self._from_key(api_key.strip())
        if cookie:
            try:
                token = self.tok.unsign_cookie(cookie)
            except TokenError as exc:
                return _refused(str(exc))
            return await self._from_token(token, "cookie")
        return ANONYMOUS

    async def _from_token(self, token: str, via: str) -> Caller:
        revalidate = self.config.jwt.revalidate
        key = via + ":" + token
        hit = self._token_cache.get(key, revalidate)
        if hit is not None:
            return hit
        try:
            claims = self.tok.decode(token)
        except TokenError as exc:
            return _refused(str(exc))
        user = await self._user_for_id(claims.get("id"))
        if user is None:
            caller = _refused("the token's user no longer exists")
        elif int(claims.get("tv") or 0) != user.token_version:
            caller = _refused("the token was issued before the password changed")
        else:
            caller = Caller(user={"id": user.id, "email": user.email, "role": user.role},
                            role=user.role, via=via)
        self._token_cache.put(key, caller, float(claims["exp"]))
        return caller

    def users_pk(self, id: Any) -> Any:
        """A user id (e.g. from a token or a passkey row) in the users table's key type."""
        entity = self.data.schema.entities.get("users")
        if entity is None or id is None:
            return None
        try:
            return entity.primary.to_db(id)
        except ValidationFailed:
            return None

    async def _user_for_id(self, id: Any) -> UserAuth | None:
        entity = self.data.schema.entities.get("users")
        if entity is None or id is None:
            return None
        try:
            pk = entity.primary.to_db(id)
        except ValidationFailed:
            return None
        return await self.users.by_id(pk)

    def _launch_caller(self, authorization: str | None, api_key: str | None) -> Caller | None:
        if authorization:
            scheme, _, value = authorization.strip().partition(" ")
            if scheme.lower() == "bearer":
                return self._launch_tokens.get(hash_key(value.strip()))
            return None
        if api_key:
            return self._launch_tokens.get(hash_key(api_key.strip()))
        return None

    async def _from_key(self, key: str) -> Caller:
        hit = self._key_cache.get(key, self.config.jwt.revalidate)
        if hit is not None:
            return hit
        record = await self.apikeys.lookup(key)
        if record is None:
            caller = _refused("the API key is unknown, revoked or expired")
            expires = time.time() + 60
        else:
            caller = Caller(role=record.role, via="apikey",
                            attrs={"apikey": record.id, "apikey_name": record.name})
            expires = record.expires_at or time.time() + 3600
        self._key_cache.put(key, caller, expires)
        return caller

    # -- users -----------------------------------------------------------------------------
    async def user_view(self, id: Any) -> dict[str, Any] | None:
        """The user row as the Data API shows it (secret columns never included)."""
        row = await self.data.read_one("users", id, {}, SYSTEM)
        return dict(row) if row else None

    def _extra_fields(self, body: dict[str, Any], allowed_role: bool) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        for key, value in body.items():
            if key in ("email", "password"):
                continue
            if key == "role" and allowed_role:
                continue
            if key == "role":
                raise BadRequest("Role cannot be provided during registration",
                                 context={"field": "role"})
            if key in PROTECTED_FIELDS:
                raise BadRequest(f'Field "{key}" cannot be set', context={"field": key})
            extra[key] = value
        return extra

    async def _create(self, email: str, password: str | None, role: str | None,
                      extra: dict[str, Any], strategy: str = "password") -> dict[str, Any]:
        hashed = await hash_password(password) if password is not None else None
        values = {**extra, "email": email, "strategy": strategy,
                  "strategy_value": hashed, "role": role, "token_version": 0,
                  "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}
        try:
            row = await self.data.create("users", values, SYSTEM)
        except Conflict as exc:
            if "email" not in exc.context.get("fields", ()):
                raise
            raise Conflict("An account with this e-mail already exists",
                           context={"field": "email", "entity": "users"}) from None
        assert isinstance(row, dict)
        return row

    def _check_role(self, role: object) -> str | None:
        if role is None:
            return None
        if not isinstance(role, str) or role not in self.config.roles:
            raise ValidationFailed(f'Field "role" must be one of the configured roles {sorted(self.config.roles)}',
                                   context={"field": "role", "valid": sorted(self.config.roles)})
        return role

    async def register(self, body: Any, ip: str) -> Session:
        cfg = self.config
        if not cfg.password.enabled:
            raise NotFound("The password strategy is disabled", context={"strategy": "password"})
        if not cfg.allow_register:
            raise Forbidden("Registration is disabled", context={"setting": "auth.allow_register"})
        if not isinstance(body, dict):
            raise ValidationFailed('The body must be an object {"email", "password"}')
        extra = self._extra_fields(body, allowed_role=False)
        email = normalise_email(body.get("email"))
        password = check_password(body.get("password"), cfg.password.min_length, cfg.password.max_length)
        await self.throttle.registration(ip)
        row = await self._create(email, password, cfg.default_role_register, extra)
        return Session(row, self.tok.issue(row, 0), self.tok.sign_device(email))

    async def create_user(self, body: Any) -> dict[str, Any]:
        """Admin action (``/password/actions/create``, CLI): may set a role."""
        cfg = self.config
        if not isinstance(body, dict):
            raise ValidationFailed('The body must be an object {"email", "password", "role"?}')
        extra = self._extra_fields(body, allowed_role=True)
        email = normalise_email(body.get("email"))
        password = check_password(body.get("password"), cfg.password.min_length, cfg.password.max_length)
        role = self._check_role(body.get("role"))
        return await self._create(email, password, role, extra)

    async def create_external_user(self, email: str, strategy: str, role: str | None) -> dict[str, Any]:
        """A user signed up through an external strategy (OAuth): no password."""
        return await self._create(email, None, self._check_role(role), {}, strategy)

    async def login(self, body: Any, ip: str, device_cookie: str | None = None) -> Session:
        """Password sign-in; ``device_cookie`` is the client's ``nb_device`` cookie, if any."""
        cfg = self.config
        if not cfg.password.enabled:
            raise NotFound("The password strategy is disabled", context={"strategy": "password"})
        if not isinstance(body, dict):
            raise ValidationFailed('The body must be an object {"email", "password"}')
        raw_email, password = body.get("email"), body.get("password")
        if not isinstance(raw_email, str) or not raw_email.strip():
            raise ValidationFailed('Field "email" is required', context={"field": "email"})
        if not isinstance(password, str) or not password:
            raise ValidationFailed('Field "password" is required', context={"field": "password"})
        email = raw_email.strip().lower()
        attempt = Attempt(ip, email, self.tok.device_nonce(device_cookie, email))
        await self.throttle.check(attempt)
        user = await self.users.by_email(email) if len(password) <= cfg.password.max_length else None
        hashed = user.password_hash if user is not None and user.strategy == "password" else None
        ok = await verify_password(hashed, password[: cfg.password.max_length])
        if not ok or user is None:
            await self.throttle.failed(attempt)
            raise Unauthorized(INVALID_CREDENTIALS)
        await self.throttle.succeeded(attempt)
        session = await self.session_for(user)
        device = device_cookie if attempt.device else self.tok.sign_device(email)
        return Session(session.user, session.token, device)

    async def session_for(self, user: UserAuth) -> Session:
        view = await self.user_view(user.id) or {"id": user.id, "email": user.email, "role": user.role}
        return Session(view, self.tok.issue(view, user.token_version))

    async def refresh(self, caller: Caller) -> Session:
        user = await self.signed_in_user(caller)
        return await self.session_for(user)

    async def signed_in_user(self, caller: Caller) -> UserAuth:
        if caller.user is None or caller.via not in ("jwt", "cookie"):
            raise Unauthorized("Sign in first: this needs a user's token or cookie",
                               context={"reason": caller.attrs.get("credential_error") or "no user token"})
        user = await self._user_for_id(caller.user.get("id"))
        if user is None:
            raise Unauthorized("The signed-in user no longer exists")
        return user

    async def change_password(self, caller: Caller, body: Any, ip: str) -> Session:
        cfg = self.config
        user = await self.signed_in_user(caller)
        if not isinstance(body, dict):
            raise ValidationFailed('The body must be an object {"current_password", "new_password"}')
        current = body.get("current_password")
        if not isinstance(current, str) or not current:
            raise ValidationFailed('Field "current_password" is required', context={"field": "current_password"})
        new = check_password(body.get("new_password"), cfg.password.min_length, cfg.password.max_length,
                             field="new_password")
        attempt = Attempt(ip, user.email)
        await self.throttle.check(attempt)
        if not await verify_password(user.password_hash if user.strategy == "password" else None, current):
            await self.throttle.failed(attempt)
            raise Unauthorized("The current password is wrong", context={"field": "current_password"})
        await self.set_password(user.id, new)
        fresh = await self.users.by_id(user.id)
        assert fresh is not None
        return await self.session_for(fresh)

    async def set_password(self, id: Any, password: str) -> None:
        cfg = self.config
        check_password(password, cfg.password.min_length, cfg.password.max_length)
        version = await self.users.set_password(id, await hash_password(password))
        if version is None:
            raise NotFound(f"No user with id {id!r}", context={"id": id})
        self.forget_credentials()

    async def manage_user(self, id: Any, body: Any) -> dict[str, Any]:
        """An admin's change to a user: ``role``, a new ``password``, ``revoke_sessions``."""
        if not isinstance(body, dict) or not body:
            raise ValidationFailed('The body must be an object with "role", "password" or "revoke_sessions"')
        unknown = sorted(set(body) - {"role", "password", "revoke_sessions"})
        if unknown:
            raise ValidationFailed(f"Unknown field(s) {unknown}", context={"field": unknown[0]})
        pk = self.users_pk(id)
        if await self.users.by_id(pk) is None:
            raise NotFound(f"No user with id {id!r}", context={"id": id})
        if "role" in body:
            await self.users.set_role(pk, self._check_role(body["role"]))
        if "password" in body:
            await self.set_password(pk, body["password"])  # also signs the user out
        if body.get("revoke_sessions") is True:
            await self.users.bump_token_version(pk)
        self.forget_credentials()
        view = await self.user_view(pk)
        assert view is not None
        return view

    async def set_password_by_email(self, email: str, password: str) -> None:
        user = await self.users.by_email(normalise_email(email))
        if user is None:
            raise NotFound(f"No user with e-mail {email!r}", context={"email": email})
        await self.set_password(user.id, password)
