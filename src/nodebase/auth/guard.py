"""Roles, permissions and policies: the guard every module asks (bknd's role config).

Role configuration (reference §2.3)::

    "roles": {
      "admin":  {"implicit_allow": true},
      "editor": {"permissions": ["data.entity.read", "data.entity.update"]},
      "author": {"is_default": true, "permissions": [
         {"permission": "data.entity.read", "effect": "allow", "policies": [
             {"condition": {"entity": "posts"}, "effect": "filter",
              "filter": {"owner_id": "@user.id"}}]}]}
    }

Evaluation of one permission for one role:

1. ``admin`` and the system caller are allowed everything.
2. No entry for the permission: allowed iff the role has ``implicit_allow``.
3. Otherwise the entry's ``effect`` (default ``allow``) is the starting outcome; each
   ``allow``/``deny`` policy whose condition holds (no condition = always) sets it, and a
   matching ``deny`` always wins.
4. If allowed, every ``filter`` policy whose condition holds adds its filter (placeholders
   resolved for the caller); several filters are ANDed. A filter that needs a value the caller
   does not have (``@user.id`` for an anonymous caller) denies instead of matching nothing.

Everything that can be precomputed is: a role's permission map is a dict, and an entry
without policies is a constant :class:`Decision`, so a check costs a few dict lookups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nodebase.auth.policy import Unresolved, check_query, has_placeholders, matches, resolve
from nodebase.kernel.caller import ALLOW, Caller, Decision

ADMIN = "admin"


@dataclass(frozen=True)
class Policy:
    effect: str  # allow | deny | filter
    condition: dict[str, Any] | None = None
    filter: dict[str, Any] | None = None
    condition_vars: bool = False
    filter_vars: bool = False

    def applies(self, ctx: dict[str, Any]) -> bool:
        if self.condition is None:
            return True
        cond = self.condition
        if self.condition_vars:
            try:
                cond = resolve(cond, ctx)
            except Unresolved:
                return False
        return matches(cond, ctx)


@dataclass(frozen=True)
class Entry:
    permission: str
    allow: bool
    gates: tuple[Policy, ...] = ()
    filters: tuple[Policy, ...] = ()

    @property
    def constant(self) -> Decision | None:
        if self.gates or self.filters:
            return None
        return ALLOW if self.allow else Decision(False, reason="the role denies this permission")


@dataclass
class Role:
    name: str
    implicit_allow: bool = False
    is_default: bool = False
    entries: dict[str, Entry] = field(default_factory=dict)
    constants: dict[str, Decision] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, entry in self.entries.items():
            const = entry.constant
            if const is not None:
                self.constants[name] = const


class RolesInvalid(Exception):
    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__(problems[0]["error"] if problems else "invalid roles")
        self.problems = problems


def _policy(raw: Any, path: str, filterable: bool, problems: list[dict[str, str]]) -> Policy | None:
    if not isinstance(raw, dict):
        problems.append({"path": path, "error": "a policy must be an object"})
        return None
    unknown = set(raw) - {"description", "condition", "effect", "filter"}
    if unknown:
        problems.append({"path": path, "error": f"unknown policy key(s) {sorted(unknown)}"})
    effect = raw.get("effect", "allow")
    if effect not in ("allow", "deny", "filter"):
        problems.append({"path": path + ".effect", "error": "effect must be allow, deny or filter"})
        return None
    condition = raw.get("condition")
    if condition is not None:
        for p in check_query(condition, path + ".condition"):
            problems.append({"path": path + ".condition", "error": p})
    flt = raw.get("filter")
    if effect == "filter":
        if not filterable:
            problems.append({"path": path, "error": "filter policies only apply to filterable "
                             "permissions (data.entity.read/create/update/delete)"})
            return None
        if not isinstance(flt, dict) or not flt:
            problems.append({"path": path + ".filter", "error": "a filter policy needs a non-empty filter object"})
            return None
        for p in check_query(flt, path + ".filter"):
            problems.append({"path": path + ".filter", "error": p})
    elif flt is not None:
        problems.append({"path": path + ".filter", "error": 'filter is only allowed with effect "filter"'})
    return Policy(
        effect=effect,
        condition=condition if isinstance(condition, dict) and condition else None,
        filter=flt if effect == "filter" else None,
        condition_vars=has_placeholders(condition),
        filter_vars=has_placeholders(flt),
    )


def compile_roles(raw: Any, permissions: set[str], filterable: set[str]) -> dict[str, Role]:
    """Validate bknd's role configuration; raise :class:`RolesInvalid` listing every problem."""
    problems: list[dict[str, str]] = []
    roles: dict[str, Role] = {}
    if not isinstance(raw, dict):
        raise RolesInvalid([{"path": "roles", "error": "roles must be an object"}])
    for name, spec in raw.items():
        path = f"roles.{name}"
        if not isinstance(spec, dict):
            problems.append({"path": path, "error": "a role must be an object"})
            continue
        unknown = set(spec) - {"permissions", "is_default", "implicit_allow", "description"}
        if unknown:
            problems.append({"path": path, "error": f"unknown role key(s) {sorted(unknown)}"})
        for flag in ("is_default", "implicit_allow"):
            if flag in spec and not isinstance(spec[flag], bool):
                problems.append({"path": f"{path}.{flag}", "error": f"{flag} must be a boolean"})
        perms = spec.get("permissions") or []
        entries: dict[str, Entry] = {}
        if not isinstance(perms, list):
            problems.append({"path": path + ".permissions", "error": "permissions must be a list"})
            perms = []
        kinds = {type(p) for p in perms}
        if str in kinds and dict in kinds:
            problems.append({"path": path + ".permissions",
                             "error": "permissions must be all strings or all objects, not mixed"})
        for i, item in enumerate(perms):
            ipath = f"{path}.permissions[{i}]"
            if isinstance(item, str):
                item = {"permission": item}
            if not isinstance(item, dict):
                problems.append({"path": ipath, "error": "a permission is a name or an object"})
                continue
            unknown = set(item) - {"permission", "effect", "policies"}
            if unknown:
                problems.append({"path": ipath, "error": f"unknown key(s) {sorted(unknown)}"})
            pname = item.get("permission")
            if pname not in permissions:
                problems.append({"path": ipath, "error": f"unknown permission {pname!r}"})
                continue
            effect = item.get("effect", "allow")
            if effect not in ("allow", "deny"):
                problems.append({"path": ipath + ".effect", "error": "effect must be allow or deny"})
                continue
            raw_policies = item.get("policies") or []
            if not isinstance(raw_policies, list):
                problems.append({"path": ipath + ".policies", "error": "policies must be a list"})
                continue
            compiled = [
                _policy(p, f"{ipath}.policies[{j}]", pname in filterable, problems)
                for j, p in enumerate(raw_policies)
            ]
            policies = [p for p in compiled if p is not None]
            if pname in entries:
                problems.append({"path": ipath, "error": f"permission {pname!r} is listed twice"})
            entries[pname] = Entry(
                permission=pname,
                allow=effect == "allow",
                gates=tuple(p for p in policies if p.effect != "filter"),
                filters=tuple(p for p in policies if p.effect == "filter"),
            )
        roles[name] = Role(
            name=name,
            implicit_allow=spec.get("implicit_allow") is True,
            is_default=spec.get("is_default") is True,
            entries=entries,
        )
    defaults = [r.name for r in roles.values() if r.is_default]
    if len(defaults) > 1:
        problems.append({"path": "roles", "error": f"only one role can be the default, got {defaults}"})
    admin = raw.get(ADMIN)
    if not isinstance(admin, dict):
        problems.append({"path": "roles.admin", "error": "the admin role cannot be removed"})
    elif admin.get("implicit_allow") is not True or admin.get("permissions"):
        problems.append({"path": "roles.admin",
                         "error": 'the admin role is always allowed everything: it takes '
                                  '{"implicit_allow": true} and no permission list'})
    elif admin.get("is_default"):
        problems.append({"path": "roles.admin.is_default", "error": "admin cannot be the default role"})
    if problems:
        raise RolesInvalid(problems)
    return roles


