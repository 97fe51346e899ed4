"""Structured logs: every record as one JSON line on stderr, at the ``log_level`` setting.

A record's ``extra={"fields": {...}}`` become top-level keys of its line (the request log
uses it). Tracebacks go in ``exc``. Nothing here adds request data: what is logged is what
the code logs, and no nodebase code logs tokens, passwords or keys.

The last lines of this process are also kept in memory (``RECENT``, a bounded ring) for
``GET /api/system/logs``; lines from the logging module are scrubbed of credential-looking
text (URL passwords, bearer tokens, API keys, JWTs) before they are kept.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import re
import sys
import time
from collections import deque
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


#: credential-looking text in a logged message: user:password@ in URLs, bearer tokens, API keys, JWTs
_CREDENTIALS = re.compile(
    r"(?P<url>://[^/\s:@]*:)[^@\s/]+@|(?P<bearer>[Bb]earer\s+)\S+|nbk_[A-Za-z0-9_-]+|eyJ[\w-]+\.[\w-]+\.[\w-]+")


def scrub(text: str) -> str:
    def hide(m: re.Match[str]) -> str:
        if m.group("url"):
            return m.group("url") + "********@"
        if m.group("bearer"):
            return m.group("bearer") + "********"
        return "********"

    return _CREDENTIALS.sub(hide, text)


class RecentLines:
    """The last ``capacity`` log lines of this process, as written to stderr (one per worker)."""

    def __init__(self, capacity: int = 1000) -> None:
        self.capacity = capacity
        self.lines: deque[bytes] = deque(maxlen=capacity)

    def add(self, line: bytes) -> None:
        self.lines.append(line)

    def tail(self, limit: int, min_level: int = 0) -> list[dict[str, Any]]:
        """The newest ``limit`` lines at ``min_level`` or above, newest first."""
        out: list[dict[str, Any]] = []
        for raw in reversed(self.lines):
            line = jsonutil.loads(raw, what="log line")
            if LEVELS.get(str(line.get("level")), logging.INFO) >= min_level:
                out.append(line)
                if len(out) >= limit:
                    break
        return out


RECENT = RecentLines()


class RingHandler(logging.Handler):
    """Keeps each record's JSON line (scrubbed) in ``RECENT``."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            RECENT.add(scrub(self.format(record)).encode())
        except Exception:  # a log line must never fail the code that logs
            self.handleError(record)


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
        ring = RingHandler()
        ring.setFormatter(JsonFormatter())
        logger.addHandler(ring)
        logger.propagate = False
        _installed = handler


_REQUEST_HEAD = b'","level":"info","logger":"nodebase.request","msg":"request",'
#: ".000Z" … ".999Z": the millisecond part of a line's ``ts``
_MILLIS = [b".%03dZ" % ms for ms in range(1000)]


class RequestLog:
    """The per-request JSON lines, written past the logging module. A line's parts that repeat
    (method, route, status, caller) are encoded once and kept (``PARTS_MAX`` of them), so a
    request costs a lookup, a few byte joins and a list append; lines go to stderr in writes of
    at most ~4 KB (whole lines, so workers sharing a pipe never interleave within a line) when
    the buffer is full, ``FLUSH_AFTER`` seconds after the first buffered line, and at exit."""

    MAX_BYTES = 3500
    FLUSH_AFTER = 0.2
    PARTS_MAX = 4096

    def __init__(self, fd: int = 2) -> None:
        self.fd = fd
        self.lines: list[bytes] = []
        self.size = 0
        self.timer: asyncio.TimerHandle | None = None
        self._second = 0
        self._stamp = b""
        self._parts: dict[tuple[str, str, int, str | None], bytes] = {}
        self.logger = logging.getLogger("nodebase.request")
        atexit.register(self.flush)

    def enabled(self) -> bool:
        """On at ``log_level`` info or debug."""
        return self.logger.isEnabledFor(logging.INFO)

    def _ts(self, now: float) -> bytes:
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
        return self._stamp + _MILLIS[int((now - second) * 1000)]

    def write(self, method: str, route: str, status: int, seconds: float, caller: str | None) -> None:
        """One line: ``ts``, level, logger, msg, ``method``, ``route``, ``status``, ``caller``
        and ``duration_ms`` (milliseconds, three decimals)."""
        key = (method, route, status, caller)
        parts = self._parts.get(key)
        if parts is None:
            if len(self._parts) >= self.PARTS_MAX:
                self._parts.clear()
            body = jsonutil.dumps({"method": method, "route": route, "status": status, "caller": caller})
            parts = self._parts[key] = _REQUEST_HEAD + body[1:-1] + b',"duration_ms":'
        line = b'{"ts":"' + self._ts(time.time()) + parts + b"%.3f}" % (seconds * 1000)
        RECENT.add(line)
        self.lines.append(line)
        self.size += len(line) + 1
        if self.size >= self.MAX_BYTES:
            self.flush()
        elif self.timer is None:
            try:
                self.timer = asyncio.get_running_loop().call_later(self.FLUSH_AFTER, self.flush)
            except RuntimeError:  # no loop (a synchronous caller): write now
                self.flush()

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.lines:
            return
        data = b"\n".join(self.lines) + b"\n"
        self.lines.clear()
        self.size = 0
        with contextlib.suppress(OSError):
            os.write(self.fd, data)
