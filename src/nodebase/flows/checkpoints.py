"""Run checkpoints written in batches (group commit).

A runner executes up to 32 runs at once; each stores its progress after every step and once
more when it finishes. Written one by one, every store is its own commit. Here a store waits
in a queue: the first one starts a writer, and every store asked for while the writer is
busy goes into its next batch, all of them in one transaction. A store returns only once its
batch is committed, so nothing is reported done (a waiter woken, a run released) before it is
stored. With one store at a time there is no waiting: the batch is that one statement.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from nodebase.flows.repository import RunRepository
from nodebase.flows.runs import Run


class CheckpointWriter:
    def __init__(self, repo: RunRepository) -> None:
        self.repo = repo
        self._queue: list[tuple[tuple[Any, ...], asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def store(self, run: Run, owner: str, *, lease_until: float | None, wake_at: float,
                    release: bool = False) -> bool:
        """Store the run's progress as it is now; False if this node no longer holds the lease."""
        params = self.repo.checkpoint_params(run, owner, lease_until=lease_until, wake_at=wake_at,
                                             release=release)
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((params, fut))
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())
        return await fut

    async def _write(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    results = await self.repo.checkpoint_many([params for params, _ in batch])
                except Exception as exc:
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (_, fut), ok in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(ok)
        finally:
            self._writer = None

    async def drain(self) -> None:
        """Wait until every store asked for so far is written (node shutdown)."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._writer)
