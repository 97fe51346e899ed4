"""Knowledge: collections of documents (text, web pages, PDFs, Media files) ingested in the
background, hybrid keyword + vector retrieval, and cited answers streamed token by token.

The public Python interface is :class:`KnowledgeService` (``node.knowledge.service``) and the
values in :mod:`nodebase.knowledge.models`; see docs/knowledge.md.
"""

import os

# Before numpy is first imported: vector search is one matrix-vector product per collection,
# memory-bound; OpenBLAS's extra threads only spin-wait, which on shared cores made a 10k
# search ~10x slower (measured: 24 ms → 2.4 ms). Set OPENBLAS_NUM_THREADS to override.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from nodebase.knowledge.models import (  # noqa: E402
    AnswerEvent,
    Citation,
    Collection,
    Document,
    DocumentState,
    Passage,
)
from nodebase.knowledge.service import KnowledgeService  # noqa: E402

__all__ = ["AnswerEvent", "Citation", "Collection", "Document", "DocumentState",
           "KnowledgeService", "Passage"]
