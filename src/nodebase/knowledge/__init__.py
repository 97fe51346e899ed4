"""Knowledge: collections of documents (text, web pages, PDFs, Media files) ingested in the
background, hybrid keyword + vector retrieval, and cited answers streamed token by token.

The public Python interface is :class:`KnowledgeService` (``node.knowledge.service``) and the
values in :mod:`nodebase.knowledge.models`; see docs/knowledge.md.
"""

from nodebase.knowledge.models import (
    AnswerEvent,
    Citation,
    Collection,
    Document,
    DocumentState,
    Passage,
)
from nodebase.knowledge.service import KnowledgeService

__all__ = ["AnswerEvent", "Citation", "Collection", "Document", "DocumentState",
           "KnowledgeService", "Passage"]
