"""Passkeys (WebAuthn) with py_webauthn: registration for a signed-in user, sign-in by e-mail
(``allowCredentials``) or with a discoverable credential, and managing one's passkeys.

Challenges are random 32-byte values stored in the database with their purpose, the user they
were issued for and an expiry; verifying takes the challenge out (single use, shared by every
process). The signature counter is checked by the verifier and stored with a compare-and-set,
so two concurrent sign-ins with the same counter value cannot both succeed.
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from nodebase.auth.config import PasskeyConfig
from nodebase.auth.repository import (
    Challenge,
    ChallengeRepository,
    Passkey,
    PasskeyRepository,
    UserAuth,
)
from nodebase.kernel import jsonutil
from nodebase.kernel.errors import BadRequest, NotFound, Unauthorized, ValidationFailed

REGISTER = "passkey.register"
LOGIN = "passkey.login"


def b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


class PasskeyError(BadRequest):
    type = "PasskeyException"


def _client_challenge(credential: Any) -> str:
    """The challenge inside the credential's clientDataJSON (to find what we issued)."""
    try:
        response = credential["response"]
        client_data = jsonutil.loads(b64url_decode(response["clientDataJSON"]), what="clientDataJSON")
        challenge = client_data["challenge"]
        if not isinstance(challenge, str) or not challenge:
            raise ValueError
        return challenge
    except Exception:
        raise PasskeyError("The credential is malformed: response.clientDataJSON with a challenge "
                           "is required", context={"field": "credential"}) from None


def _transports(values: Any) -> list[AuthenticatorTransport]:
    out = []
    for v in values or []:
        try:
            out.append(AuthenticatorTransport(v))
        except ValueError:
            continue
    return out


