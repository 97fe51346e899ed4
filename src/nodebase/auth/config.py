"""The auth module's configuration document (bknd's ``auth`` config, plus nodebase's keys).

bknd's keys keep their names and meaning (``allow_register``, ``jwt``, ``cookie``,
``strategies``, ``guard``, ``roles``, ``default_role_register``). What differs, on purpose:

* ``jwt.secret`` is never part of the document: the secret lives in a 0600 file in the data
  directory (or ``NODEBASE_AUTH_SECRET``), so no config route can echo it. A ``secret`` key
  sent by a client (bknd's admin UI sends the masked value back) is dropped.
* ``jwt.expires`` is required (tokens always expire; bknd's never do by default).
* ``guard.enabled`` defaults to true and ``roles.admin`` always exists (secure by default).
* ``guard.anonymous_role``, ``strategies.passkey`` and ``rate_limit`` are nodebase's.
* OAuth strategies (``type`` ``oauth`` / ``custom_oauth``): nodebase.auth.oauth_config.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from nodebase.auth.guard import Role, RolesInvalid, compile_roles
from nodebase.auth.oauth_config import (
    OAuthStrategyConfig,
    is_oauth_strategy,
    merge_defaults,
    parse_oauth_strategy,
)
from nodebase.kernel.errors import ConfigInvalid

DEFAULT_EXPIRES = 7 * 24 * 3600


def default_auth_config() -> dict[str, Any]:
    return {
        "enabled": True,
        "basepath": "/api/auth",
        "entity_name": "users",
        "allow_register": True,
        "default_role_register": None,
        "jwt": {
            "alg": "HS256",
            "fields": ["id", "email", "role"],
            "expires": DEFAULT_EXPIRES,
            "issuer": None,
            "revalidate": 5,
        },
        "cookie": {
            "path": "/",
            "sameSite": "lax",
            "secure": True,
            "httpOnly": True,
            "expires": DEFAULT_EXPIRES,
            "partitioned": False,
            "renew": True,
            "pathSuccess": "/",
            "pathLoggedOut": "/",
        },
        "strategies": {
            "password": {
                "type": "password",
                "enabled": True,
                "config": {"hashing": "argon2id", "minLength": 8, "maxLength": 1024},
            },
            "passkey": {
                "type": "passkey",
                "enabled": True,
                "config": {
                    "rp_id": None,
                    "rp_name": "nodebase",
                    "origins": [],
                    "user_verification": "required",
                    "resident_key": "preferred",
                    "timeout": 60000,
                    "challenge_ttl": 300,
                },
            },
        },
        "guard": {"enabled": True, "anonymous_role": None},
        "roles": {"admin": {"implicit_allow": True}},
        "rate_limit": {"enabled": True, "window": 3600, "free_attempts": 5, "first_delay": 1, "max_delay": 900,
                       "max_per_ip": 100, "max_per_account": 20, "register_per_ip": 20},
    }


@dataclass(frozen=True)
class JwtConfig:
    alg: str
    fields: tuple[str, ...]
    expires: int
    issuer: str | None
    revalidate: float


@dataclass(frozen=True)
class CookieConfig:
    path: str
    same_site: str
    secure: bool
    http_only: bool
    expires: int
    partitioned: bool
    renew: bool
    path_success: str
    path_logged_out: str


@dataclass(frozen=True)
class PasswordConfig:
    enabled: bool
    min_length: int
    max_length: int


@dataclass(frozen=True)
class PasskeyConfig:
    enabled: bool
    rp_id: str | None
    rp_name: str
    origins: tuple[str, ...]
    user_verification: str
    resident_key: str
    timeout: int
    challenge_ttl: int


@dataclass(frozen=True)
class RateLimitConfig:
    """See nodebase.auth.throttle for what each number does."""

    enabled: bool
    window: int
    free_attempts: int
    first_delay: int
    max_delay: int
    max_per_ip: int
    max_per_account: int
    register_per_ip: int


@dataclass(frozen=True)
class AuthConfig:
    enabled: bool
    allow_register: bool
    default_role_register: str | None
    jwt: JwtConfig
    cookie: CookieConfig
    password: PasswordConfig
    passkey: PasskeyConfig
    guard_enabled: bool
    anonymous_role: str | None
    roles: dict[str, Role]
    rate_limit: RateLimitConfig
    #: OAuth2 / OpenID Connect strategies by name (nodebase.auth.oauth_config)
    oauth: dict[str, OAuthStrategyConfig]


class _Problems:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, path: str, error: str) -> None:
        self.items.append({"path": path, "error": error})

    def keys(self, doc: dict[str, Any], allowed: set[str], path: str) -> None:
        unknown = set(doc) - allowed
        if unknown:
            self.add(path, f"unknown key(s) {sorted(unknown)}")

    def obj(self, doc: dict[str, Any], key: str, path: str) -> dict[str, Any]:
        value = doc.get(key)
        if not isinstance(value, dict):
            self.add(f"{path}.{key}", "must be an object")
            return {}
        return value

    def boolean(self, doc: dict[str, Any], key: str, path: str) -> bool:
        value = doc.get(key)
        if not isinstance(value, bool):
            self.add(f"{path}.{key}", "must be a boolean")
            return False
        return value

    def integer(self, doc: dict[str, Any], key: str, path: str, lo: int, hi: int) -> int:
        value = doc.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            self.add(f"{path}.{key}", f"must be a number from {lo} to {hi}")
            return lo
        return int(value)

    def string(self, doc: dict[str, Any], key: str, path: str, *, choices: tuple[str, ...] = (),
               nullable: bool = False) -> str | None:
        value = doc.get(key)
        if value is None and nullable:
            return None
        if not isinstance(value, str) or (choices and value not in choices):
            expected = f"one of {list(choices)}" if choices else "a string"
            self.add(f"{path}.{key}", f"must be {expected}")
            return choices[0] if choices else ""
        return value


def _origin_ok(origin: Any) -> bool:
    if not isinstance(origin, str):
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and parts.path in ("", "/")


def _merge_defaults(doc: dict[str, Any]) -> dict[str, Any]:
    """Fill missing keys from the defaults, one level into each section."""
    base = default_auth_config()
    out = copy.deepcopy(doc)
    for key, value in base.items():
        if key not in out:
            out[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(out[key], dict) and key not in ("roles",):
            for k, v in value.items():
                out[key].setdefault(k, copy.deepcopy(v))
    strategies = out.get("strategies")
    if isinstance(strategies, dict):
        for name in ("password", "passkey"):
            s = strategies.get(name)
            if isinstance(s, dict) and isinstance(s.get("config", {}), dict):
                s.setdefault("config", {})
                for k, v in base["strategies"][name]["config"].items():
                    s["config"].setdefault(k, copy.deepcopy(v))
                s.setdefault("type", name)
                s.setdefault("enabled", True)
        for s in strategies.values():
            if is_oauth_strategy(s):
                merge_defaults(s)
    jwt = out.get("jwt")
    if isinstance(jwt, dict):
        jwt.pop("secret", None)  # never stored: see the module docstring
    return out


def parse_auth_config(raw: Any, permissions: set[str], filterable: set[str]) -> tuple[AuthConfig, dict[str, Any]]:
    """Validate an auth document; return the live config and the normalised document."""
    if not isinstance(raw, dict):
        raise ConfigInvalid([{"path": "auth", "error": "the auth config must be an object"}])
    doc = _merge_defaults(raw)
    p = _Problems()
    p.keys(doc, set(default_auth_config()), "auth")
    if doc.get("basepath") != "/api/auth":
        p.add("auth.basepath", 'basepath is fixed to "/api/auth"')
    if doc.get("entity_name") != "users":
        p.add("auth.entity_name", 'entity_name is fixed to "users"')
    enabled = p.boolean(doc, "enabled", "auth")
    allow_register = p.boolean(doc, "allow_register", "auth")
    default_role = p.string(doc, "default_role_register", "auth", nullable=True)

    jwt = p.obj(doc, "jwt", "auth")
    p.keys(jwt, {"alg", "fields", "expires", "issuer", "revalidate"}, "auth.jwt")
    alg = p.string(jwt, "alg", "auth.jwt", choices=("HS256", "HS384", "HS512")) or "HS256"
    fields = jwt.get("fields")
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields) or "id" not in fields:
        p.add("auth.jwt.fields", 'fields must be a list of user field names that includes "id"')
        fields = ["id", "email", "role"]
    bad = [f for f in fields if f in ("strategy_value", "token_version", "iat", "exp", "iss", "tv")]
    if bad:
        p.add("auth.jwt.fields", f"these cannot go into a token: {bad}")
    expires = p.integer(jwt, "expires", "auth.jwt", 60, 366 * 24 * 3600)
    issuer = p.string(jwt, "issuer", "auth.jwt", nullable=True)
    revalidate = p.integer(jwt, "revalidate", "auth.jwt", 0, 3600)

    ck = p.obj(doc, "cookie", "auth")
    p.keys(ck, set(default_auth_config()["cookie"]), "auth.cookie")
    cookie = CookieConfig(
        path=p.string(ck, "path", "auth.cookie") or "/",
        same_site=p.string(ck, "sameSite", "auth.cookie", choices=("lax", "strict", "none")) or "lax",
        secure=p.boolean(ck, "secure", "auth.cookie"),
        http_only=p.boolean(ck, "httpOnly", "auth.cookie"),
        expires=p.integer(ck, "expires", "auth.cookie", 60, 366 * 24 * 3600),
        partitioned=p.boolean(ck, "partitioned", "auth.cookie"),
        renew=p.boolean(ck, "renew", "auth.cookie"),
        path_success=p.string(ck, "pathSuccess", "auth.cookie") or "/",
        path_logged_out=p.string(ck, "pathLoggedOut", "auth.cookie") or "/",
    )
    for key in ("pathSuccess", "pathLoggedOut"):
        value = ck.get(key)
        if isinstance(value, str) and (not value.startswith("/") or value.startswith("//")):
            p.add(f"auth.cookie.{key}", "must be a path on this server (starting with one /)")

    strategies = p.obj(doc, "strategies", "auth")
    oauth: dict[str, OAuthStrategyConfig] = {}
    for name, sdoc in strategies.items():
        if name in ("password", "passkey"):
            continue
        if not is_oauth_strategy(sdoc):
            p.add(f"auth.strategies.{name}", 'unknown strategy: OAuth strategies have "type": "oauth" '
                                             '(google, github) or "custom_oauth" (an OpenID issuer)')
            continue
        oauth[name] = parse_oauth_strategy(name, sdoc, p)
    pw = strategies.get("password") if isinstance(strategies.get("password"), dict) else {}
    pw_cfg = p.obj(pw, "config", "auth.strategies.password") if pw else {}
    p.keys(pw_cfg, {"hashing", "minLength", "maxLength"}, "auth.strategies.password.config")
    if pw_cfg.get("hashing", "argon2id") != "argon2id":
        p.add("auth.strategies.password.config.hashing",
              'only "argon2id" is supported (bknd\'s unsalted sha256 is not)')
    password = PasswordConfig(
        enabled=p.boolean(pw, "enabled", "auth.strategies.password") if pw else False,
        min_length=p.integer(pw_cfg, "minLength", "auth.strategies.password.config", 8, 128) if pw else 8,
        max_length=p.integer(pw_cfg, "maxLength", "auth.strategies.password.config", 8, 4096) if pw else 1024,
    )
    pk = strategies.get("passkey") if isinstance(strategies.get("passkey"), dict) else {}
    pk_cfg = p.obj(pk, "config", "auth.strategies.passkey") if pk else {}
    base = "auth.strategies.passkey.config"
    p.keys(pk_cfg, set(default_auth_config()["strategies"]["passkey"]["config"]), base)
    origins = pk_cfg.get("origins", [])
    if not isinstance(origins, list) or not all(_origin_ok(o) for o in origins):
        p.add(base + ".origins", 'origins must be a list of origins like "https://app.example.com"')
        origins = []
    rp_id = p.string(pk_cfg, "rp_id", base, nullable=True) if pk else None
    if rp_id is not None and (not rp_id or "/" in rp_id or ":" in rp_id):
        p.add(base + ".rp_id", 'rp_id is a host name such as "example.com" (no scheme or port)')
    passkey = PasskeyConfig(
        enabled=p.boolean(pk, "enabled", "auth.strategies.passkey") if pk else False,
        rp_id=rp_id,
        rp_name=(p.string(pk_cfg, "rp_name", base) or "nodebase") if pk else "nodebase",
        origins=tuple(o.rstrip("/") for o in origins),
        user_verification=(p.string(pk_cfg, "user_verification", base,
                                    choices=("required", "preferred", "discouraged")) or "required")
        if pk else "required",
        resident_key=(p.string(pk_cfg, "resident_key", base,
                               choices=("preferred", "required", "discouraged")) or "preferred")
        if pk else "preferred",
        timeout=p.integer(pk_cfg, "timeout", base, 10000, 600000) if pk else 60000,
        challenge_ttl=p.integer(pk_cfg, "challenge_ttl", base, 10, 3600) if pk else 300,
    )

    guard = p.obj(doc, "guard", "auth")
    p.keys(guard, {"enabled", "anonymous_role"}, "auth.guard")
    guard_enabled = p.boolean(guard, "enabled", "auth.guard")
    anonymous_role = p.string(guard, "anonymous_role", "auth.guard", nullable=True)

    rl = p.obj(doc, "rate_limit", "auth")
    p.keys(rl, set(default_auth_config()["rate_limit"]), "auth.rate_limit")
    rate_limit = RateLimitConfig(
        enabled=p.boolean(rl, "enabled", "auth.rate_limit"),
        window=p.integer(rl, "window", "auth.rate_limit", 1, 24 * 3600),
        free_attempts=p.integer(rl, "free_attempts", "auth.rate_limit", 1, 100),
        first_delay=p.integer(rl, "first_delay", "auth.rate_limit", 1, 3600),
        max_delay=p.integer(rl, "max_delay", "auth.rate_limit", 1, 24 * 3600),
        max_per_ip=p.integer(rl, "max_per_ip", "auth.rate_limit", 1, 1_000_000),
        max_per_account=p.integer(rl, "max_per_account", "auth.rate_limit", 1, 1_000_000),
        register_per_ip=p.integer(rl, "register_per_ip", "auth.rate_limit", 1, 1_000_000),
    )

    roles: dict[str, Role] = {}
    try:
        roles = compile_roles(doc.get("roles"), permissions, filterable)
    except RolesInvalid as exc:
        for item in exc.problems:
            p.add("auth." + item["path"], item["error"])
    for key, value in (("default_role_register", default_role), ("guard.anonymous_role", anonymous_role)):
        if value is not None and roles and value not in roles:
            p.add(f"auth.{key}", f"unknown role {value!r} (roles: {sorted(roles)})")
    for strategy in oauth.values():
        key = f"strategies.{strategy.name}.config.default_role"
        if strategy.default_role is not None and roles and strategy.default_role not in roles:
            p.add(f"auth.{key}", f"unknown role {strategy.default_role!r} (roles: {sorted(roles)})")
        if strategy.default_role == "admin":
            p.add(f"auth.{key}", "signing up can never grant the admin role")
    if default_role == "admin":
        p.add("auth.default_role_register", "registration can never grant the admin role")
    if anonymous_role == "admin":
        p.add("auth.guard.anonymous_role", "anonymous callers can never be admins")

    if p.items:
        raise ConfigInvalid(p.items)
    cfg = AuthConfig(
        enabled=enabled,
        allow_register=allow_register,
        default_role_register=default_role,
        jwt=JwtConfig(alg=alg, fields=tuple(fields), expires=expires, issuer=issuer or None,
                      revalidate=float(revalidate)),
        cookie=cookie,
        password=password,
        passkey=passkey,
        guard_enabled=guard_enabled,
        anonymous_role=anonymous_role,
        roles=roles,
        rate_limit=rate_limit,
        oauth=oauth,
    )
    return cfg, doc
