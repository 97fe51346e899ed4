"""OAuth2 / OpenID Connect strategies in the ``auth`` config document, and the presets.

bknd's shapes (``auth.strategies.<name>``)::

    {"type": "oauth", "enabled": true, "config": {"name": "google", "client": {"client_id": "…"}}}
    {"type": "oauth", "enabled": true, "config": {"name": "github", "client": {"client_id": "…"}}}
    {"type": "custom_oauth", "enabled": true,
     "config": {"name": "corp", "type": "oidc", "issuer": "https://id.example.com",
                "client": {"client_id": "…"}}}

``client.client_secret`` is never part of the document: the module hands a secret sent through
the config API to the node's secret provider (``oauth_<name>_client_secret``) and drops it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

#: bknd's built-in issuers (``type: "oauth"``): protocol, issuer / endpoints, default scopes
PRESETS: dict[str, dict[str, Any]] = {
    "google": {"protocol": "oidc", "issuer": "https://accounts.google.com",
               "scopes": ["openid", "email", "profile"]},
    "github": {"protocol": "oauth2", "base_url": "https://github.com",
               "api_url": "https://api.github.com", "scopes": ["read:user", "user:email"]},
}
OIDC_SCOPES = ["openid", "email", "profile"]
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
#: names that are routes of their own under /api/auth
RESERVED = frozenset({"password", "passkey", "passkeys", "login", "register", "logout", "me",
                      "strategies", "refresh", "apikeys", "users", "actions", "oauth"})
CONFIG_KEYS = {"name", "type", "issuer", "client", "scopes", "default_role", "allow_register",
               "return_urls", "callback_url", "base_url", "api_url", "state_ttl"}


def secret_name(strategy: str) -> str:
    """The secret provider's name for a strategy's client secret."""
    return f"oauth_{strategy}_client_secret"


@dataclass(frozen=True)
class OAuthStrategyConfig:
    #: the key under ``auth.strategies``; the routes are ``/api/auth/<name>/…``
    name: str
    #: bknd's strategy type: ``oauth`` (a preset) or ``custom_oauth`` (an OIDC issuer)
    type: str
    enabled: bool
    #: ``google``, ``github`` or ``oidc``
    preset: str
    #: ``oidc`` or ``oauth2``
    protocol: str
    issuer: str | None
    client_id: str
    auth_method: str
    scopes: tuple[str, ...]
    default_role: str | None
    allow_register: bool
    #: absolute URL prefixes a sign-in may return to (besides paths on this server)
    return_urls: tuple[str, ...]
    callback_url: str | None
    base_url: str | None
    api_url: str | None
    state_ttl: int

    @property
    def secret_name(self) -> str:
        return secret_name(self.name)

    def public(self) -> dict[str, Any]:
        """What ``GET /api/auth/strategies`` shows (bknd: the config without the client)."""
        return {"enabled": self.enabled, "type": self.type,
                "config": {"name": self.preset if self.type == "oauth" else self.name,
                           "type": self.protocol}}


def _url_ok(value: Any, *, path: bool = True) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return (parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.query
            and not parts.fragment and (path or parts.path in ("", "/")))


def is_oauth_strategy(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("type") in ("oauth", "custom_oauth")


def merge_defaults(doc: dict[str, Any]) -> None:
    """Fill a strategy document's missing keys (in place)."""
    doc.setdefault("enabled", True)
    cfg = doc.setdefault("config", {})
    if not isinstance(cfg, dict):
        return
    cfg.setdefault("scopes", None)
    cfg.setdefault("default_role", None)
    cfg.setdefault("allow_register", True)
    cfg.setdefault("return_urls", [])
    cfg.setdefault("callback_url", None)
    cfg.setdefault("state_ttl", 600)
    if doc.get("type") == "custom_oauth":
        cfg.setdefault("type", "oidc")
    client = cfg.get("client")
    if isinstance(client, dict):
        client.pop("client_secret", None)  # never stored: see the module docstring
        client.setdefault("token_endpoint_auth_method", "client_secret_basic")


