"""The Auth module: the ``users`` system entity, the ``auth`` config document, the guard, the
caller middleware and the ``/api/auth`` routes, wired into the node through :class:`~nodebase.kernel.node.Node`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from nodebase.auth.config import AuthConfig, default_auth_config, parse_auth_config
from nodebase.auth.guard import RoleGuard
from nodebase.auth.middleware import AuthMiddleware, caller_of
from nodebase.auth.oauth import OAuthService
from nodebase.auth.oauth_config import is_oauth_strategy, secret_name
from nodebase.auth.oauth_routes import oauth_routes
from nodebase.auth.openapi import auth_openapi
from nodebase.auth.plain import plain_routes
from nodebase.auth.ratelimit import make_limiter
from nodebase.auth.repository import (
    ApiKeyRepository,
    ChallengeRepository,
    IdentityRepository,
    PasskeyRepository,
    UserRepository,
    ddl,
)
from nodebase.auth.service import AuthService
from nodebase.auth.tokens import Tokens
from nodebase.auth.transport import routes
from nodebase.data.module import DataModule
from nodebase.kernel.errors import ConfigInvalid
from nodebase.kernel.forwarded import ClientAddress
from nodebase.kernel.node import Node
from nodebase.kernel.permissions import Permission
from nodebase.kernel.secrets import AUTH_SIGNING_KEY, SecretError

if TYPE_CHECKING:
    from nodebase.auth.passkeys import PasskeyService

log = logging.getLogger("nodebase.auth")

#: bknd's users entity (reference §1.5) plus the token version that password changes bump
USERS_ENTITY: dict[str, Any] = {
    "fields": {
        "email": {"type": "text", "config": {"required": True, "unique": True, "maxLength": 254}},
        "strategy": {"type": "text", "config": {"fillable": ["create"]}},
        "strategy_value": {"type": "text", "config": {"hidden": True}},
        "role": {"type": "text"},
        # the seeds' plain user API (SPEC §3.3): {id, email, username, created_at}
        "username": {"type": "text", "config": {"maxLength": 64}},
        "created_at": {"type": "date", "config": {"type": "datetime", "fillable": ["create"]}},
        "token_version": {"type": "number",
                          "config": {"integer": True, "hidden": True, "default_value": 0}},
    },
}

APIKEY_PERMISSION = Permission("auth.apikey.manage", description="create, list and revoke API keys")
USERS_PERMISSION = Permission("auth.user.manage",
                              description="list, read and create users through /api/users")


class AuthModule:
    name = "auth"

    def __init__(self, nb: Node, data: DataModule) -> None:
        self.nb = nb
        data.register_system_entity("users", USERS_ENTITY)
        nb.permissions.add(APIKEY_PERMISSION)
        nb.permissions.add(USERS_PERMISSION)
        self.users = UserRepository(nb.db)
        self.service = AuthService(data.service, self.users, ApiKeyRepository(nb.db))
        self._passkeys: PasskeyService | None = None
        self._secret: bytes | None = None
        self._previous: list[bytes] = []
        #: the client's address for rate limits (setting ``trusted_proxies``)
        self.client_address = ClientAddress(nb.settings.trusted_proxies)
        self.oauth = OAuthService(self.service, IdentityRepository(nb.db), ChallengeRepository(nb.db),
                                  nb.secrets, allow_private=nb.settings.fetch_allow_private)
        nb.add_routes(routes())
        nb.add_routes(plain_routes())
        nb.add_routes(oauth_routes())  # after every fixed /api/auth/<x>/<y> route
        nb.add_openapi(auth_openapi)
        nb.add_asgi_wrapper(lambda app: AuthMiddleware(app, self.service))
        nb.set_authenticator(caller_of)
        nb.add_config(self)

    @property
    def passkeys(self) -> PasskeyService:
        """Built on first use: importing webauthn costs ~0.15 s of cold start."""
        if self._passkeys is None:
            from nodebase.auth.passkeys import PasskeyService

            self._passkeys = PasskeyService(PasskeyRepository(self.nb.db), ChallengeRepository(self.nb.db))
        return self._passkeys

    # -- config module protocol ------------------------------------------------------------
    def default_config(self) -> dict[str, Any]:
        return default_auth_config()

    def secret_paths(self) -> list[str]:
        return []  # the JWT secret is not in the document at all

    def _parse(self, doc: dict[str, Any] | None) -> tuple[AuthConfig, dict[str, Any]]:
        perms = self.nb.permissions
        filterable = {p["name"] for p in perms.describe() if p.get("filterable")}
        return parse_auth_config(doc if doc is not None else default_auth_config(), set(perms.names()), filterable)

    def _install(self, cfg: AuthConfig) -> None:
        assert self._secret is not None
        self.service.cfg = cfg
        self.service.tokens = Tokens(self._secret, cfg.jwt, self._previous)
        self.service.forget_credentials()
        self.nb.set_guard(RoleGuard(cfg.roles, enabled=cfg.guard_enabled, anonymous_role=cfg.anonymous_role))
        if not cfg.guard_enabled:
            log.warning("auth.guard.enabled is false: every caller is allowed everything")

    async def start(self, stored: dict[str, Any] | None) -> dict[str, Any]:
        await self.nb.db.execute_script(ddl(self.nb.db))
        self._secret = self.nb.secrets.key(AUTH_SIGNING_KEY)
        self._previous = self.nb.secrets.previous(AUTH_SIGNING_KEY)
        self.service.limiter = make_limiter(self.nb.settings.broker_url)
        cfg, doc = self._parse(stored)
        self._install(cfg)
        return doc

    def _take_client_secrets(self, doc: dict[str, Any]) -> None:
        """Move ``client.client_secret`` of OAuth strategies (bknd's place for it) into the
        secret provider; the document never holds it."""
        strategies = doc.get("strategies")
        if not isinstance(strategies, dict):
            return
        for name, sdoc in strategies.items():
            client = sdoc.get("config", {}).get("client") if is_oauth_strategy(sdoc) and \
                isinstance(sdoc.get("config"), dict) else None
            if not isinstance(client, dict) or "client_secret" not in client:
                continue
            value = client.pop("client_secret")
            if value in (None, "") or (isinstance(value, str) and set(value) == {"*"}):
                continue  # not sent, or the masked value sent back
            if not isinstance(value, str) or not isinstance(name, str) or len(value) > 4096:
                raise ConfigInvalid([{"path": f"auth.strategies.{name}.config.client.client_secret",
                                      "error": "must be a string"}])
            try:
                self.nb.secrets.put(secret_name(name), value.encode())
            except SecretError as exc:
                raise ConfigInvalid([{"path": f"auth.strategies.{name}.config.client.client_secret",
                                      "error": str(exc)}]) from None

    async def apply_config(self, doc: dict[str, Any], *, drop: bool) -> dict[str, Any]:
        self._parse(doc)  # validate before any secret is stored
        self._take_client_secrets(doc)
        cfg, normalised = self._parse(doc)
        self._install(cfg)
        return normalised
