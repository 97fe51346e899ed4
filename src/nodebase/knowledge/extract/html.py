"""Web pages: the readable text (navigation, ads and footers dropped) with title and metadata,
by trafilatura (it needs ``lxml_html_clean``: both are in the ``knowledge`` extra)."""

from __future__ import annotations

from typing import Any

from nodebase.knowledge.extract.base import Extracted, ExtractionFailed, ExtraMissing


def extract_html(html: str, url: str = "") -> Extracted:
    try:
        import trafilatura
    except ImportError:
        raise ExtraMissing("web page extraction", "trafilatura") from None
    try:
        text = trafilatura.extract(html, url=url or None, include_comments=False,
                                   include_tables=True, favor_recall=True, output_format="txt")
        meta_doc = trafilatura.extract_metadata(html, default_url=url or None)
    except Exception as exc:  # trafilatura/lxml raise many kinds on hostile markup
        raise ExtractionFailed(f"the page could not be parsed: {type(exc).__name__}") from None
    if not text or not text.strip():
        raise ExtractionFailed("the page has no readable text")
    metadata: dict[str, Any] = {}
    title = ""
    if meta_doc is not None:
        for key in ("title", "author", "date", "sitename", "description", "url"):
            value = getattr(meta_doc, key, None)
            if value:
                metadata[key] = str(value)
        title = metadata.get("title", "")
    return Extracted(text=text, title=title or url, metadata=metadata)
