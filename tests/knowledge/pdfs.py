"""Generated PDFs for the tests: multi-page with Chinese text (reportlab's built-in CID font),
encrypted, broken, too many pages, and a decompression bomb."""

from __future__ import annotations

import io
import textwrap
import zlib

from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))


def make_pdf(pages: list[str], *, title: str = "", password: str | None = None) -> bytes:
    buf = io.BytesIO()
    enc = StandardEncryption(password, ownerPassword="owner-" + password) if password else None
    c = canvas.Canvas(buf, encrypt=enc)
    if title:
        c.setTitle(title)
    for text in pages:
        c.setFont("STSong-Light", 11)
        y = 780
        for para in text.split("\n"):
            width = 40 if any("\u4e00" <= ch <= "\u9fff" for ch in para) else 90
            for line in textwrap.wrap(para, width) or [""]:
                c.drawString(50, y, line)
                y -= 14
                if y < 50:
                    break
        c.showPage()
    c.save()
    return buf.getvalue()


def bomb_pdf(expanded: int = 120_000_000) -> bytes:
    """One page whose content stream inflates to ``expanded`` bytes (about 120 KB on disk)."""
    stream = zlib.compress(b" " * expanded, 9)
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" /Filter /FlateDecode >>\nstream\n" + stream
        + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()