def parse_oauth_strategy(name: str, doc: dict[str, Any], p: Any) -> OAuthStrategyConfig:
    """Validate one strategy; problems go to ``p`` (config._Problems)."""
    base = f"auth.strategies.{name}"
    if not NAME_RE.match(name) or name in RESERVED:
        p.add(base, "an OAuth strategy's name is 1-32 lower-case letters, digits or _ and not one of "
                    f"{sorted(RESERVED)}")
    p.keys(doc, {"type", "enabled", "config"}, base)
    kind = str(doc.get("type"))
    enabled = p.boolean(doc, "enabled", base)
    cfg = p.obj(doc, "config", base)
    path = base + ".config"
    p.keys(cfg, CONFIG_KEYS, path)
    client = p.obj(cfg, "client", path)
    p.keys(client, {"client_id", "token_endpoint_auth_method"}, path + ".client")
    client_id = p.string(client, "client_id", path + ".client") or ""
    if client and not client_id:
        p.add(path + ".client.client_id", "must be the client id the provider gave you")
    auth_method = p.string(client, "token_endpoint_auth_method", path + ".client",
                           choices=AUTH_METHODS) or AUTH_METHODS[0]
    issuer: str | None = None
    base_url = api_url = None
    if kind == "oauth":
        preset = cfg.get("name")
        if preset not in PRESETS:
            p.add(path + ".name", f"must be one of the built-in issuers {sorted(PRESETS)} "
                                  '(use "type": "custom_oauth" with an "issuer" for another OpenID provider)')
            preset = "google"
        spec = PRESETS[str(preset)]
        protocol = spec["protocol"]
        issuer = spec.get("issuer")
        if protocol == "oauth2":
            base_url = cfg.get("base_url") or spec["base_url"]
            api_url = cfg.get("api_url") or spec["api_url"]
            for key, value in (("base_url", base_url), ("api_url", api_url)):
                if not _url_ok(value):
                    p.add(f"{path}.{key}", "must be an http(s) URL")
        elif "base_url" in cfg or "api_url" in cfg:
            p.add(path, "base_url and api_url are GitHub settings")
        if cfg.get("issuer") is not None:
            p.add(path + ".issuer", "a preset has its own issuer (use custom_oauth for another)")
        default_scopes = spec["scopes"]
    else:
        preset = "oidc"
        protocol = p.string(cfg, "type", path, choices=("oidc",)) or "oidc"
        issuer = cfg.get("issuer")
        if not _url_ok(issuer):
            p.add(path + ".issuer", 'must be the provider\'s issuer URL, e.g. "https://id.example.com"')
        if cfg.get("name") not in (None, name):
            p.add(path + ".name", f"must be the strategy's name {name!r}")
        if "base_url" in cfg or "api_url" in cfg:
            p.add(path, "base_url and api_url are GitHub settings")
        default_scopes = OIDC_SCOPES
    scopes = cfg.get("scopes")
    if scopes is None:
        scopes = default_scopes
    elif not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) and s and " " not in s
                                                              for s in scopes):
        p.add(path + ".scopes", "must be a non-empty list of scope names (or null for the preset's)")
        scopes = default_scopes
    if protocol == "oidc" and "openid" not in scopes:
        p.add(path + ".scopes", 'an OpenID Connect strategy needs the "openid" scope')
    return_urls = cfg.get("return_urls", [])
    if not isinstance(return_urls, list) or not all(_url_ok(u) for u in return_urls):
        p.add(path + ".return_urls", 'must be a list of absolute URLs such as "https://app.example.com/"')
        return_urls = []
    callback_url = cfg.get("callback_url")
    if callback_url is not None and not _url_ok(callback_url):
        p.add(path + ".callback_url", "must be an absolute http(s) URL (or null: this server's own)")
    default_role = p.string(cfg, "default_role", path, nullable=True)
    return OAuthStrategyConfig(
        name=name, type=kind, enabled=enabled, preset=str(preset), protocol=protocol,
        issuer=issuer if isinstance(issuer, str) else None,
        client_id=client_id, auth_method=auth_method, scopes=tuple(scopes),
        default_role=default_role, allow_register=p.boolean(cfg, "allow_register", path),
        return_urls=tuple(return_urls), callback_url=callback_url,
        base_url=str(base_url).rstrip("/") if base_url else None,
        api_url=str(api_url).rstrip("/") if api_url else None,
        state_ttl=p.integer(cfg, "state_ttl", path, 30, 3600),
    )
