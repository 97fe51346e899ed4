"""Safe object keys: the one place that decides which file names may reach a storage adapter.

Keys are flat (no folders). A name is either kept exactly as given (after Unicode NFC
normalisation, which only merges two spellings of the same text) or refused with 400
naming why; it is never rewritten, so two different names can never land on one file.

Refused: a name that tries to leave the storage root in any encoding — ``..``, ``/``, ``\\``,
an absolute or drive path, also after one or more rounds of percent-decoding (``..%2F``,
``%2e%2e%2f``, ``%252e%252e%252f``) — and characters that look like a separator
(``∕`` U+2215, ``／`` U+FF0F, ``⁄`` U+2044...), control and invisible characters (bidi
overrides, zero-width spaces), a leading dot (hidden files, the local adapter's
``.uploads``), white space at either end, and names over 200 bytes of UTF-8. Emoji, CJK,
spaces, ``%`` and the like are kept.
"""

from __future__ import annotations

import mimetypes
import re
import secrets
import string
import unicodedata
from urllib.parse import unquote

from nodebase.kernel.errors import BadRequest

MAX_KEY_LENGTH = 200  # UTF-8 bytes
_RANDOM_ALPHABET = string.ascii_letters + string.digits
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_DRIVE = re.compile(r"^[A-Za-z]:")
_KEY = re.compile(r"^[\w\-][\w.\-]*$", re.UNICODE)
#: characters drawn like a slash or backslash (NFKC maps some, not all, of them to / and \)
_SLASH_LOOKALIKES = frozenset(
    "\u2215\u2044\u29f8\u29f9\u2571\u2572\u27cb\u27cd\uff0f\uff3c\ufe68\u2216\u244a\u1735"
)
#: format characters that are part of writing, not tricks: emoji sequences (ZWJ), Persian (ZWNJ)
_ALLOWED_FORMAT = frozenset("\u200c\u200d")


class InvalidFileName(BadRequest):
    type = "InvalidFileNameException"


def _decodings(name: str, rounds: int = 4) -> list[str]:
    """``name`` and what it becomes after each round of percent-decoding (until stable)."""
    out = [name]
    for _ in range(rounds):
        nxt = unquote(out[-1], errors="strict") if "%" in out[-1] else out[-1]
        if nxt == out[-1]:
            break
        out.append(nxt)
    return out


def _refuse(name: str, why: str) -> InvalidFileName:
    return InvalidFileName(f"Invalid file name: {why}", context={"name": name[:300]})


def check_traversal(name: str) -> None:
    """Raise 400 if ``name``, in any percent-decoding, could address a path outside the root."""
    if not name:
        raise _refuse(name, "empty")
    try:
        variants = _decodings(name)
    except UnicodeDecodeError:
        raise _refuse(name, "malformed percent-encoding") from None
    for v in variants:
        if "\ufffd" in v:
            raise _refuse(name, "malformed character encoding")
        if _CONTROL.search(v):
            raise _refuse(name, "control characters are not allowed")
        if "/" in v or "\\" in v:
            raise _refuse(name, "path separators are not allowed")
        if v.strip(". ") == "":
            raise _refuse(name, "a name of only dots is not allowed")
        if _DRIVE.match(v):
            raise _refuse(name, "absolute paths are not allowed")


def _problem(name: str, max_bytes: int | None) -> str | None:
    """Why ``name`` (already NFC) cannot be a key, or None."""
    for ch in name:
        if ch in _SLASH_LOOKALIKES:
            return f"U+{ord(ch):04X} looks like a path separator"
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs", "Co", "Zl", "Zp") or (category == "Cf" and ch not in _ALLOWED_FORMAT):
            return f"invisible or control characters are not allowed (U+{ord(ch):04X})"
    folded = unicodedata.normalize("NFKC", name)
    if "/" in folded or "\\" in folded:
        return "a character looks like a path separator"
    if folded.strip(". ") == "":
        return "a name of only dots is not allowed"
    if name.startswith("."):
        return "a name must not start with a dot"
    if name != name.strip() or folded != folded.strip():
        return "a name must not start or end with white space"
    if max_bytes is not None and _size(name) > max_bytes:
        return f"a name must not be longer than {max_bytes} bytes of UTF-8"
    return None


def check_name(name: str, *, max_bytes: int | None = MAX_KEY_LENGTH) -> str:
    """The stored key for a client-supplied file name: the name itself (NFC), or a 400."""
    check_traversal(name)
    key = unicodedata.normalize("NFC", name)
    why = _problem(key, max_bytes)
    if why is not None:
        raise _refuse(name, why)
    return key


def _size(text: str) -> int:
    """Length in UTF-8 bytes: what file systems (255-byte names) and S3 (1,024) limit."""
    return len(text.encode("utf-8"))


def check_key(key: str) -> str:
    """Validate a key named in a download/delete URL.

    Traversal attempts are a 400; any other name :func:`check_name` would refuse or change
    cannot name a stored object, which the caller reports as 404 (``is_canonical``).
    """
    check_traversal(key)
    return key


def is_canonical(key: str) -> bool:
    """True if ``key`` is a name :func:`check_name` keeps unchanged."""
    if not key or unicodedata.normalize("NFC", key) != key:
        return False
    try:
        check_traversal(key)
    except InvalidFileName:
        return False
    return _problem(key, MAX_KEY_LENGTH) is None


def extension_for(mime: str, fallback_name: str | None = None) -> str:
    """A file extension (without the dot) for a mime type or the given name, or ''."""
    if fallback_name:
        _, dot, ext = fallback_name.rpartition(".")
        if dot and ext and len(ext) <= 16 and _KEY.match(ext):
            return ext.lower()
    guessed = mimetypes.guess_extension(mime.split(";")[0].strip()) if mime else None
    return guessed.lstrip(".") if guessed else ""


def random_name(ext: str = "", length: int = 16) -> str:
    """bknd's unnamed-upload name: ``length`` random letters/digits plus the extension."""
    stem = "".join(secrets.choice(_RANDOM_ALPHABET) for _ in range(length))
    return f"{stem}.{ext}" if ext else stem


def guess_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def normalize_mime(value: str | None) -> str:
    """``type/subtype`` in lower case, without parameters; octet-stream when missing/garbled."""
    if not value:
        return "application/octet-stream"
    base = value.split(";", 1)[0].strip().lower()
    if not re.match(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$", base):
        return "application/octet-stream"
    return base


def mime_allowed(mime: str, allowed: list[str] | None) -> bool:
    """``allowed`` entries are exact types, ``type/*`` wildcards or ``.ext`` never (types only)."""
    if not allowed:
        return True
    for pattern in allowed:
        p = pattern.strip().lower()
        if p in ("*", "*/*") or p == mime:
            return True
        if p.endswith("/*") and mime.startswith(p[:-1]):
            return True
    return False
