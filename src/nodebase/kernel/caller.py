"""Who is calling, and the permission check every module asks before acting.

The Auth module resolves a :class:`Caller` from a request and installs a real
:class:`Guard`; without it, :class:`OpenGuard` allows everything (bknd's guard-off mode).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from nodebase.kernel.errors import Forbidden


@dataclass(frozen=True)
class Caller:
    user: dict[str, Any] | None = None
    role: str | None = None
    via: str = "anonymous"  # anonymous | jwt | cookie | apikey | system
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> Any:
        return self.user.get("id") if self.user else None

    @property
    def is_system(self) -> bool:
        return self.via == "system"


ANONYMOUS = Caller()
SYSTEM = Caller(via="system", role="admin")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    #: row filter (a where-document) to AND into the query, already resolved for the caller
    filter: dict[str, Any] | None = None
    reason: str = ""


ALLOW = Decision(True)


class Guard(Protocol):
    def check(self, caller: Caller, permission: str, context: dict[str, Any] | None = None) -> Decision: ...


class OpenGuard:
    def check(self, caller: Caller, permission: str, context: dict[str, Any] | None = None) -> Decision:
        return ALLOW


def require(guard: Guard, caller: Caller, permission: str, context: dict[str, Any] | None = None) -> Decision:
    """Check and raise 403 (bknd's PermissionsException shape) when not allowed."""
    decision = guard.check(caller, permission, context)
    if not decision.allowed:
        role = caller.role or "anonymous"
        raise Forbidden(
            f'Permission "{permission}" not granted',
            context=dict(context or {}),
            extra={
                "description": decision.reason or f'Role "{role}" does not have required permission',
                "permission": permission,
            },
        )
    return decision
