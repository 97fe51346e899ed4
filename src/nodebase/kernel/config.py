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
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PORT = 1337  # bknd's default, so front ends pointing at bknd need no change


@dataclass(frozen=True)
class Settings:
    project_dir: Path = field(default_factory=Path.cwd)
    data_dir: Path = Path("nodebase_data")
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    workers: int = 1
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
            "database_url": redact_url(self.resolved_database_url),
            "storage_url": redact_url(self.storage_url),
            "broker_url": redact_url(self.broker_url),
            "vector_url": redact_url(self.vector_url),
            "embedding_url": redact_url(self.embedding_url),
            "llm_url": redact_url(self.llm_url),
            "llm_model": self.llm_model,
            "schema_file": str(self.resolved_schema_file) if self.resolved_schema_file else None,
        }


_SECRET_QUERY_KEYS = ("secret", "password", "key", "token")


def redact_url(url: str) -> str:
    """Hide the password of ``scheme://user:pass@host`` and secret-looking query values."""
    if not url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        creds, host = netloc.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in creds else f"{user}@{host}"
    query = parts.query
    if query:
        items = []
        for pair in query.split("&"):
            k, _, v = pair.partition("=")
            if any(s in k.lower() for s in _SECRET_QUERY_KEYS):
                v = "***"
            items.append(f"{k}={v}" if _ else k)
        query = "&".join(items)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _coerce(kind: Any, raw: Any) -> Any:
    if kind in (int, "int"):
        return int(raw)
    if kind in (bool, "bool"):
        return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes", "on")
    if kind in (Path, "Path"):
        return Path(raw)
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
        out["NODEBASE_" + f.name.upper()] = str(getattr(settings, f.name))
    return out
