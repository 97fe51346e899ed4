"""Persistence of module configuration documents in the database (table ``__nodebase_config``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nodebase.kernel import jsonutil
from nodebase.kernel.database import Database

TABLE = "__nodebase_config"


class ConfigStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def ensure(self) -> None:
        await self.db.execute(
            f'CREATE TABLE IF NOT EXISTS "{TABLE}" ('
            '"module" TEXT PRIMARY KEY, "json" TEXT NOT NULL, "updated_at" TEXT NOT NULL)'
        )

    async def load(self) -> dict[str, Any]:
        rows = await self.db.fetch_all(f'SELECT "module", "json" FROM "{TABLE}"')
        return {r[0]: jsonutil.loads(r[1], what="stored config") for r in rows}

    async def revision(self) -> str:
        """Changes whenever any process stores a config document."""
        value = await self.db.fetch_val(f'SELECT max("updated_at") FROM "{TABLE}"')
        return str(value or "")

    async def save(self, module: str, doc: Any, ex: Any = None) -> None:
        ex = ex or self.db
        p = self.db.dialect.placeholder
        now = datetime.now(UTC).isoformat()
        await ex.execute(
            f'INSERT INTO "{TABLE}" ("module", "json", "updated_at") VALUES ({p(1)}, {p(2)}, {p(3)}) '
            f'ON CONFLICT ("module") DO UPDATE SET "json" = excluded."json", "updated_at" = excluded."updated_at"',
            (module, jsonutil.dumps_str(doc), now),
        )
