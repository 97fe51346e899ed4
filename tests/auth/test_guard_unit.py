"""The guard's evaluation rules, in process (no server): exact decisions for each rule."""

from __future__ import annotations

import pytest

from nodebase.auth.guard import RoleGuard, RolesInvalid, compile_roles
from nodebase.auth.policy import matches
from nodebase.kernel.caller import ANONYMOUS, SYSTEM, Caller
from nodebase.kernel.permissions import PermissionRegistry

REG = PermissionRegistry()
PERMS = set(REG.names())
FILTERABLE = {p["name"] for p in REG.describe() if p.get("filterable")}


def guard(roles: dict[str, object], **kw: object) -> RoleGuard:
    return RoleGuard(compile_roles({"admin": {"implicit_allow": True}, **roles}, PERMS, FILTERABLE), **kw)  # type: ignore[arg-type]


def user(role: str | None, id: int = 7) -> Caller:
    return Caller(user={"id": id, "email": "u@x.io", "role": role}, role=role, via="jwt")


def test_nothing_configured_only_admin_and_system() -> None:
    g = guard({})
    assert g.check(user("admin"), "system.config.write").allowed
    assert g.check(SYSTEM, "data.entity.delete", {"entity": "x"}).allowed
    for caller in (ANONYMOUS, user(None), user("ghost"), Caller(role="ghost", via="apikey")):
        d = g.check(caller, "data.entity.read", {"entity": "posts"})
        assert not d.allowed and d.reason


def test_strings_entries_effects_and_implicit_allow() -> None:
    g = guard({
        "reader": {"permissions": ["data.entity.read"]},
        "almost": {"implicit_allow": True, "permissions": [
            {"permission": "system.config.write", "effect": "deny"}]},
    })
    assert g.check(user("reader"), "data.entity.read", {"entity": "a"}).allowed
    assert not g.check(user("reader"), "data.entity.create", {"entity": "a"}).allowed
    assert g.check(user("almost"), "data.entity.delete", {"entity": "a"}).allowed
    assert not g.check(user("almost"), "system.config.write").allowed


def test_policies_allow_deny_and_conditions() -> None:
    g = guard({"r": {"permissions": [
        {"permission": "data.entity.delete", "effect": "deny", "policies": [
            {"condition": {"entity": {"$in": ["drafts", "notes"]}}, "effect": "allow"},
            {"condition": {"entity": "notes", "id": {"$gt": 100}}, "effect": "deny"}]},
    ]}})
    c = user("r")
    assert not g.check(c, "data.entity.delete", {"entity": "posts"}).allowed  # entry effect deny
    assert g.check(c, "data.entity.delete", {"entity": "drafts"}).allowed  # allow policy matched
    assert g.check(c, "data.entity.delete", {"entity": "notes", "id": 5}).allowed
    assert not g.check(c, "data.entity.delete", {"entity": "notes", "id": 500}).allowed  # deny wins


def test_filters_resolve_placeholders_and_combine() -> None:
    g = guard({"author": {"is_default": True, "permissions": [
        {"permission": "data.entity.read", "policies": [
            {"condition": {"entity": "posts"}, "effect": "filter", "filter": {"owner_id": "@user.id"}},
            {"condition": {"entity": "posts"}, "effect": "filter", "filter": {"deleted": {"$ne": True}}},
            {"condition": {"entity": "orgs"}, "effect": "filter", "filter": {"name": "@entity"}},
        ]}]}})
    d = g.check(user("author", 42), "data.entity.read", {"entity": "posts"})
    assert d.allowed and d.filter == {"$and": [{"owner_id": 42}, {"deleted": {"$ne": True}}]}
    d = g.check(user(None, 3), "data.entity.read", {"entity": "orgs"})  # default role
    assert d.allowed and d.filter == {"name": "orgs"}
    d = g.check(user("author"), "data.entity.read", {"entity": "comments"})
    assert d.allowed and d.filter is None
    # the anonymous caller gets the default role, but a filter on @user.id denies instead of
    # matching rows whose owner is NULL
    d = g.check(ANONYMOUS, "data.entity.read", {"entity": "posts"})
    assert not d.allowed and "@user.id" in d.reason


def test_anonymous_role_and_guard_off() -> None:
    g = guard({"guest": {"permissions": ["data.entity.read"]}, "member": {"is_default": True}},
              anonymous_role="guest")
    assert g.check(ANONYMOUS, "data.entity.read", {"entity": "a"}).allowed
    assert not g.check(user(None), "data.entity.read", {"entity": "a"}).allowed  # member
    assert guard({}, enabled=False).check(ANONYMOUS, "system.config.write").allowed


@pytest.mark.parametrize("roles", [
    {"x": {"permissions": "data.entity.read"}},
    {"x": {"permissions": [{"permission": "data.entity.read", "effect": "maybe"}]}},
    {"x": {"permissions": [{"permission": "data.entity.read", "policies": [{"effect": "filter"}]}]}},
    {"x": {"permissions": [{"permission": "data.entity.read", "policies": [
        {"effect": "allow", "filter": {"a": 1}}]}]}},
    {"x": {"permissions": ["data.entity.read", "data.entity.read"]}},
    {"x": {"unknown_key": 1}},
])
def test_bad_role_documents_name_the_problem(roles: dict[str, object]) -> None:
    with pytest.raises(RolesInvalid) as exc:
        compile_roles({"admin": {"implicit_allow": True}, **roles}, PERMS, FILTERABLE)
    assert exc.value.problems and all(p["path"].startswith("roles") for p in exc.value.problems)


def test_object_query_operators() -> None:
    s = {"entity": "posts", "id": 5, "user": {"id": 1, "role": "editor", "email": "A@x.io"}}
    assert matches({"entity": "posts", "user.role": "editor"}, s)
    assert matches({"id": {"$between": [1, 5]}, "user.email": {"$like": "a@*"}}, s)
    assert matches({"$or": [{"entity": "x"}, {"id": {"$gte": 5}}]}, s)
    assert matches({"missing": {"$isnull": True}, "id": {"$notnull": True}}, s)
    assert matches({"user.email": {"$regex": "^A@"}, "entity": {"$notin": ["a"]}}, s)
    assert not matches({"id": {"$lt": 5}}, s)
    assert not matches({"id": {"$gt": "x"}}, s)  # incomparable: no match, no error
    assert not matches({"$and": {"entity": "posts", "id": 6}}, s)