class PasskeyService:
    def __init__(self, passkeys: PasskeyRepository, challenges: ChallengeRepository) -> None:
        self.passkeys = passkeys
        self.challenges = challenges

    # -- relying party ---------------------------------------------------------------------
    @staticmethod
    def rp(cfg: PasskeyConfig, request_origin: str) -> tuple[str, list[str]]:
        """RP id and accepted origins: configured, else this request's host and origin."""
        origins = list(cfg.origins) or [request_origin.rstrip("/")]
        rp_id = cfg.rp_id or (urlsplit(origins[0]).hostname or "localhost")
        return rp_id, origins

    def _enabled(self, cfg: PasskeyConfig) -> None:
        if not cfg.enabled:
            raise NotFound("The passkey strategy is disabled", context={"strategy": "passkey"})

    # -- registration (signed-in user) -----------------------------------------------------
    async def registration_options(self, cfg: PasskeyConfig, user: UserAuth, origin: str) -> dict[str, Any]:
        self._enabled(cfg)
        rp_id, _ = self.rp(cfg, origin)
        existing = await self.passkeys.for_user(str(user.id))
        handle = b64url_decode(existing[0].user_handle) if existing else secrets.token_bytes(32)
        options = generate_registration_options(
            rp_id=rp_id,
            rp_name=cfg.rp_name,
            user_name=user.email,
            user_display_name=user.email,
            user_id=handle,
            timeout=cfg.timeout,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement(cfg.resident_key),
                user_verification=UserVerificationRequirement(cfg.user_verification),
            ),
            exclude_credentials=[
                PublicKeyCredentialDescriptor(id=b64url_decode(p.credential_id), transports=_transports(p.transports))
                for p in existing
            ],
        )
        challenge = bytes_to_base64url(options.challenge)
        await self.challenges.add(Challenge(
            challenge, REGISTER, str(user.id), {"user_handle": bytes_to_base64url(handle)},
            time.time() + cfg.challenge_ttl))
        return jsonutil.loads(options_to_json(options), what="options")

    async def register(self, cfg: PasskeyConfig, user: UserAuth, credential: Any, name: Any,
                       origin: str) -> Passkey:
        self._enabled(cfg)
        if not isinstance(credential, dict):
            raise PasskeyError('Field "credential" (the JSON of the new credential) is required',
                               context={"field": "credential"})
        if name is not None and (not isinstance(name, str) or len(name) > 100):
            raise ValidationFailed('Field "name" must be a string of at most 100 characters',
                                   context={"field": "name"})
        ch = await self.challenges.take(_client_challenge(credential), REGISTER)
        if ch is None or ch.user_id != str(user.id):
            raise PasskeyError("The challenge is unknown, expired or already used: ask for new options",
                               context={"field": "credential"})
        rp_id, origins = self.rp(cfg, origin)
        try:
            verified = verify_registration_response(
                credential=credential,
                expected_challenge=b64url_decode(ch.challenge),
                expected_rp_id=rp_id,
                expected_origin=origins,
                require_user_verification=cfg.user_verification == "required",
            )
        except Exception as exc:  # the verifier raises many types for untrusted input
            raise PasskeyError(f"The passkey could not be verified: {exc}", context={"field": "credential"}) from None
        credential_id = bytes_to_base64url(verified.credential_id)
        if await self.passkeys.by_credential(credential_id) is not None:
            raise PasskeyError("This passkey is already registered", context={"field": "credential"})
        transports = credential.get("response", {}).get("transports") or []
        pk = Passkey(
            id=secrets.token_hex(8), user_id=str(user.id), credential_id=credential_id,
            public_key=bytes_to_base64url(verified.credential_public_key), sign_count=verified.sign_count,
            transports=[t for t in transports if isinstance(t, str)][:10],
            user_handle=ch.data["user_handle"], name=(name or "").strip() or f"Passkey {time.strftime('%Y-%m-%d')}",
            aaguid=str(verified.aaguid), backed_up=bool(verified.credential_backed_up),
            device_type=str(getattr(verified.credential_device_type, "value", verified.credential_device_type)),
            created_at=time.time(), last_used_at=None,
        )
        await self.passkeys.add(pk)
        return pk

    # -- sign-in -----------------------------------------------------------------------------
    async def login_options(self, cfg: PasskeyConfig, user: UserAuth | None, origin: str) -> dict[str, Any]:
        """Options for sign-in; with ``user``, its credentials are listed (allowCredentials)."""
        self._enabled(cfg)
        rp_id, _ = self.rp(cfg, origin)
        allow = []
        if user is not None:
            allow = [
                PublicKeyCredentialDescriptor(id=b64url_decode(p.credential_id), transports=_transports(p.transports))
                for p in await self.passkeys.for_user(str(user.id))
            ]
        options = generate_authentication_options(
            rp_id=rp_id,
            timeout=cfg.timeout,
            allow_credentials=allow,
            user_verification=UserVerificationRequirement(cfg.user_verification),
        )
        challenge = bytes_to_base64url(options.challenge)
        await self.challenges.add(Challenge(challenge, LOGIN, str(user.id) if user else None, {},
                                            time.time() + cfg.challenge_ttl))
        return jsonutil.loads(options_to_json(options), what="options")

    async def authenticate(self, cfg: PasskeyConfig, credential: Any, origin: str) -> Passkey:
        """Verify an assertion; returns the passkey (whose ``user_id`` signs in)."""
        self._enabled(cfg)
        if not isinstance(credential, dict):
            raise PasskeyError('Field "credential" (the JSON of the assertion) is required',
                               context={"field": "credential"})
        ch = await self.challenges.take(_client_challenge(credential), LOGIN)
        if ch is None:
            raise PasskeyError("The challenge is unknown, expired or already used: ask for new options",
                               context={"field": "credential"})
        raw_id = credential.get("rawId") or credential.get("id")
        pk = await self.passkeys.by_credential(raw_id) if isinstance(raw_id, str) else None
        if pk is None:
            raise Unauthorized("This passkey is not registered (it may have been deleted)")
        if ch.user_id is not None and ch.user_id != pk.user_id:
            raise Unauthorized("This passkey belongs to another account")
        handle = (credential.get("response") or {}).get("userHandle")
        if handle and handle != pk.user_handle:
            raise Unauthorized("The passkey's user handle does not match its account")
        rp_id, origins = self.rp(cfg, origin)
        try:
            verified = verify_authentication_response(
                credential=credential,
                expected_challenge=b64url_decode(ch.challenge),
                expected_rp_id=rp_id,
                expected_origin=origins,
                credential_public_key=b64url_decode(pk.public_key),
                credential_current_sign_count=pk.sign_count,
                require_user_verification=cfg.user_verification == "required",
            )
        except Exception as exc:
            raise Unauthorized(f"The passkey sign-in could not be verified: {exc}") from None
        if not await self.passkeys.record_use(pk.id, pk.sign_count, verified.new_sign_count):
            raise Unauthorized("The passkey was used concurrently; try again")
        return pk

    # -- management --------------------------------------------------------------------------
    async def list(self, user: UserAuth) -> list[Passkey]:
        return await self.passkeys.for_user(str(user.id))

    async def rename(self, user: UserAuth, id: str, name: Any) -> Passkey:
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise ValidationFailed('Field "name" is required (at most 100 characters)', context={"field": "name"})
        if not await self.passkeys.rename(str(user.id), id, name.strip()):
            raise NotFound(f"No passkey with id {id!r}", context={"id": id})
        pk = await self.passkeys.get(str(user.id), id)
        assert pk is not None
        return pk

    async def delete(self, user: UserAuth, id: str) -> None:
        if not await self.passkeys.delete(str(user.id), id):
            raise NotFound(f"No passkey with id {id!r}", context={"id": id})
