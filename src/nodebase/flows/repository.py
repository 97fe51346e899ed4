"""Runs and their leases: SQL only (table ``__nodebase_flow_runs``).

One row per run holds everything a node needs to continue it: the definition it started
with, its input, the runner's state and the task records. ``run_key`` is unique, so a
schedule tick (``schedule:<flow>:<tick>``) is claimed by whichever node inserts it first.
A run is executed by the node holding its lease (``lease_owner``, ``lease_until``); a lease
that is not renewed expires and another node takes the run over.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nodebase.flows.runs import Run, RunStatus
from nodebase.kernel import jsonutil
from nodebase.kernel.database import Database, Executor

TABLE = "__nodebase_flow_runs"
_COLS = ("id", "flow", "trigger", "status", "started_at", "finished_at", "input", "output", "error",
         "tasks", "state", "definition", "role")


def ddl(db: Database) -> list[str]:
    real = "DOUBLE PRECISION"
    return [
        f'CREATE TABLE IF NOT EXISTS "{TABLE}" ('
        '"id" TEXT PRIMARY KEY, "flow" TEXT NOT NULL, "trigger" TEXT NOT NULL, '
        '"run_key" TEXT UNIQUE, "status" TEXT NOT NULL, '
        f'"started_at" {real} NOT NULL, "finished_at" {real}, "wake_at" {real} NOT NULL, '
        f'"lease_owner" TEXT, "lease_until" {real}, "role" TEXT, '
        '"input" TEXT, "output" TEXT, "error" TEXT, "tasks" TEXT NOT NULL, "state" TEXT NOT NULL, '
        '"definition" TEXT NOT NULL)',
        f'CREATE INDEX IF NOT EXISTS "{TABLE}_due" ON "{TABLE}" ("status", "wake_at")',
        f'CREATE INDEX IF NOT EXISTS "{TABLE}_flow" ON "{TABLE}" ("flow", "started_at")',
        f'CREATE INDEX IF NOT EXISTS "{TABLE}_finished" ON "{TABLE}" ("finished_at")',
    ]


def _j(value: Any) -> str | None:
    return None if value is None else jsonutil.dumps_str(value)


def _l(value: Any) -> Any:
    return None if value is None else jsonutil.loads(value, what="stored run")


_INSERT_COLS = ("id", "flow", "trigger", "run_key", "status", "started_at", "finished_at", "wake_at",
                "lease_owner", "lease_until", "role", "input", "output", "error", "tasks", "state",
                "definition")


class RunRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        # the statements of every run, built once
        names = ", ".join(f'"{c}"' for c in _INSERT_COLS)
        self._insert_sql = (f'INSERT INTO "{TABLE}" ({names}) VALUES ({self._marks(len(_INSERT_COLS))}) '
                            'ON CONFLICT ("run_key") DO NOTHING')
        self._checkpoint_sql = (
            f'UPDATE "{TABLE}" SET "status" = {self._p(1)}, "finished_at" = {self._p(2)}, '
            f'"output" = {self._p(3)}, "error" = {self._p(4)}, "tasks" = {self._p(5)}, '
            f'"state" = {self._p(6)}, "wake_at" = {self._p(7)}, "lease_until" = {self._p(8)}, '
            f'"lease_owner" = {self._p(9)} WHERE "id" = {self._p(10)} AND "lease_owner" = {self._p(11)}')

    def _p(self, n: int) -> str:
        return self.db.dialect.placeholder(n)

    def _marks(self, count: int, start: int = 1) -> str:
        return ", ".join(self._p(i) for i in range(start, start + count))

    async def insert(self, ex: Executor | None, run: Run, *, key: str | None, owner: str | None,
                     lease_until: float | None, wake_at: float) -> bool:
        """Insert ``run``; False if a run with the same ``key`` exists (claimed elsewhere)."""
        values = (run.id, run.flow, run.trigger, key, str(run.status), run.started_at, run.finished_at,
                  wake_at, owner, lease_until, run.role, _j(run.input), _j(run.output), _j(run.error),
                  _j(run.tasks), _j(run.state), _j(run.definition))
        return int(await (ex or self.db).execute(self._insert_sql, values)) == 1

    @staticmethod
    def _run(row: Sequence[Any]) -> Run:
        (id_, flow, trigger, status, started, finished, inp, out, err, tasks, state, definition,
         role) = row
        return Run(id=id_, flow=flow, trigger=trigger, status=RunStatus(status), started_at=float(started),
                   finished_at=None if finished is None else float(finished), input=_l(inp),
                   output=_l(out), error=_l(err), tasks=_l(tasks) or [], state=_l(state) or {},
                   definition=_l(definition) or {}, role=role)

    async def get(self, run_id: str) -> Run | None:
        cols = ", ".join(f'"{c}"' for c in _COLS)
        row = await self.db.fetch_one(f'SELECT {cols} FROM "{TABLE}" WHERE "id" = {self._p(1)}', (run_id,))
        return None if row is None else self._run(row)

    async def list_runs(self, *, flow: str | None, status: str | None, limit: int, offset: int
                   ) -> tuple[list[Run], int]:
        conds, params = [], []
        if flow:
            params.append(flow)
            conds.append(f'"flow" = {self._p(len(params))}')
        if status:
            params.append(status)
            conds.append(f'"status" = {self._p(len(params))}')
        where = (" WHERE " + " AND ".join(conds)) if conds else ""
        total = int(await self.db.fetch_val(f'SELECT count(*) FROM "{TABLE}"{where}', params) or 0)
        cols = ", ".join(f'"{c}"' for c in _COLS)
        rows = await self.db.fetch_all(
            f'SELECT {cols} FROM "{TABLE}"{where} ORDER BY "started_at" DESC, "id" DESC '
            f'LIMIT {int(limit)} OFFSET {int(offset)}', params)
        return [self._run(r) for r in rows], total

    async def due(self, now: float, limit: int) -> list[str]:
        """Ids of running runs nobody holds and whose wake time has come."""
        rows = await self.db.fetch_all(
            f'SELECT "id" FROM "{TABLE}" WHERE "status" = {self._p(1)} AND "wake_at" <= {self._p(2)} '
            f'AND ("lease_until" IS NULL OR "lease_until" < {self._p(3)}) ORDER BY "wake_at" LIMIT {int(limit)}',
            (str(RunStatus.RUNNING), now, now))
        return [r[0] for r in rows]

    async def claim(self, run_id: str, owner: str, now: float, lease_until: float) -> bool:
        n = await self.db.execute(
            f'UPDATE "{TABLE}" SET "lease_owner" = {self._p(1)}, "lease_until" = {self._p(2)} '
            f'WHERE "id" = {self._p(3)} AND "status" = {self._p(4)} '
            f'AND ("lease_until" IS NULL OR "lease_until" < {self._p(5)} OR "lease_owner" = {self._p(6)})',
            (owner, lease_until, run_id, str(RunStatus.RUNNING), now, owner))
        return int(n) == 1

    async def renew(self, run_ids: list[str], owner: str, lease_until: float) -> None:
        if not run_ids:
            return
        marks = self._marks(len(run_ids), 3)
        await self.db.execute(
            f'UPDATE "{TABLE}" SET "lease_until" = {self._p(1)} WHERE "lease_owner" = {self._p(2)} '
            f'AND "id" IN ({marks})', (lease_until, owner, *run_ids))

    @staticmethod
    def checkpoint_params(run: Run, owner: str, *, lease_until: float | None, wake_at: float,
                          release: bool = False) -> tuple[Any, ...]:
        """The run's progress as it is now, for :meth:`checkpoint_many`."""
        return (str(run.status), run.finished_at, _j(run.output), _j(run.error), _j(run.tasks),
                _j(run.state), wake_at, None if release else lease_until, None if release else owner,
                run.id, owner)

    async def checkpoint(self, run: Run, owner: str, *, lease_until: float | None, wake_at: float,
                         release: bool = False) -> bool:
        """Store the run's progress; False if this node no longer holds the lease."""
        params = self.checkpoint_params(run, owner, lease_until=lease_until, wake_at=wake_at, release=release)
        return (await self.checkpoint_many([params]))[0]

    async def checkpoint_many(self, batch: Sequence[tuple[Any, ...]]) -> list[bool]:
        """Store several runs' progress in one transaction (one commit); for each, False if
        this node no longer holds its lease."""
        sql = self._checkpoint_sql
        if len(batch) == 1:
            return [int(await self.db.execute(sql, batch[0])) == 1]
        async with self.db.transaction() as tx:
            return [int(await tx.execute(sql, params)) == 1 for params in batch]

    async def prune(self, before: float) -> int:
        return int(await self.db.execute(
            f'DELETE FROM "{TABLE}" WHERE "finished_at" IS NOT NULL AND "finished_at" < {self._p(1)}',
            (before,)))
