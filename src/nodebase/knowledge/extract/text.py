"""Plain text and Markdown: decoded as UTF-8 (a BOM is dropped); NULs removed."""

from __future__ import annotations

from nodebase.knowledge.extract.base import Extracted, ExtractionFailed


def extract_text(data: bytes | str, title: str = "") -> Extracted:
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ExtractionFailed("the text is not valid UTF-8") from None
    else:
        text = data
    text = text.replace("\x00", "").replace("\r\n", "\n")
    if not text.strip():
        raise ExtractionFailed("the text is empty")
    if not title:
        first = text.strip().splitlines()[0].lstrip("# ").strip()
        title = first[:120]
    return Extracted(text=text, title=title)
