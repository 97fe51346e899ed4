"""PDFs: text page by page (page numbers kept for citations), by pypdf.

Refused with a reason, never a crashed worker: not a PDF or broken, encrypted (unless it opens
with the empty password), more than ``MAX_PAGES`` pages, more than ``MAX_CHARS`` characters of
text, a stream that decompresses past pypdf's limits (zip bombs), or no extractable text
(a scan: OCR is not done).
"""

from __future__ import annotations

import io
import logging

from nodebase.knowledge.extract.base import Extracted, ExtractionFailed, ExtraMissing

MAX_PAGES = 2000
MAX_CHARS = 5_000_000

logging.getLogger("pypdf").setLevel(logging.ERROR)


def extract_pdf(data: bytes, title: str = "", *, max_pages: int = MAX_PAGES,
                max_chars: int = MAX_CHARS) -> Extracted:
    try:
        import pypdf
        from pypdf.errors import LimitReachedError
    except ImportError:
        raise ExtraMissing("PDF extraction", "pypdf") from None
    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise ExtractionFailed("not a PDF file")
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = bool(reader.decrypt(""))
            except Exception:
                opened = False
            if not opened:
                raise ExtractionFailed("the PDF is encrypted")
        n = len(reader.pages)
        if n > max_pages:
            raise ExtractionFailed(f"the PDF has {n} pages, more than the {max_pages} allowed")
        parts: list[str] = []
        starts: list[int] = []
        size = 0
        for page in reader.pages:
            # decode the content first: extract_text() swallows pypdf's decompression limit
            contents = page.get_contents()
            if contents is not None:
                contents.get_data()
            text = (page.extract_text() or "").replace("\x00", "").strip()
            starts.append(size)
            parts.append(text)
            size += len(text) + 2
            if size > max_chars:
                raise ExtractionFailed(f"the PDF has more than {max_chars} characters of text")
        meta = reader.metadata
        pdf_title = str(meta.title) if meta is not None and meta.title else ""
    except ExtractionFailed:
        raise
    except LimitReachedError:
        raise ExtractionFailed("the PDF has a stream that decompresses past the size limit") from None
    except RecursionError:
        raise ExtractionFailed("the PDF's structure is nested too deeply") from None
    except MemoryError:
        raise ExtractionFailed("the PDF is too large to read") from None
    except Exception as exc:
        raise ExtractionFailed(f"the PDF is damaged or unreadable ({type(exc).__name__})") from None
    text = "\n\n".join(parts)
    if not text.strip():
        raise ExtractionFailed("the PDF has no extractable text (scanned pages are not read)")
    return Extracted(text=text, title=pdf_title or title, page_starts=tuple(starts),
                     metadata={"pages": n})
