"""The Data module: owns the live schema, keeps the tables in sync, exposes DataService.

Other modules use ``DataModule.service`` (and ``register_system_entity`` to add their own
entities, e.g. auth's ``users``), never the HTTP routes.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nodebase.data.bknd_fields import keep_nodebase_keys
from nodebase.data.schema import DataSchema, default_data_config, parse_data_config
from nodebase.data.service import DataService
from nodebase.kernel import jsonutil
from nodebase.kernel.caller import Guard
from nodebase.kernel.database import Database
from nodebase.kernel.errors import NodebaseError
from nodebase.kernel.events import EventBus

if TYPE_CHECKING:
    from nodebase.data.sync import SyncPlan

log = logging.getLogger("nodebase.data")


class DestructiveChange(NodebaseError):
    status = 409
    type = "DestructiveChangeException"


class DataModule:
    name = "data"

    def __init__(self, db: Database, events: EventBus, guard: Guard, schema_file: Path | None = None) -> None:
        self.db = db
        self.service = DataService(db, events, guard)
        self.schema_file = schema_file
        self.system_entities: dict[str, Any] = {}
        self.pending: list[dict[str, Any]] = []  # destructive changes not applied at start
        self._pending_from: DataSchema | None = None
        self.store: Any = None  # ConfigStore: remembers the last fully synced schema

    SYNCED_KEY = "data.synced"

    def _synced_record(self, config: dict[str, Any]) -> dict[str, Any]:
        # the system entities (users, media) are part of what was synced
        return {"config": config, "system": self.system_entities}

    async def _remember_synced(self, config: dict[str, Any]) -> None:
        if self.store is not None:
            await self.store.save(self.SYNCED_KEY, self._synced_record(config))

    @property
    def schema(self) -> DataSchema:
        return self.service.schema

    def register_system_entity(self, name: str, spec: dict[str, Any]) -> None:
        self.system_entities[name] = {**spec, "type": "system"}
        self.service.system_entities.add(name)

    def default_config(self) -> dict[str, Any]:
        return default_data_config()

    def secret_paths(self) -> list[str]:
        return []

    def prepare_change(self, op: str, path: str | None, value: Any, current: dict[str, Any]) -> Any:
        """bknd's schema editor overwrites an entity's fields whole, in bknd's keys: keep the
        nodebase options it was never shown (data/bknd_fields.py)."""
        return keep_nodebase_keys(current, path, value) if op == "overwrite" else value

    def parse(self, doc: dict[str, Any]) -> DataSchema:
        return parse_data_config(doc, system_entities=self.system_entities)

    async def plan(self, doc: dict[str, Any]) -> tuple[DataSchema, SyncPlan]:
        from nodebase.data.sync import plan_sync

        new = self.parse(doc)
        current = self.service.schema if self.service.schema.entities else None
        return new, await plan_sync(self.db, current, new)

    async def apply_config(self, doc: dict[str, Any], *, drop: bool, at_start: bool = False) -> dict[str, Any]:
        from nodebase.data.sync import apply_sync

        new, plan = await self.plan(doc)
        if plan.destructive and not drop:
            described = [c.describe() for c in plan.destructive]
            raise DestructiveChange(
                "This change would drop data: "
                + ", ".join(f"{c.kind} {c.table}{'.' + c.name if c.kind == 'drop_column' else ''}" for c in plan.destructive)
                + ". Repeat it with ?drop=1 to apply it.",
                context={"changes": described},
            )
        await apply_sync(self.db, plan, drop=drop)
        self.service.use_schema(new)
        await self.service.track_changes()
        if not self.pending:
            await self._remember_synced(new.config)
        self._write_schema_file(new.config)
        return new.config

    def _write_schema_file(self, config: dict[str, Any]) -> None:
        """Write a schema change back to the schema file, creating it if needed (the README's
        promise). Keeps a ``{"data": ...}`` wrapper if the file has one; replaces atomically."""
        if self.schema_file is None:
            return
        current: Any = None
        if self.schema_file.exists():
            try:
                current = jsonutil.loads(self.schema_file.read_bytes(), what="schema file")
            except NodebaseError:
                current = None
        # a module-keyed file ({"data": ..., "flows": ...}) keeps the other modules' keys
        wrapped = {**current, "data": config} if isinstance(current, dict) and "data" in current else config
        if current == wrapped:
            return
        tmp = self.schema_file.with_name(f".{self.schema_file.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(jsonutil.dumps_readable(wrapped) + "\n")
            os.replace(tmp, self.schema_file)
        except OSError as exc:  # a read-only project dir must not fail the change itself
            log.warning("could not write the schema file %s: %s", self.schema_file, exc)
            tmp.unlink(missing_ok=True)

    def read_schema_file(self) -> dict[str, Any] | None:
        if self.schema_file is None or not self.schema_file.is_file():
            return None
        doc = jsonutil.loads(self.schema_file.read_bytes(), what=f"schema file {self.schema_file}")
        if isinstance(doc, dict) and "data" in doc and isinstance(doc["data"], dict):
            doc = doc["data"]
        if not isinstance(doc, dict):
            raise NodebaseError(f"schema file {self.schema_file} must hold a JSON object")
        return doc

    async def start(self, stored: dict[str, Any] | None) -> dict[str, Any]:
        """Load the schema at start: the schema file wins over the stored document.

        Destructive differences are not applied at start; they are kept in ``pending`` and
        shown by ``nodebase sync``.
        """
        doc = self.read_schema_file() or stored or default_data_config()
        record = (await self.store.load()).get(self.SYNCED_KEY) if self.store is not None else None
        synced = record.get("config") if isinstance(record, dict) and "config" in record else None
        previous_doc = synced or stored
        previous = self.parse(previous_doc) if previous_doc else None
        new = self.parse(doc)
        if record is not None and record == self._synced_record(new.config):
            # Same schema as the last full sync: nothing to do, and no SQLAlchemy import
            # (it costs ~0.3 s of cold start). `nodebase sync` still compares with the database.
            self.pending, self._pending_from = [], None
            self.service.use_schema(new)
            await self.service.track_changes()
            return new.config
        from nodebase.data.sync import apply_sync, plan_sync

        plan = await plan_sync(self.db, previous, new)
        self.pending = [c.describe() for c in plan.destructive]
        self._pending_from = previous if plan.destructive else None
        for c in plan.destructive:
            log.warning("schema sync: not applying destructive change %s %s.%s (run `nodebase sync --drop`)",
                        c.kind, c.table, c.name)
        await apply_sync(self.db, plan, drop=False)
        self.service.use_schema(new)
        await self.service.track_changes()
        if not plan.destructive:
            await self._remember_synced(new.config)
        return new.config

    async def sync(self, *, apply: bool, drop: bool) -> dict[str, Any]:
        """Compare the live schema with the database; optionally apply (``drop``: destructive too)."""
        from nodebase.data.sync import apply_sync, plan_sync

        plan = await plan_sync(self.db, self._pending_from or self.schema, self.schema)
        ran = await apply_sync(self.db, plan, drop=drop) if apply else []
        if ran:
            await self.service.track_changes()
        if apply and drop:
            self.pending, self._pending_from = [], None
            await self._remember_synced(self.schema.config)
        return {
            "tables": await self.db.tables(),
            "changes": plan.describe(),
            "applied": [c.describe() for c in ran],
        }
