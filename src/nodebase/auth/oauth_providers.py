"""Talking to OAuth2 / OpenID Connect providers: the protocol half of OAuth sign-in.

* OpenID Connect (a generic issuer, Google): discovery (``/.well-known/openid-configuration``,
  whose ``issuer`` must equal the configured one), the authorization request (code flow,
  PKCE S256, ``state``, ``nonce``), the code exchange, and the ID token: its signature is
  checked against the provider's JWKS (joserfc, asymmetric algorithms only; the JWKS is
  fetched again once for an unknown key id) and its claims by Authlib's ``CodeIDToken``
  (``iss``, ``aud``, ``exp``, ``iat``, ``nonce``, ``azp``, ``at_hash``). Without an
  ``email`` claim the userinfo endpoint is asked (its ``sub`` must match).
* GitHub (OAuth2): the code exchange, ``/user`` (the numeric id is the subject) and
  ``/user/emails``: the e-mail is the primary one if verified, else another verified one; an
  unverified address is returned as unverified, never as verified.

Every request goes through :func:`nodebase.kernel.outbound.fetch` (no private addresses unless
``fetch_allow_private``; bounded size and time). Nothing here knows users or HTTP routes.
Imported on the first OAuth sign-in only (Authlib, joserfc and httpx cost ~0.3 s of start).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import ClaimError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from nodebase.auth.oauth import OAuthError, Profile
from nodebase.auth.oauth_config import OAuthStrategyConfig
from nodebase.kernel import jsonutil
from nodebase.kernel.outbound import OutboundRefused, OutboundResponse, fetch

METADATA_TTL = 3600.0
GITHUB_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


@dataclass(frozen=True)
class Authorization:
    """What starting a sign-in produced: the provider URL and what the callback must check."""

    url: str
    state: str
    verifier: str
    nonce: str | None


def _truthy(value: Any) -> bool:
    """``email_verified`` as a boolean (some providers send the string "true")."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def select_github_email(emails: Any, public_email: Any = None) -> tuple[str | None, bool]:
    """The e-mail to use from GitHub's ``/user/emails`` answer, and whether it is verified.

    The primary address if verified, else the first verified one; otherwise the primary (or
    the public profile address) marked unverified; ``(None, False)`` when there is none.
    """
    items = [e for e in emails if isinstance(e, dict) and isinstance(e.get("email"), str)] \
        if isinstance(emails, list) else []
    for e in items:
        if e.get("primary") is True and e.get("verified") is True:
            return e["email"], True
    for e in items:
        if e.get("verified") is True:
            return e["email"], True
    for e in items:
        if e.get("primary") is True:
            return e["email"], False
    if isinstance(public_email, str) and public_email:
        return public_email, False
    return None, False


def _json(resp: OutboundResponse, what: str) -> Any:
    try:
        return jsonutil.loads(resp.body, what=what)
    except Exception:
        raise OAuthError(f"The provider's {what} is not JSON (HTTP {resp.status})", status=502,
                         context={"step": what, "status": resp.status}) from None


