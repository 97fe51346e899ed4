"""API keys for server-to-server calls.

A key is ``nbk_<id>_<43 random url-safe characters>`` (256 bits of entropy). Only its SHA-256
is stored (a slow hash adds nothing for a random 256-bit secret and would cost on every
request); the clear key is shown once, when created. A key carries a role, a name and an
optional expiry; it is sent as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import UTC, datetime

from nodebase.auth.repository import ApiKey, ApiKeyRepository
from nodebase.kernel.errors import NotFound, ValidationFailed

PREFIX = "nbk_"
#: expiries are shown as ISO date-times, which end with the year 9999
LATEST = datetime(9999, 12, 31, tzinfo=UTC).timestamp()


def looks_like_key(value: str) -> bool:
    return value.startswith(PREFIX)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_expiry(value: object, *, field: str = "expires_at") -> float | None:
    """``None``, an ISO-8601 date-time in the future, or seconds from now (``expires_in``)."""
    if value is None or value == "":
        return None
    now = time.time()
    if isinstance(value, bool):
        raise ValidationFailed(f'Field "{field}" must be a date-time or a number of seconds',
                               context={"field": field})
    if isinstance(value, int | float):
        at = now + float(value) if field == "expires_in" else float(value)
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationFailed(f'Field "{field}" must be an ISO-8601 date-time such as '
                                   "2030-01-01T00:00:00Z", context={"field": field}) from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        at = dt.timestamp()
    else:
        raise ValidationFailed(f'Field "{field}" must be a date-time or a number of seconds',
                               context={"field": field})
    if at <= now:
        raise ValidationFailed(f'Field "{field}" must be in the future', context={"field": field})
    if at >= LATEST:
        raise ValidationFailed(f'Field "{field}" must be before the year 10000', context={"field": field})
    return at


class ApiKeyService:
    def __init__(self, repo: ApiKeyRepository) -> None:
        self.repo = repo

    async def create(self, *, name: object, role: object, roles: set[str], expires_at: float | None,
                     created_by: str | None) -> tuple[str, ApiKey]:
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise ValidationFailed('Field "name" is required (at most 200 characters)', context={"field": "name"})
        if not isinstance(role, str) or role not in roles:
            raise ValidationFailed(f'Field "role" must be one of the configured roles {sorted(roles)}',
                                   context={"field": "role", "valid": sorted(roles)})
        id = secrets.token_hex(6)
        key = f"{PREFIX}{id}_{secrets.token_urlsafe(32)}"
        record = ApiKey(id=id, name=name.strip(), role=role, prefix=f"{PREFIX}{id}",
                        created_at=time.time(), expires_at=expires_at, revoked_at=None,
                        created_by=created_by)
        await self.repo.add(record, hash_key(key))
        return key, record

    async def list(self) -> list[ApiKey]:
        return await self.repo.all()

    async def revoke(self, id: str) -> ApiKey:
        record = await self.repo.revoke(id)
        if record is None:
            raise NotFound(f"No API key with id {id!r}", context={"id": id})
        return record

    async def lookup(self, key: str) -> ApiKey | None:
        """The active key record for ``key``; ``None`` when unknown, revoked or expired."""
        record = await self.repo.by_hash(hash_key(key))
        if record is None or record.revoked_at is not None:
            return None
        if record.expires_at is not None and record.expires_at <= time.time():
            return None
        return record