class RoleGuard:
    """The installed guard: resolves the caller's role and evaluates the permission."""

    def __init__(self, roles: dict[str, Role], *, enabled: bool = True,
                 anonymous_role: str | None = None) -> None:
        self.enabled = enabled
        self.roles = roles
        self.default = next((r for r in roles.values() if r.is_default), None)
        self.anonymous = roles.get(anonymous_role) if anonymous_role else self.default

    def role_of(self, caller: Caller) -> Role | None:
        if caller.role is not None:
            role = self.roles.get(caller.role)
            if role is not None:
                return role
        if caller.user is None and caller.via in ("anonymous",):
            return self.anonymous
        return self.default

    def check(self, caller: Caller, permission: str, context: dict[str, Any] | None = None) -> Decision:
        if not self.enabled or caller.via == "system" or caller.role == ADMIN:
            return ALLOW
        role = self.role_of(caller)
        if role is None:
            return Decision(False, reason=self._no_role(caller))
        const = role.constants.get(permission)
        if const is not None:
            return const
        entry = role.entries.get(permission)
        if entry is None:
            if role.implicit_allow:
                return ALLOW
            return Decision(False, reason=f'Role "{role.name}" does not have required permission')
        return self._evaluate(caller, role, entry, context)

    @staticmethod
    def _no_role(caller: Caller) -> str:
        err = caller.attrs.get("credential_error")
        if err:
            return f"The credentials sent were refused ({err}); anonymous callers have no role"
        if caller.user is None and caller.via == "anonymous":
            return "Sign in: anonymous callers have no role"
        return "User has no role"

    def _evaluate(self, caller: Caller, role: Role, entry: Entry,
                  context: dict[str, Any] | None) -> Decision:
        ctx: dict[str, Any] = dict(context or {})
        ctx["user"] = caller.user
        allowed = entry.allow
        denied_by_policy = False
        for policy in entry.gates:
            if policy.applies(ctx):
                if policy.effect == "deny":
                    denied_by_policy = True
                    break
                allowed = True
        if denied_by_policy or not allowed:
            return Decision(False, reason=f'Role "{role.name}": a policy denies "{entry.permission}"'
                            if denied_by_policy else f'Role "{role.name}" denies "{entry.permission}"')
        filters: list[dict[str, Any]] = []
        for policy in entry.filters:
            if not policy.applies(ctx):
                continue
            assert policy.filter is not None
            if policy.filter_vars:
                try:
                    filters.append(resolve(policy.filter, ctx))
                except Unresolved as exc:
                    return Decision(False, reason=f'Role "{role.name}": the row filter needs {exc.name}, '
                                    "which this caller does not have")
            else:
                filters.append(policy.filter)
        if not filters:
            return ALLOW
        return Decision(True, filter=filters[0] if len(filters) == 1 else {"$and": filters})
