"""Fast JSON encoding and decoding (orjson), shared by every module."""

from __future__ import annotations

from typing import Any

import orjson

from nodebase.kernel.errors import InvalidJson

_OPTS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=_OPTS)


def dumps_str(value: Any) -> str:
    return orjson.dumps(value, option=_OPTS).decode()


def dumps_readable(value: Any) -> str:
    """Indented (two spaces), for people: the CLI's output."""
    return orjson.dumps(value, option=_OPTS | orjson.OPT_INDENT_2).decode()


def loads(data: bytes | str, *, what: str = "body") -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidJson(
            f"Malformed JSON in {what}: {exc.args[0] if exc.args else exc}",
            context={"where": what},
        ) from None
