"""OAuth2 / OpenID Connect sign-in: the use cases (transport-free).

* :meth:`OAuthService.begin` makes a sign-in state: random ``state``, PKCE verifier and
  ``nonce``, stored in the database (single use, ``state_ttl`` seconds, shared by every
  process) with the action, the redirect URI and where to return afterwards.
* :meth:`OAuthService.finish` checks the callback: the ``state`` must be the one bound to this
  browser (the ``_challenge`` cookie) or client (``X-State-Challenge``), known, unused and
  fresh; then the provider exchanges the code and says who signed in; then :meth:`resolve`
  finds or makes the user.

Who becomes who (:meth:`resolve`):

1. an identity already linked (strategy, subject) signs in as its user;
2. else the provider's e-mail must be **verified**: an unverified one never links to an
   existing account and never creates one (403, nothing is written);
3. a verified e-mail of an existing user links the identity to that user. nodebase cannot
   know whether a password account's owner controls its e-mail (it never verifies e-mails),
   so linking clears that account's password and signs its sessions out: someone who
   registered the address first ("pre-account hijacking") loses the account, the e-mail's
   owner keeps it;
4. otherwise a user is created (when registration is allowed) with the strategy's
   ``default_role``, else ``auth.default_role_register``.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from nodebase.auth.oauth_config import OAuthStrategyConfig
from nodebase.auth.passwords import normalise_email
from nodebase.auth.repository import (
    Challenge,
    ChallengeRepository,
    Identity,
    IdentityRepository,
    UserAuth,
)
from nodebase.auth.service import AuthService, Session
from nodebase.kernel.errors import Conflict, Forbidden, NodebaseError, NotFound, ValidationFailed
from nodebase.kernel.secrets import Secrets

if TYPE_CHECKING:
    from nodebase.auth.oauth_providers import ProviderClient

ACTIONS = ("login", "register")


class OAuthError(NodebaseError):
    """A sign-in through a provider was refused (4xx), or the provider failed (502)."""

    status = 400
    type = "OAuthException"


@dataclass(frozen=True)
class Profile:
    """Who the provider says signed in."""

    subject: str
    email: str | None
    email_verified: bool
    name: str | None = None


@dataclass(frozen=True)
class Begun:
    url: str
    state: str
    action: str


@dataclass(frozen=True)
class Finished:
    session: Session
    #: "cookie" (browser redirect flow) or "token" (bknd's token mode: JSON)
    mode: str
    return_to: str | None
    #: what happened: "signed_in", "linked" or "created"
    outcome: str


def return_allowed(target: str, origin: str, return_urls: tuple[str, ...]) -> bool:
    """A path on this server, a URL of this origin, or a URL under one of ``return_urls``."""
    parts = urlsplit(target)
    if not parts.scheme and not parts.netloc:
        return target.startswith("/") and not target.startswith("//") and "\\" not in target
    if parts.scheme not in ("http", "https") or "\\" in target or "@" in parts.netloc:
        return False
    if f"{parts.scheme}://{parts.netloc}" == origin.rstrip("/"):
        return True
    for allowed in return_urls:
        a = urlsplit(allowed)
        if (parts.scheme, parts.netloc.lower()) != (a.scheme, a.netloc.lower()):
            continue
        prefix = (a.path or "/").rstrip("/")
        path = parts.path or "/"
        if path == prefix or path.startswith(prefix + "/"):
            return True
    return False


class OAuthService:
    def __init__(self, auth: AuthService, identities: IdentityRepository, challenges: ChallengeRepository,
                 secrets: Secrets, *, allow_private: bool) -> None:
        self.auth = auth
        self.identities = identities
        self.challenges = challenges
        self.secrets = secrets
        self.allow_private = allow_private
        self._clients: dict[str, ProviderClient] = {}

    def strategy(self, name: str) -> OAuthStrategyConfig:
        cfg = self.auth.config.oauth.get(name)
        if cfg is None and name in ("password", "passkey"):
            raise NotFound(f"{name!r} is not an OAuth strategy: see its own routes",
                           context={"strategy": name})
        if cfg is None:
            raise NotFound(f"No OAuth strategy {name!r} is configured",
                           context={"strategy": name, "setting": f"auth.strategies.{name}"})
        if not cfg.enabled:
            raise NotFound(f"The strategy {name!r} is disabled", context={"strategy": name})
        return cfg

    def client(self, cfg: OAuthStrategyConfig) -> ProviderClient:
        from nodebase.auth.oauth_providers import ProviderClient  # Authlib etc.: on first use

        current = self._clients.get(cfg.name)
        if current is None or current.cfg != cfg:
            current = self._clients[cfg.name] = ProviderClient(cfg, allow_private=self.allow_private)
        return current

    @staticmethod
    def _purpose(name: str) -> str:
        return f"oauth:{name}"

    async def begin(self, name: str, action: str, redirect_uri: str, return_to: str | None,
                    mode: str) -> Begun:
        cfg = self.strategy(name)
        if action not in ACTIONS:
            raise NotFound(f"Unknown action {action!r}: use login or register", context={"action": action})
        auth = await self.client(cfg).authorization(redirect_uri)
        await self.challenges.add(Challenge(
            auth.state, self._purpose(name), None,
            {"verifier": auth.verifier, "nonce": auth.nonce, "action": action, "redirect_uri": redirect_uri,
             "return_to": return_to, "mode": mode},
            time.time() + cfg.state_ttl))
        return Begun(auth.url, auth.state, action)

    async def finish(self, name: str, params: Mapping[str, str], bound_state: str | None) -> Finished:
        """Check a callback (``params``: its query) against the state bound to the caller."""
        cfg = self.strategy(name)
        state = params.get("state")
        if not state:
            raise OAuthError("The callback has no state parameter", context={"reason": "state"})
        if not bound_state or not hmac.compare_digest(state.encode(), bound_state.encode()):
            raise OAuthError("The state does not match the sign-in this browser started "
                             "(tampered with, or started elsewhere): start the sign-in again",
                             context={"reason": "state"})
        flow = await self.challenges.take(state, self._purpose(name))
        if flow is None:
            raise OAuthError("The sign-in state is unknown, expired or already used: start the sign-in again",
                             context={"reason": "state"})
        if params.get("error"):
            description = params.get("error_description")
            raise OAuthError(f"The provider did not sign you in ({params['error']}"
                             + (f": {description}" if description else "") + ")",
                             status=401, context={"reason": "provider", "provider_error": params["error"]})
        if cfg.protocol == "oidc" and params.get("iss") and params["iss"] != cfg.issuer:
            raise OAuthError("The callback comes from another issuer (mix-up)", context={"reason": "iss"})
        code = params.get("code")
        if not code:
            raise OAuthError("The callback has no code parameter", context={"reason": "code"})
        secret = self.secrets.text(cfg.secret_name)
        profile = await self.client(cfg).profile(code, flow.data["verifier"], flow.data.get("nonce"),
                                                 flow.data["redirect_uri"], secret)
        user, outcome = await self.resolve(cfg, profile)
        session = await self.auth.session_for(user)
        return Finished(session, flow.data.get("mode", "cookie"), flow.data.get("return_to"), outcome)

    async def resolve(self, cfg: OAuthStrategyConfig, profile: Profile) -> tuple[UserAuth, str]:
        users = self.auth.users
        linked = await self.identities.get(cfg.name, profile.subject)
        if linked is not None:
            user = await users.by_id(self.auth.users_pk(linked.user_id))
            if user is not None:
                return user, "signed_in"
            await self.identities.delete(cfg.name, profile.subject)  # its user was deleted
        if not profile.email:
            raise OAuthError(f"{cfg.name} gave no e-mail address for this account (grant the e-mail scope)",
                             status=403, context={"reason": "no_email", "strategy": cfg.name})
        try:
            email = normalise_email(profile.email)
        except ValidationFailed:
            raise OAuthError(f"{cfg.name} gave an e-mail address nodebase cannot use",
                             status=403, context={"reason": "bad_email", "strategy": cfg.name}) from None
        existing = await users.by_email(email)
        if not profile.email_verified:
            if existing is not None:
                raise OAuthError(
                    f"An account with this e-mail exists, but {cfg.name} does not say the e-mail is verified: "
                    "it is not linked. Verify the address at the provider, or sign in another way",
                    status=403, context={"reason": "email_not_verified", "strategy": cfg.name,
                                         "existing_account": True})
            raise OAuthError(f"{cfg.name} does not say this e-mail is verified: no account is created",
                             status=403, context={"reason": "email_not_verified", "strategy": cfg.name,
                                                  "existing_account": False})
        if existing is not None:
            other = await self.identities.of_user(cfg.name, str(existing.id))
            if other is not None:
                raise Conflict(f"This account is already linked to another {cfg.name} account",
                               context={"reason": "already_linked", "strategy": cfg.name})
            await self.identities.add(Identity(cfg.name, profile.subject, str(existing.id), email, time.time()))
            if existing.password_hash is not None:
                await users.set_password(existing.id, None)  # see the module docstring (3.)
            self.auth.forget_credentials()
            fresh = await users.by_id(existing.id)
            assert fresh is not None
            return fresh, "linked"
        if not (self.auth.config.allow_register and cfg.allow_register):
            raise Forbidden("Registration is disabled: no account is created",
                            context={"setting": f"auth.strategies.{cfg.name}.config.allow_register"
                                     if not cfg.allow_register else "auth.allow_register"})
        role = cfg.default_role or self.auth.config.default_role_register
        row = await self.auth.create_external_user(email, cfg.name, role)
        await self.identities.add(Identity(cfg.name, profile.subject, str(row["id"]), email, time.time()))
        user = await users.by_id(self.auth.users_pk(row["id"]))
        assert user is not None
        return user, "created"

