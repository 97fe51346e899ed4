"""Settings: from the environment (``NODEBASE_*``), an optional ``nodebase.toml`` in the
project directory, and command-line overrides — in that order of increasing precedence
(command line beats environment beats file).

Every backing service is chosen by one URL. With nothing set, nodebase runs embedded:
SQLite in ``<data_dir>/data.db`` and files in ``<data_dir>/media``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_PORT = 1337  # bknd's default, so front ends pointing at bknd need no change

#: browser origins allowed by default: loopback on any port, and the desktop sidecar's Tauri
#: webview (``:*`` = any port or none; see nodebase.kernel.cors)
DEFAULT_CORS_ORIGINS: tuple[str, ...] = (
    "http://localhost:*", "https://localhost:*",
    "http://127.0.0.1:*", "https://127.0.0.1:*",
    "http://[::1]:*", "https://[::1]:*",
    "tauri://localhost", "http://tauri.localhost", "https://tauri.localhost",
)


@dataclass(frozen=True)
class Settings:
    project_dir: Path = field(default_factory=Path.cwd)
    data_dir: Path = Path("nodebase_data")
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    workers: int = 1
    #: HTTP server: "uvicorn" (default) or "granian"
    server: str = "uvicorn"
    #: seconds a client has to send a request's line and headers (also: a new connection's
    #: first request); slower → 408 and the connection closed
    header_timeout: float = 10.0
    #: seconds without body bytes while a request body is expected → 408, connection closed
    body_timeout: float = 30.0
    #: seconds an idle keep-alive connection stays open between requests
    keepalive_timeout: float = 20.0
    #: open connections (HTTP and WebSocket) per worker; beyond it a request gets 503
    max_connections: int = 16384
    #: seconds SIGTERM/SIGINT waits for open requests before cancelling them
    shutdown_timeout: float = 10.0
    database_url: str = ""
    storage_url: str = ""
    broker_url: str = ""
    vector_url: str = ""
    #: let outbound fetches (kernel.outbound) reach loopback/private/link-local addresses
    fetch_allow_private: bool = False
    #: Knowledge: an OpenAI-compatible embeddings endpoint (base URL), model and key
    embedding_url: str = ""
    embedding_model: str = ""
    embedding_api_key: str = ""
    #: Knowledge: an OpenAI-compatible chat model for answers (base URL), model and key
    llm_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    #: seconds without data from the chat model before an answer fails
    llm_timeout: int = 60
    schema_file: str = "nodebase.schema.json"
    log_level: str = "warning"
    debug: bool = False
    #: rows one bulk create may hold and one bulk update/delete may change (413 beyond)
    bulk_max_rows: int = 1000
    #: origins whose browser pages may call the API with credentials (CORS)
    cors_origins: tuple[str, ...] = DEFAULT_CORS_ORIGINS
    #: proxies (IPs or CIDRs) whose X-Forwarded-For is believed; empty: the socket peer counts
    trusted_proxies: tuple[str, ...] = ()
    # realtime (docs/realtime.md "Configuration"): history kept per channel for resume,
    # per-connection limits, and the idle / presence timers, in seconds
    realtime_history_size: int = 1000
    realtime_history_ttl: int = 600
    realtime_queue_size: int = 1000
    realtime_max_subscriptions: int = 100
    realtime_max_frame: int = 65 * 1024
    realtime_rate: int = 100
    realtime_ping_interval: int = 25
    realtime_idle_timeout: int = 60
    realtime_presence_ttl: int = 25
    #: applications to run on this node (``chat``, ``studio``; docs/chat.md, docs/studio.md)
    apps: tuple[str, ...] = ()
    #: chat: create a public room on its first join or send
    chat_auto_create_rooms: bool = True
    #: chat: messages one user may send per second (0: no limit)
    chat_send_rate: int = 10
    #: chat: WebSocket frames a connection may send per second (bursts of 2x)
    chat_frame_rate: int = 50
    #: chat: the gRPC listener's port (0: off) and bind address (empty: the HTTP host)
    grpc_port: int = 50051
    grpc_host: str = ""
    #: bknd's admin UI: the installed npm package (or its dist/static) to serve (empty: off),
    #: and the path it is served at (docs/admin.md "bknd's admin UI")
    bknd_admin_dir: str = ""
    bknd_admin_path: str = "/bknd"

    @property
    def resolved_data_dir(self) -> Path:
        d = self.data_dir
        return d if d.is_absolute() else (self.project_dir / d)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'data.db'}"

    @property
    def resolved_schema_file(self) -> Path | None:
        if not self.schema_file:
            return None
        p = Path(self.schema_file)
        return p if p.is_absolute() else self.project_dir / p

    def public(self) -> dict[str, Any]:
        """A view safe to show: URLs lose their passwords."""
        return {
            "data_dir": str(self.resolved_data_dir),
            "host": self.host,
            "port": self.port,
            "workers": self.workers,
            "server": self.server,
            "header_timeout": self.header_timeout,
            "body_timeout": self.body_timeout,
            "keepalive_timeout": self.keepalive_timeout,
            "max_connections": self.max_connections,
            "shutdown_timeout": self.shutdown_timeout,
            "database_url": redact_url(self.resolved_database_url),
            "storage_url": redact_url(self.storage_url),
            "broker_url": redact_url(self.broker_url),
            "vector_url": redact_url(self.vector_url),
            "embedding_url": redact_url(self.embedding_url),
            "llm_url": redact_url(self.llm_url),
            "llm_model": self.llm_model,
            "schema_file": str(self.resolved_schema_file) if self.resolved_schema_file else None,
            "cors_origins": list(self.cors_origins),
            "trusted_proxies": list(self.trusted_proxies),
        }


_SECRET_QUERY_KEYS = ("secret", "password", "key", "token")


def redact_url(url: str) -> str:
    """Hide the password of ``scheme://user:pass@host`` and secret-looking query values.

    Only those parts are replaced; everything else stays as written (``sqlite:////abs/path``
    keeps its slashes: re-assembling a split URL would drop an empty authority).
    """
    if not url:
        return url
    head, sep, query = url.partition("?")
    scheme, colon_slashes, rest = head.partition("://")
    if colon_slashes and not scheme.startswith("sqlite"):
        # the credentials end at the last "@" (a password may hold "/" or "@")
        at = rest.rfind("@")
        cut = rest.find("/", at + 1 if at >= 0 else 0)
        authority, slash, path = (rest, "", "") if cut < 0 else (rest[:cut], "/", rest[cut + 1:])
        if "@" in authority:
            creds, host = authority.rsplit("@", 1)
            user = creds.split(":", 1)[0]
            authority = f"{user}:***@{host}" if ":" in creds else f"{user}@{host}"
        head = f"{scheme}://{authority}{slash}{path}"
    if query:
        fragment = ""
        if "#" in query:
            query, fragment = query.split("#", 1)
            fragment = "#" + fragment
        items = []
        for pair in query.split("&"):
            k, eq, v = pair.partition("=")
            if eq and any(word in k.lower() for word in _SECRET_QUERY_KEYS):
                v = "***"
            items.append(f"{k}{eq}{v}")
        query = "&".join(items) + fragment
    return head + sep + query


def _coerce(kind: Any, raw: Any) -> Any:
    if kind in (int, "int"):
        return int(raw)
    if kind in (float, "float"):
        return float(raw)
    if kind in (bool, "bool"):
        return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes", "on")
    if kind in (Path, "Path"):
        return Path(raw)
    if kind in (tuple, "tuple[str, ...]"):
        items = raw.split(",") if isinstance(raw, str) else list(raw)
        return tuple(str(item).strip() for item in items if str(item).strip())
    return str(raw)


def load_settings(overrides: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ) if env is None else env
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    project_dir = Path(overrides.get("project_dir") or env.get("NODEBASE_PROJECT_DIR") or Path.cwd())
    values: dict[str, Any] = {}
    toml_path = project_dir / "nodebase.toml"
    if toml_path.is_file():
        with toml_path.open("rb") as fh:
            doc = tomllib.load(fh)
        values.update(doc.get("nodebase", doc))
    for f in fields(Settings):
        key = "NODEBASE_" + f.name.upper()
        if key in env:
            values[f.name] = env[key]
    values.update(overrides)
    values["project_dir"] = project_dir
    kinds = {f.name: f.type for f in fields(Settings)}
    clean = {k: _coerce(kinds[k], v) for k, v in values.items() if k in kinds}
    return replace(Settings(), **clean)


def settings_to_env(settings: Settings) -> dict[str, str]:
    """The environment that makes :func:`load_settings` return ``settings`` (for workers)."""
    out: dict[str, str] = {}
    for f in fields(Settings):
        value = getattr(settings, f.name)
        out["NODEBASE_" + f.name.upper()] = ",".join(value) if isinstance(value, tuple) else str(value)
    return out