class ProviderClient:
    """One strategy's provider: metadata and keys cached, requests through outbound.fetch."""

    def __init__(self, cfg: OAuthStrategyConfig, *, allow_private: bool, timeout: float = 10.0) -> None:
        self.cfg = cfg
        self.allow_private = allow_private
        self.timeout = timeout
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: dict[str, Any] | None = None

    async def _fetch(self, method: str, url: str, step: str, *, headers: Mapping[str, str] | None = None,
                     body: bytes | None = None) -> OutboundResponse:
        try:
            return await fetch(method, url, headers=headers, body=body, timeout=self.timeout,
                               max_bytes=1_000_000, allow_private=self.allow_private, max_redirects=0)
        except OutboundRefused as exc:
            raise OAuthError(f"The provider could not be reached for the {step}: {exc.message}", status=502,
                             context={"step": step, "reason": exc.reason}) from None

    # -- OpenID Connect metadata -----------------------------------------------------------
    async def metadata(self) -> dict[str, Any]:
        if self._metadata is not None and time.monotonic() - self._metadata_at < METADATA_TTL:
            return self._metadata
        issuer = self.cfg.issuer or ""
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        resp = await self._fetch("GET", url, "discovery", headers={"Accept": "application/json"})
        doc = _json(resp, "discovery") if resp.status == 200 else None
        if not isinstance(doc, dict):
            raise OAuthError(f"The provider's discovery document could not be read (HTTP {resp.status})",
                             status=502, context={"step": "discovery", "url": url})
        if doc.get("issuer") != issuer:
            raise OAuthError("The discovery document names another issuer", status=502,
                             context={"step": "discovery", "expected": issuer, "got": doc.get("issuer")})
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(doc.get(key), str):
                raise OAuthError(f"The discovery document has no {key}", status=502,
                                 context={"step": "discovery"})
        self._metadata, self._metadata_at, self._jwks = doc, time.monotonic(), None
        return doc

    async def _keys(self, force: bool = False) -> KeySet:
        if self._jwks is None or force:
            meta = await self.metadata()
            resp = await self._fetch("GET", meta["jwks_uri"], "jwks", headers={"Accept": "application/json"})
            doc = _json(resp, "jwks")
            if resp.status != 200 or not isinstance(doc, dict):
                raise OAuthError(f"The provider's keys could not be read (HTTP {resp.status})", status=502,
                                 context={"step": "jwks"})
            self._jwks = doc
        try:
            return KeySet.import_key_set(self._jwks)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise OAuthError(f"The provider's keys are invalid: {exc}", status=502,
                             context={"step": "jwks"}) from None

    # -- the authorization request -------------------------------------------------------------
    async def authorization(self, redirect_uri: str) -> Authorization:
        cfg = self.cfg
        state, verifier = generate_token(43), generate_token(64)
        params = {"response_type": "code", "client_id": cfg.client_id, "redirect_uri": redirect_uri,
                  "scope": " ".join(cfg.scopes), "state": state,
                  "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"}
        nonce = None
        if cfg.protocol == "oidc":
            endpoint = (await self.metadata())["authorization_endpoint"]
            nonce = generate_token(32)
            params["nonce"] = nonce
        else:
            endpoint = f"{cfg.base_url}/login/oauth/authorize"
        sep = "&" if "?" in endpoint else "?"
        return Authorization(endpoint + sep + urlencode(params), state, verifier, nonce)

    # -- the callback ------------------------------------------------------------------------
    async def _exchange(self, token_endpoint: str, code: str, verifier: str, redirect_uri: str,
                        secret: str | None) -> dict[str, Any]:
        cfg = self.cfg
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": verifier}
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        if cfg.auth_method == "client_secret_basic" and secret is not None:
            pair = f"{quote(cfg.client_id, safe='')}:{quote(secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form["client_id"] = cfg.client_id
            if cfg.auth_method == "client_secret_post" and secret is not None:
                form["client_secret"] = secret
        resp = await self._fetch("POST", token_endpoint, "token", headers=headers, body=urlencode(form).encode())
        doc = _json(resp, "token response")
        if not isinstance(doc, dict):
            raise OAuthError("The provider's token response is not an object", status=502,
                             context={"step": "token"})
        if resp.status != 200 or "error" in doc or not isinstance(doc.get("access_token"), str):
            error = str(doc.get("error") or f"HTTP {resp.status}")
            description = doc.get("error_description")
            raise OAuthError(
                f"The provider refused the authorization code ({error}"
                + (f": {description}" if isinstance(description, str) else "") + ")",
                status=401, context={"step": "token", "provider_error": error})
        return doc

    async def profile(self, code: str, verifier: str, nonce: str | None, redirect_uri: str,
                      secret: str | None) -> Profile:
        """Exchange the code and find out who signed in."""
        if self.cfg.protocol == "oidc":
            return await self._oidc_profile(code, verifier, nonce, redirect_uri, secret)
        return await self._github_profile(code, verifier, redirect_uri, secret)

    async def _oidc_profile(self, code: str, verifier: str, nonce: str | None, redirect_uri: str,
                            secret: str | None) -> Profile:
        meta = await self.metadata()
        tokens = await self._exchange(meta["token_endpoint"], code, verifier, redirect_uri, secret)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OAuthError("The provider's token response has no ID token", status=401,
                             context={"step": "id_token"})
        claims = await self.verify_id_token(id_token, nonce, tokens["access_token"])
        email, verified = claims.get("email"), _truthy(claims.get("email_verified"))
        name = claims.get("name")
        if not isinstance(email, str) and isinstance(meta.get("userinfo_endpoint"), str):
            info = await self._userinfo(meta["userinfo_endpoint"], tokens["access_token"])
            if info.get("sub") != claims["sub"]:
                raise OAuthError("The userinfo answer is for another subject than the ID token",
                                 status=401, context={"step": "userinfo"})
            email, verified, name = info.get("email"), _truthy(info.get("email_verified")), info.get("name")
        return Profile(str(claims["sub"]), email if isinstance(email, str) else None, verified,
                       name if isinstance(name, str) else None)

    async def verify_id_token(self, id_token: str, nonce: str | None, access_token: str | None) -> dict[str, Any]:
        """The ID token's claims, once its signature and claims are checked (else 401)."""
        meta = await self.metadata()
        algs = [a for a in meta.get("id_token_signing_alg_values_supported") or ["RS256"]
                if isinstance(a, str) and a != "none" and not a.startswith("HS")]
        registry = JWSRegistry(algorithms=algs or ["RS256"], strict_check_header=False)
        try:
            try:
                token = jwt.decode(id_token, await self._keys(), registry=registry)
            except InvalidKeyIdError:  # the provider rotated its keys
                token = jwt.decode(id_token, await self._keys(force=True), registry=registry)
            params: dict[str, Any] = {"nonce": nonce, "client_id": self.cfg.client_id}
            if access_token:
                params["access_token"] = access_token
            claims = CodeIDToken(token.claims, token.header,
                                 {"iss": {"essential": True, "value": meta["issuer"]},
                                  "aud": {"essential": True, "value": self.cfg.client_id}}, params)
            claims.validate(leeway=60)
        except ClaimError as exc:
            raise OAuthError(f"The ID token was refused: its {exc.claim!r} claim is wrong or missing "
                             f"({exc.description})", status=401,
                             context={"step": "id_token", "claim": exc.claim}) from None
        except (JoseError, ValueError) as exc:
            raise OAuthError(f"The ID token was refused: {exc}", status=401,
                             context={"step": "id_token"}) from None
        return dict(claims)

    async def _userinfo(self, url: str, access_token: str) -> dict[str, Any]:
        resp = await self._fetch("GET", url, "userinfo",
                                 headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"})
        doc = _json(resp, "userinfo")
        if resp.status != 200 or not isinstance(doc, dict):
            raise OAuthError(f"The provider's userinfo answer could not be read (HTTP {resp.status})",
                             status=502, context={"step": "userinfo"})
        return doc

    async def _github_profile(self, code: str, verifier: str, redirect_uri: str,
                              secret: str | None) -> Profile:
        cfg = self.cfg
        tokens = await self._exchange(f"{cfg.base_url}/login/oauth/access_token", code, verifier,
                                      redirect_uri, secret)
        return await self.github_user(tokens["access_token"])

    async def github_user(self, access_token: str) -> Profile:
        """GitHub's ``/user`` and ``/user/emails`` for an access token."""
        headers = {**GITHUB_HEADERS, "Authorization": f"Bearer {access_token}"}
        resp = await self._fetch("GET", f"{self.cfg.api_url}/user", "user", headers=headers)
        user = _json(resp, "user")
        if resp.status != 200 or not isinstance(user, dict) or not isinstance(user.get("id"), int):
            raise OAuthError(f"GitHub's /user answer could not be read (HTTP {resp.status})", status=502,
                             context={"step": "user"})
        emails_resp = await self._fetch("GET", f"{self.cfg.api_url}/user/emails", "emails", headers=headers)
        # without the user:email scope GitHub answers 403/404: no verified address then
        emails = _json(emails_resp, "emails") if emails_resp.status == 200 else []
        email, verified = select_github_email(emails, user.get("email"))
        name = user.get("name") or user.get("login")
        return Profile(str(user["id"]), email, verified, name if isinstance(name, str) else None)


__all__ = ["Authorization", "OAuthError", "Profile", "ProviderClient", "select_github_email"]
