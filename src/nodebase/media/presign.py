"""Node-signed URLs for local storage: HMAC-SHA256 over method, key, expiry and constraints.

The 32-byte secret is the ``media_signing_key`` of the node's secret provider
(nodebase.kernel.secrets; by default ``<data_dir>/.media-signing.key``, mode 0600, created on
first start, shared by every worker through the file). It is never part of any answer or config.
A URL carries ``expires`` (unix seconds) and ``signature`` (base64url); anything altered —
key, expiry, content type, method — or past its expiry is refused with 403.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import time

from nodebase.kernel.errors import Forbidden


class SignatureInvalid(Forbidden):
    type = "SignatureException"


class UrlSigner:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, method: str, key: str, expires: int, extra: str) -> str:
        msg = "\n".join((method.upper(), key, str(expires), extra)).encode()
        digest = hmac.new(self._secret, msg, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, method: str, key: str, expires_in: int, extra: str = "") -> tuple[int, str]:
        """→ (expires at, signature)."""
        expires = int(time.time()) + expires_in
        return expires, self._mac(method, key, expires, extra)

    def verify(self, method: str, key: str, expires: str | None, signature: str | None,
               extra: str = "") -> None:
        if not expires or not signature:
            raise SignatureInvalid("This URL is not signed", context={"key": key[:300]})
        exp = 0
        with contextlib.suppress(ValueError):
            exp = int(expires)
        expected = self._mac(method, key, exp, extra)
        if not exp or not hmac.compare_digest(expected.encode(), signature.encode()):
            raise SignatureInvalid("The URL signature does not match", context={"key": key[:300]})
        if exp < time.time():
            raise SignatureInvalid("The signed URL has expired", context={"key": key[:300]})
