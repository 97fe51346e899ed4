"""Password hashing (argon2id) and the checks on what a user may choose.

Hashing takes tens of milliseconds of CPU by design, so it runs on a small dedicated thread
pool (argon2's C code releases the GIL) and never blocks the event loop. Verifying against an
unknown user still hashes (against a fixed dummy hash) so both cases take the same time.
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from nodebase.kernel.errors import ValidationFailed

_hasher = PasswordHasher()  # argon2id, RFC 9106 "low memory" profile (t=3, m=64 MiB, p=4)
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="nodebase-argon2")
_dummy: list[str] = []  # computed on first use: hashing at import would slow cold start

# Pragmatic e-mail form: local@domain.tld, no spaces, one @, a dot in the domain.
_EMAIL = re.compile(r"^[^\s@]{1,64}@[^\s@.]+(\.[^\s@.]+)+$")
MAX_EMAIL = 254


def normalise_email(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed('Field "email" is required', context={"field": "email"})
    email = value.strip().lower()
    if len(email) > MAX_EMAIL or not _EMAIL.match(email):
        raise ValidationFailed('Field "email" must be an e-mail address such as name@example.com',
                               context={"field": "email"})
    return email


def check_password(value: object, min_length: int, max_length: int, field: str = "password") -> str:
    if not isinstance(value, str) or value == "":
        raise ValidationFailed(f'Field "{field}" is required', context={"field": field})
    if len(value) < min_length:
        raise ValidationFailed(f'Field "{field}" must be at least {min_length} characters',
                               context={"field": field, "minLength": min_length})
    if len(value) > max_length:
        raise ValidationFailed(f'Field "{field}" must be at most {max_length} characters',
                               context={"field": field, "maxLength": max_length})
    return value


async def hash_password(password: str) -> str:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool, _hasher.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    if stored is None and not _dummy:
        _dummy.append(_hasher.hash("nodebase-timing-equaliser"))
    try:
        return _hasher.verify(stored or _dummy[0], password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored``; with ``stored=None`` burns the same time."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool, _verify, stored, password)


def hash_password_sync(password: str) -> str:
    return _hasher.hash(password)
