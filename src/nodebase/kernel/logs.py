"""Structured logs: every record as one JSON line on stderr, at the ``log_level`` setting.

A record's ``extra={"fields": {...}}`` become top-level keys of its line (the request log
uses it). Tracebacks go in ``exc``. Nothing here adds request data: what is logged is what
the code logs, and no nodebase code logs tokens, passwords or keys.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from nodebase.kernel import jsonutil

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR, "critical": logging.CRITICAL}
_installed: logging.Handler | None = None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return jsonutil.dumps(line).decode()


def level_of(name: str) -> int:
    try:
        return LEVELS[name.strip().lower()]
    except KeyError:
        raise ValueError(f"log_level must be one of {sorted(LEVELS)}, not {name!r}") from None


def configure_logging(level: str) -> None:
    """Install the JSON handler on the ``nodebase`` logger (once per process) at ``level``."""
    global _installed
    logger = logging.getLogger("nodebase")
    logger.setLevel(level_of(level))
    if _installed is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
        _installed = handler
