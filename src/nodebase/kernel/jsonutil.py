"""Fast JSON encoding and decoding (orjson), shared by every module.

Integers are exact both ways. orjson reads integers up to 64 bits and turns longer ones into
floats (``18446744073709551616`` would become ``1.8446744073709552e+19`` and, rounded, pass
a range check); a document with such a number is read again by the standard library, which
keeps every integer exact, so validation sees the number that was sent. Encoding never fails
on an integer beyond 64 bits (one echoed back in an error's context): it is written as a
string.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from nodebase.kernel.errors import InvalidJson

_OPTS = orjson.OPT_NON_STR_KEYS
#: every digit becomes "0", everything else a space: a run of 19 zeros then marks a number
#: orjson may not keep exact (translate + substring search: ~1 µs for a typical body, where a
#: regex takes ~8)
_DIGITS_AS_ZEROS = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_LONG_RUN = b"0" * 19
_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=_OPTS)
    except orjson.JSONEncodeError as exc:
        if "Integer exceeds" not in str(exc):
            raise
        return orjson.dumps(_wide_ints_as_strings(value), option=_OPTS)


def dumps_str(value: Any) -> str:
    return dumps(value).decode()


def _wide_ints_as_strings(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value if _INT64_MIN <= value <= _UINT64_MAX else str(value)
    if isinstance(value, dict):
        return {k: _wide_ints_as_strings(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wide_ints_as_strings(v) for v in value]
    return value


def dumps_readable(value: Any) -> str:
    """Indented (two spaces), for people: the CLI's output."""
    return orjson.dumps(value, option=_OPTS | orjson.OPT_INDENT_2).decode()


def loads(data: bytes | str, *, what: str = "body", context: dict[str, Any] | None = None) -> Any:
    """Parse JSON; malformed input is an :class:`InvalidJson` (400) naming ``what``."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidJson(
            f"Malformed JSON in {what}: {exc.args[0] if exc.args else exc}",
            context=context if context is not None else {"where": what},
        ) from None
    raw = data if isinstance(data, bytes) else data.encode()
    if _LONG_RUN not in raw.translate(_DIGITS_AS_ZEROS):
        return value
    # orjson accepted the document (so it is valid and has no number beyond a double's range):
    # read it again keeping integers exact
    try:
        return json.loads(data)
    except RecursionError:
        raise InvalidJson(f"JSON in {what} is nested too deeply",
                          context=context if context is not None else {"where": what}) from None
