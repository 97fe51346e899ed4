"""Small builders for media tests: real image bytes, entities with media fields."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import httpx

from tests.conftest import add_entity, add_relation, unique


def png(width: int, height: int) -> bytes:
    """A valid PNG of ``width`` × ``height`` grey pixels (no image library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes([(x * 7 + y) % 256 for x in range(width)]) for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 0))
            + chunk(b"IEND", b""))


def gif(width: int, height: int) -> bytes:
    body = b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00"
    return body + b"\x00" * (200 - len(body)) + b";"


def jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    pad = b"\xff\xfe" + struct.pack(">H", 102) + b"x" * 100  # a comment segment before SOF
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + pad + sof + b"\xff\xd9"


def entity_with_media(client: httpx.Client, *, max_items: int | None = None,
                      mime_types: list[str] | None = None) -> tuple[str, str]:
    """A fresh entity with a ``cover`` media field and its poly relation → (entity, field)."""
    name = unique("posts")
    cfg: dict[str, Any] = {}
    if max_items is not None:
        cfg["max_items"] = max_items
    if mime_types is not None:
        cfg["mime_types"] = mime_types
    add_entity(client, name, {"title": {"type": "text"},
                              "cover": {"type": "media", "config": cfg}})
    add_relation(client, f"poly_{name}_media_cover",
                 {"type": "poly", "source": name, "target": "media",
                  "config": {"mappedBy": "cover"}})
    return name, "cover"


def create_row(client: httpx.Client, entity: str, **values: Any) -> int:
    r = client.post(f"/api/data/entity/{entity}", json={"title": "t", **values})
    assert r.status_code == 201, r.text
    return int(r.json()["data"]["id"])
