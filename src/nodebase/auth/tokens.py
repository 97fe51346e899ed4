"""JWTs, the signed ``auth`` cookie, the secret they use, and the verified-token cache.

* Token: HS256 (or HS384/HS512) JWT with the configured user fields (default ``id``, ``email``,
  ``role``), ``iat``, ``exp`` (always) and ``tv``, the user's token version: changing the
  password bumps the version, which invalidates every older token.
* Cookie: ``auth=<jwt>.<base64(HMAC-SHA256(secret, jwt))>``, URL-encoded: Hono's
  ``setSignedCookie`` format, so cookies signed by bknd with the same secret interoperate.
* Secret: the ``auth_signing_key`` of the node's secret provider (nodebase.kernel.secrets:
  by default 64 random hex characters generated on first start into ``<data_dir>/auth_secret``,
  mode 0600; or ``NODEBASE_AUTH_SECRET``; or the ``NODEBASE_SECRETS_COMMAND`` agent). It is
  never logged nor returned by any route. After a rotation the previous key still verifies
  (tokens and cookies it signed stay valid until they expire); only the current key signs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote, unquote

import jwt

from nodebase.auth.config import JwtConfig

_BAD_SIGNATURE = "the token's signature is invalid"


class TokenError(Exception):
    """A token was refused; the message says why (never the token itself)."""


class Tokens:
    def __init__(self, secret: bytes, cfg: JwtConfig, previous: Sequence[bytes] = ()) -> None:
        self._secret = secret
        #: keys that verify but no longer sign (the one before the last rotation)
        self._previous = tuple(previous)
        self.cfg = cfg

    def issue(self, user: dict[str, Any], version: int) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {f: user.get(f) for f in self.cfg.fields}
        payload.update(iat=now, exp=now + self.cfg.expires, tv=version)
        if self.cfg.issuer:
            payload["iss"] = self.cfg.issuer
        return jwt.encode(payload, self._secret, algorithm=self.cfg.alg)

    def decode(self, token: str) -> dict[str, Any]:
        try:
            return self._decode(token, self._secret)
        except TokenError as exc:
            if str(exc) != _BAD_SIGNATURE or not self._previous:
                raise
        for key in self._previous:  # signed before the last rotation?
            try:
                return self._decode(token, key)
            except TokenError as exc:
                if str(exc) != _BAD_SIGNATURE:
                    raise
        raise TokenError(_BAD_SIGNATURE)

    def _decode(self, token: str, key: bytes) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[self.cfg.alg],
                issuer=self.cfg.issuer or None,
                options={"require": ["exp", "iat", "id"]},
                leeway=5,
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("the token has expired") from None
        except jwt.InvalidAlgorithmError:
            raise TokenError("the token's algorithm is not accepted") from None
        except jwt.InvalidSignatureError:
            raise TokenError(_BAD_SIGNATURE) from None
        except jwt.PyJWTError as exc:
            raise TokenError(f"the token is invalid ({type(exc).__name__})") from None
        return claims

    # -- cookie (Hono's signed-cookie format) ---------------------------------------------
    def _sig(self, value: str, key: bytes | None = None) -> str:
        mac = hmac.new(key or self._secret, value.encode(), hashlib.sha256).digest()
        return base64.b64encode(mac).decode()

    def sign_cookie(self, token: str) -> str:
        return quote(f"{token}.{self._sig(token)}", safe="")

    def unsign_cookie(self, raw: str) -> str:
        value = unquote(raw)
        token, dot, sig = value.rpartition(".")
        if not dot or not token:
            raise TokenError("the auth cookie is malformed")
        if not any(hmac.compare_digest(sig.encode(), self._sig(token, key).encode())
                   for key in (self._secret, *self._previous)):
            raise TokenError("the auth cookie's signature is invalid")
        return token

    def mac(self, label: str, value: str) -> str:
        """An HMAC of ``value`` for one use (``label``), e.g. the OAuth state cookie."""
        mac = hmac.new(self._secret, f"nodebase-{label}\0{value}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")

    # -- device cookie (OWASP: "slow down online guessing attacks with device cookies") ----
    def _device_mac(self, account: str, nonce: str, key: bytes | None = None) -> str:
        mac = hmac.new(key or self._secret, f"nodebase-device\0{account}\0{nonce}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")

    def sign_device(self, account: str) -> str:
        """A device cookie value for ``account`` (an e-mail): ``<nonce>.<HMAC>``."""
        nonce = secrets.token_urlsafe(12)
        return f"{nonce}.{self._device_mac(account, nonce)}"

    def device_nonce(self, raw: str | None, account: str) -> str | None:
        """The nonce of a device cookie issued for ``account``; None for anything else."""
        nonce, dot, mac = (raw or "").partition(".")
        if not dot or not nonce or len(raw or "") > 200:
            return None
        ok = any(hmac.compare_digest(mac.encode(), self._device_mac(account, nonce, key).encode())
                 for key in (self._secret, *self._previous))
        return nonce if ok else None


V = TypeVar("V")


@dataclass
class _Entry(Generic[V]):
    value: V
    expires: float  # when the credential itself expires (epoch seconds)
    checked: float  # when it was last checked against the database (monotonic)


class VerifiedCache(Generic[V]):
    """A small LRU of verified credentials: a hit costs a dict lookup and two comparisons.

    An entry is served while the credential has not expired and was checked against the
    database less than ``revalidate`` seconds ago (so a password change, revocation or role
    change made by another process takes effect within that time; in this process, at once,
    because the service clears the cache).
    """

    def __init__(self, maxsize: int = 4096) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[str, _Entry[V]] = OrderedDict()

    def get(self, key: str, revalidate: float) -> V | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if time.time() >= entry.expires or time.monotonic() - entry.checked >= revalidate:
            self._data.pop(key, None)
            return None
        self._data.move_to_end(key)
        return entry.value

    def put(self, key: str, value: V, expires: float) -> None:
        self._data[key] = _Entry(value, expires, time.monotonic())
        self._data.move_to_end(key)
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
