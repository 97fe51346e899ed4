"""The permission names (bknd's, reference §2.3) and any a module adds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Permission:
    name: str
    filterable: bool = False
    description: str = ""


BKND_PERMISSIONS = [
    Permission("data.entity.read", True),
    Permission("data.entity.create", True),
    Permission("data.entity.update", True),
    Permission("data.entity.delete", True),
    Permission("data.database.sync"),
    Permission("data.raw.query"),
    Permission("data.raw.mutate"),
    Permission("auth.user.create"),
    Permission("auth.user.password.change"),
    Permission("auth.user.password.test"),
    Permission("auth.user.token.create"),
    Permission("media.file.read"),
    Permission("media.file.list"),
    Permission("media.file.upload"),
    Permission("media.file.delete"),
    Permission("system.access.admin"),
    Permission("system.access.api"),
    Permission("system.config.read"),
    Permission("system.config.read.secrets"),
    Permission("system.config.write"),
    Permission("system.schema.read"),
    Permission("system.build"),
    Permission("system.mcp"),
    Permission("system.info"),
    Permission("system.openapi"),
]


class PermissionRegistry:
    def __init__(self) -> None:
        self._perms: dict[str, Permission] = {p.name: p for p in BKND_PERMISSIONS}

    def add(self, perm: Permission) -> None:
        self._perms[perm.name] = perm

    def __contains__(self, name: object) -> bool:
        return name in self._perms

    def names(self) -> list[str]:
        return list(self._perms)

    def describe(self) -> list[dict[str, Any]]:
        out = []
        for p in self._perms.values():
            d: dict[str, Any] = {"name": p.name}
            if p.filterable:
                d["filterable"] = True
                d["context"] = {"entity": "string", "id": "string?"}
            out.append(d)
        return out
