"""An in-process node for Knowledge service tests: real SQLite (or PostgreSQL) database, real
embedded vector store and worker; a small guard that grants ``knowledge.read``/``write`` to
every signed-in caller and ``knowledge.manage`` to the ``admin`` role only."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from nodebase.app import Nodebase
from nodebase.kernel.caller import ALLOW, Caller, Decision
from nodebase.kernel.config import Settings
from nodebase.knowledge.models import AnswerEvent
from nodebase.knowledge.service import KnowledgeService


class OwnerGuard:
    def __init__(self) -> None:
        self.denied: set[str] = set()

    def check(self, caller: Caller, permission: str, context: dict[str, Any] | None = None) -> Decision:
        if permission in self.denied:
            return Decision(False, reason="denied by the test")
        if permission == "knowledge.manage":
            return ALLOW if caller.role == "admin" else Decision(False)
        return ALLOW


def user(id: str, role: str = "user") -> Caller:
    return Caller(user={"id": id, "email": f"{id}@example.com"}, role=role, via="jwt")


ADMIN = user("root", "admin")


@contextlib.asynccontextmanager
async def knowledge_node(tmp: Path, **settings: Any) -> AsyncIterator[tuple[Nodebase, KnowledgeService, OwnerGuard]]:
    opts: dict[str, Any] = {"data_dir": tmp, "project_dir": tmp, "embedding_url": "hashing:256"}
    opts.update(settings)
    nb = Nodebase(Settings(**opts))
    guard = OwnerGuard()
    await nb.start()
    nb.set_guard(guard)
    try:
        yield nb, nb.knowledge.service, guard
    finally:
        await nb.stop()


async def collect(events: AsyncIterator[AnswerEvent]) -> list[AnswerEvent]:
    return [e async for e in events]


def run(coro: Any) -> Any:
    return asyncio.run(coro)
