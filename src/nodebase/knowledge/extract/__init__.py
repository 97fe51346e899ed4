"""Turn a source (bytes + content type) into :class:`Extracted` text."""

from __future__ import annotations

from nodebase.knowledge.extract.base import Extracted, ExtractionFailed
from nodebase.knowledge.extract.html import extract_html
from nodebase.knowledge.extract.pdf import extract_pdf
from nodebase.knowledge.extract.text import extract_text

TEXT_TYPES = ("text/plain", "text/markdown", "text/x-markdown", "text/csv")


def kind_of(content_type: str, name: str = "", data: bytes = b"") -> str:
    ct = content_type.split(";", 1)[0].strip().lower()
    low = name.lower()
    if ct == "application/pdf" or low.endswith(".pdf") or data[:5] == b"%PDF-":
        return "pdf"
    if ct in ("text/html", "application/xhtml+xml") or low.endswith((".html", ".htm")):
        return "html"
    if ct in TEXT_TYPES or ct.startswith("text/") or low.endswith((".txt", ".md", ".markdown")):
        return "text"
    return ""


def extract(data: bytes, content_type: str, *, name: str = "", url: str = "") -> Extracted:
    kind = kind_of(content_type, name, data)
    if kind == "pdf":
        return extract_pdf(data, title=name)
    if kind == "html":
        charset = "utf-8"
        for part in content_type.split(";")[1:]:
            k, _, v = part.strip().partition("=")
            if k.lower() == "charset" and v:
                charset = v.strip('"')
        try:
            html = data.decode(charset, errors="replace")
        except LookupError:
            html = data.decode("utf-8", errors="replace")
        return extract_html(html, url=url)
    if kind == "text":
        return extract_text(data, title=name)
    raise ExtractionFailed(f"unsupported content type {content_type or 'unknown'!r} "
                           "(PDF, HTML, plain text and Markdown are read)")


__all__ = ["ExtractionFailed", "Extracted", "extract", "kind_of"]
