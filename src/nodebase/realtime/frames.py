"""The realtime wire protocol in one file: op names, frame parsing and encoding, error codes
and close codes (shared/protocols/realtime.md)."""

from __future__ import annotations

import re
from typing import Any

import orjson

from nodebase.realtime.broker.base import Publication

CLIENT_OPS = frozenset({"subscribe", "unsubscribe", "publish", "presence", "ping", "pong"})
CHANNEL_RE = re.compile(r"[A-Za-z0-9_.:-]{1,128}\Z")
MAX_DATA = 64 * 1024

# error codes of `error` frames
BAD_REQUEST = "bad_request"
INVALID_JSON = "invalid_json"
UNKNOWN_OP = "unknown_op"
TOO_LARGE = "too_large"
RATE_LIMITED = "rate_limited"
TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
UNAUTHORIZED = "unauthorized"
FORBIDDEN = "forbidden"
NOT_FOUND = "not_found"
INVALID_QUERY = "invalid_query"
UNAVAILABLE = "unavailable"

# WebSocket close codes (4000-4099: reconnect and resume with after_seq; 1001: shutting down)
CLOSE_SLOW = 4000  # too far behind: the queue overflowed
CLOSE_IDLE = 4001  # no frame from the client within the idle timeout
CLOSE_GOING_AWAY = 1001


class FrameError(Exception):
    def __init__(self, code: str, message: str, id: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.id = id


def dumps(doc: dict[str, Any]) -> str:
    return orjson.dumps(doc).decode()


def parse(text: str | bytes, max_size: int) -> dict[str, Any]:
    """One client frame → dict with a known ``op``; raises :class:`FrameError`."""
    size = len(text)
    if isinstance(text, str) and size * 4 > max_size:  # characters may be up to 4 bytes
        size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_size:
        raise FrameError(TOO_LARGE, f"frame is larger than {max_size} bytes")
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise FrameError(INVALID_JSON, f"malformed JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise FrameError(BAD_REQUEST, "a frame is a JSON object with an op")
    id = doc.get("id")
    op = doc.get("op")
    if not isinstance(op, str):
        raise FrameError(BAD_REQUEST, 'the frame has no "op"', id)
    if op not in CLIENT_OPS:
        raise FrameError(UNKNOWN_OP, f'unknown op "{op[:64]}" (valid: {", ".join(sorted(CLIENT_OPS))})', id)
    if op in ("subscribe", "unsubscribe", "publish", "presence"):
        channel_of(doc)
    if op == "subscribe":
        after = doc.get("after_seq")
        if after is not None and (isinstance(after, bool) or not isinstance(after, int) or after < 0):
            raise FrameError(BAD_REQUEST, "after_seq must be a non-negative integer", id)
        where = doc.get("where")
        if where is not None and not isinstance(where, dict):
            raise FrameError(INVALID_QUERY, "where must be an object", id)
    if op == "publish" and "data" not in doc:
        raise FrameError(BAD_REQUEST, 'publish needs "data"', id)
    return doc


def channel_of(doc: dict[str, Any]) -> str:
    channel = doc.get("channel")
    if not isinstance(channel, str) or not CHANNEL_RE.match(channel):
        raise FrameError(BAD_REQUEST, "channel must be 1-128 characters of [A-Za-z0-9_.:-]", doc.get("id"))
    return channel


def answer(op: str, id: Any = None, **fields: Any) -> str:
    doc: dict[str, Any] = {"op": op, **fields}
    if id is not None:
        doc["id"] = id
    return dumps(doc)


def error(code: str, message: str, id: Any = None) -> str:
    return answer("error", id, code=code, message=message)


def event_doc(pub: Publication) -> dict[str, Any]:
    if pub.event in ("join", "leave") and pub.ephemeral:
        return {"channel": pub.channel, "user": (pub.data or {}).get("user")}
    doc: dict[str, Any] = {"channel": pub.channel}
    if not pub.ephemeral:
        doc["seq"] = pub.seq
    doc["event"] = pub.event
    doc["data"] = pub.data
    doc["at"] = pub.at
    return doc


def ws_frame(pub: Publication) -> str:
    """The WebSocket frame of a publication, encoded once for every subscriber."""
    frame = pub.frames.get("ws")
    if frame is None:
        op = pub.event if pub.ephemeral and pub.event in ("join", "leave") else "event"
        frame = pub.frames["ws"] = dumps({"op": op, **event_doc(pub)})
    return frame


def sse_frame(pub: Publication) -> bytes:
    """``id: <channel>:<seq>`` / ``event:`` / ``data:`` (no id for ephemeral frames)."""
    frame = pub.frames.get("sse")
    if frame is None:
        head = b"" if pub.ephemeral else f"id: {pub.channel}:{pub.seq}\n".encode()
        frame = pub.frames["sse"] = (head + b"event: " + pub.event.encode() + b"\ndata: "
                                     + orjson.dumps(event_doc(pub)) + b"\n\n")
    return frame


def sse_message(event: str, doc: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(doc) + b"\n\n"
