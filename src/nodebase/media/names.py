"""Safe object keys: the one place that decides which file names may reach a storage adapter.

Keys are flat (no folders). A name that tries to leave the storage root in any encoding —
``..``, ``/``, ``\\``, an absolute or drive path, NUL or other control characters, also after
one or more rounds of percent-decoding (``..%2F``, ``%2e%2e%2f``, ``%252e%252e%252f``) — is
refused with 400. Every other name is *sanitised* into ``[letters digits . _ -]`` so a stored
key never holds ``%``, quotes, spaces or separators that another layer could decode again.
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
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")
_UNSAFE = re.compile(r"[^\w.\-]", re.UNICODE)
_RUNS = re.compile(r"_{2,}")
_KEY = re.compile(r"^[\w\-][\w.\-]*$", re.UNICODE)


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


def sanitize(name: str) -> str:
    """The stored key for a client-supplied file name (400 if it tries to escape the root)."""
    check_traversal(name)
    clean = unicodedata.normalize("NFC", name).strip()
    clean = _UNSAFE.sub("_", clean)
    clean = _RUNS.sub("_", clean)
    clean = clean.lstrip(".-_") or ""
    if not clean or clean.strip("._-") == "":
        raise _refuse(name, "no usable characters")
    if _size(clean) > MAX_KEY_LENGTH:
        stem, dot, ext = clean.rpartition(".")
        if not (dot and stem and 0 < len(ext) <= 16 and ext.isascii()):
            stem, ext = clean, ""
        budget = MAX_KEY_LENGTH - (len(ext) + 1 if ext else 0)
        while _size(stem) > budget:
            stem = stem[:-1]
        clean = f"{stem}.{ext}" if ext else stem
    return clean


def _size(text: str) -> int:
    """Length in UTF-8 bytes: what file systems (255-byte names) and S3 (1,024) limit."""
    return len(text.encode("utf-8"))


def check_key(key: str) -> str:
    """Validate a key named in a download/delete URL.

    Traversal attempts are a 400; anything else that :func:`sanitize` would have changed
    cannot name a stored object, which the caller reports as 404 (``is_canonical``).
    """
    check_traversal(key)
    return key


def is_canonical(key: str) -> bool:
    return (bool(_KEY.match(key)) and _size(key) <= MAX_KEY_LENGTH
            and key == unicodedata.normalize("NFC", key))


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
