"""JWTs, the signed ``auth`` cookie, the secret they use, and the verified-token cache.

* Token: HS256 (or HS384/HS512) JWT with the configured user fields (default ``id``, ``email``,
  ``role``), ``iat``, ``exp`` (always) and ``tv``, the user's token version: changing the
  password bumps the version, which invalidates every older token.
* Cookie: ``auth=<jwt>.<base64(HMAC-SHA256(secret, jwt))>``, URL-encoded: Hono's
  ``setSignedCookie`` format, so cookies signed by bknd with the same secret interoperate.
* Secret: 64 random bytes (hex) generated on first start into ``<data_dir>/auth_secret``
  (mode 0600), or ``NODEBASE_AUTH_SECRET``. It is never logged nor returned by any route.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote, unquote

import jwt

from nodebase.auth.config import JwtConfig

SECRET_FILE = "auth_secret"
SECRET_ENV = "NODEBASE_AUTH_SECRET"


def load_or_create_secret(data_dir: Path, env: dict[str, str] | None = None) -> bytes:
    """The signing secret: from the environment, else the data dir file (created once, 0600)."""
    env = os.environ if env is None else env  # type: ignore[assignment]
    assert env is not None
    from_env = env.get(SECRET_ENV)
    if from_env:
        if len(from_env) < 32:
            raise RuntimeError(f"{SECRET_ENV} must be at least 32 characters")
        return from_env.encode()
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_hex(32).encode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process won the race: read theirs
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(value)
    value = path.read_bytes().strip()
    if len(value) < 32:
        raise RuntimeError(f"the auth secret in {path} is too short (remove the file to regenerate it)")
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return value


class TokenError(Exception):
    """A token was refused; the message says why (never the token itself)."""


class Tokens:
    def __init__(self, secret: bytes, cfg: JwtConfig) -> None:
        self._secret = secret
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
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
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
            raise TokenError("the token's signature is invalid") from None
        except jwt.PyJWTError as exc:
            raise TokenError(f"the token is invalid ({type(exc).__name__})") from None
        return claims

    # -- cookie (Hono's signed-cookie format) ---------------------------------------------
    def _sig(self, value: str) -> str:
        mac = hmac.new(self._secret, value.encode(), hashlib.sha256).digest()
        return base64.b64encode(mac).decode()

    def sign_cookie(self, token: str) -> str:
        return quote(f"{token}.{self._sig(token)}", safe="")

    def unsign_cookie(self, raw: str) -> str:
        value = unquote(raw)
        token, dot, sig = value.rpartition(".")
        if not dot or not token:
            raise TokenError("the auth cookie is malformed")
        if not hmac.compare_digest(sig.encode(), self._sig(token).encode()):
            raise TokenError("the auth cookie's signature is invalid")
        return token

    # -- device cookie (OWASP: "slow down online guessing attacks with device cookies") ----
    def _device_mac(self, account: str, nonce: str) -> str:
        mac = hmac.new(self._secret, f"nodebase-device\0{account}\0{nonce}".encode(), hashlib.sha256)
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
        return nonce if hmac.compare_digest(mac.encode(), self._device_mac(account, nonce).encode()) else None


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
