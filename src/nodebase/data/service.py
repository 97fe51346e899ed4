"""The Data module's use cases: what other modules and the HTTP layer call.

Each operation checks the caller's permission (a row filter from the guard becomes part of
the SQL), validates input, runs before-events (which may veto or change the payload),
writes, and runs after-events. Database constraint violations become 409/422.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from nodebase.data.counts import CountCache, DatabaseVersions
from nodebase.data.mutator import Prepared, prepare
from nodebase.data.query.compiler import Sql
from nodebase.data.query.model import RepoQuery
from nodebase.data.query.parse import parse_query
from nodebase.data.repository import EntityRepository, Row
from nodebase.data.schema import DataSchema, Entity
from nodebase.kernel.caller import Caller, Guard, require
from nodebase.kernel.database import Database, Executor
from nodebase.kernel.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidQuery,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)
from nodebase.kernel.events import Event, EventBus

T = TypeVar("T")

# Event names: data.<create|update|delete>.<before|after>
CREATE_BEFORE, CREATE_AFTER = "data.create.before", "data.create.after"
UPDATE_BEFORE, UPDATE_AFTER = "data.update.before", "data.update.after"
DELETE_BEFORE, DELETE_AFTER = "data.delete.before", "data.delete.after"
#: inside the change's own transaction, after the write (``event.extra["tx"]`` is the
#: transaction): a listener may write in it (Flows' outbox); raising rolls the change back
CREATE_TX, UPDATE_TX, DELETE_TX = "data.create.tx", "data.update.tx", "data.delete.tx"

#: rows one bulk create may hold and one bulk update/delete may change (setting ``bulk_max_rows``)
DEFAULT_BULK_MAX_ROWS = 1000
#: rows validated or written between two yields to the event loop: a bulk of any size lets
#: other requests through (on SQLite, whose calls do not await, nothing else would run)
YIELD_EVERY = 100


class DataService:
    def __init__(self, db: Database, events: EventBus, guard: Guard) -> None:
        self.db = db
        self.events = events
        self.guard = guard
        self.schema: DataSchema = DataSchema(config={})
        #: cached list counts and what invalidates them (data/counts.py), kept across schemas
        self.versions = DatabaseVersions(db)
        self.counts = CountCache()
        self.repo = EntityRepository(db, self.schema, self.versions, self.counts)
        #: entities whose rows the data API may not create (auth's users, media's media)
        self.system_entities: set[str] = set()
        self.bulk_max_rows = DEFAULT_BULK_MAX_ROWS

    def use_schema(self, schema: DataSchema) -> None:
        self.schema = schema
        self.repo = EntityRepository(self.db, schema, self.versions, self.counts)

    async def track_changes(self) -> None:
        """Let the change versions cover the schema's tables (after every schema sync)."""
        tables = [*self.schema.entities, *(r.table for r in self.schema.through_tables.values())]
        await self.versions.track(tables)

    # -- helpers -------------------------------------------------------------------------
    def entity(self, name: str) -> Entity:
        ent = self.schema.entities.get(name)
        if ent is None:
            raise NotFound(f'Entity "{name}" not found', context={"entity": name})
        return ent

    def parse_query(self, entity: Entity, params: dict[str, Any]) -> RepoQuery:
        return parse_query(self.schema, entity, params)

    def _id(self, entity: Entity, id: Any) -> Any:
        try:
            return entity.primary.to_db(id)
        except ValidationFailed:
            raise NotFound(f'No {entity.name} with id {id!r}', context={"entity": entity.name, "id": id}) from None

    def _scope(self, caller: Caller, permission: str, entity: Entity, id: Any = None) -> dict[str, Any] | None:
        ctx: dict[str, Any] = {"entity": entity.name}
        if id is not None:
            ctx["id"] = id
        return require(self.guard, caller, permission, ctx).filter

    def _where(self, entity: Entity, where: Any) -> dict[str, Any]:
        if not isinstance(where, dict) or not where:
            raise BadRequest(
                "A non-empty where object is required for bulk changes",
                context={"entity": entity.name},
            )
        # compile once so mistakes surface as InvalidQuery before anything runs
        from nodebase.data.query.compiler import WhereCompiler

        WhereCompiler(self.schema, Sql(self.db.dialect)).compile(entity, "t0", where)
        return where

    def _too_many(self, entity: Entity, action: str, rows: int | None) -> PayloadTooLarge:
        limit = self.bulk_max_rows
        counted = f"this one has {rows}" if rows is not None else "more rows match the where"
        context: dict[str, Any] = {"entity": entity.name, "limit": limit}
        if rows is not None:
            context["rows"] = rows
        hint = "split it" if action == "create" else "narrow the where"
        return PayloadTooLarge(
            f"A bulk {action} takes at most {limit} rows and {counted} (setting bulk_max_rows); {hint}",
            context=context,
        )

    async def _check_bulk_where(self, ex: Executor, entity: Entity, where: dict[str, Any],
                                scope: dict[str, Any] | None, action: str) -> None:
        """Refuse a bulk update/delete matching more than ``bulk_max_rows`` rows, before any
        change and at the cost of reading at most that many ids."""
        from nodebase.data.query.compiler import SelectCompiler

        probe = RepoQuery(limit=self.bulk_max_rows + 1, sort=[("id", "asc")], select=["id"], where=where)
        text, params, _ = SelectCompiler(self.schema, self.db.dialect).select(entity, probe, scope=scope)
        if len(await ex.fetch_all(text, params)) > self.bulk_max_rows:
            raise self._too_many(entity, action, None)

    @asynccontextmanager
    async def _constraints(self, entity: Entity) -> AsyncIterator[None]:
        try:
            yield
        except Exception as exc:
            problem = self.db.integrity_problem(exc)
            if problem is None:
                if isinstance(exc, OverflowError) or type(exc).__name__ in (
                    "DataError", "NumericValueOutOfRangeError", "InvalidTextRepresentationError",
                ):
                    raise ValidationFailed(f"A value is out of range: {exc}", context={"entity": entity.name}) from None
                raise
            if problem.kind == "unique":
                fields = [c for c in problem.columns if c in entity.fields] or list(problem.columns)
                raise Conflict(
                    f'A row with the same {", ".join(fields) or "value"} already exists in "{entity.name}"',
                    context={"entity": entity.name, "fields": fields},
                ) from None
            if problem.kind == "foreign_key":
                fks = [f.name for f in entity.columns if f.type == "relation"]
                raise ValidationFailed(
                    f"A related row does not exist (check {', '.join(fks) or 'the relation ids'})",
                    context={"entity": entity.name, "fields": fks},
                ) from None
            if problem.kind == "not_null":
                raise ValidationFailed(
                    f'Field "{problem.columns[0]}" is required', context={"entity": entity.name, "field": problem.columns[0]}
                ) from None
            raise ValidationFailed(f"Constraint failed: {problem.detail}", context={"entity": entity.name}) from None

    async def _emit(self, name: str, entity: Entity, payload: Any, caller: Caller) -> Any:
        if not self.events.has(name):
            return payload
        event = await self.events.emit(Event(name, entity.name, payload, caller))
        return event.payload

    async def _after(self, name: str, entity: Entity, payload: Any, caller: Caller) -> None:
        if self.events.has(name):
            await self.events.emit_after(Event(name, entity.name, payload, caller))

    def _tx_hook(self, name: str, entity: Entity) -> bool:
        return self.events.has_for(name, entity.name)

    async def _in_tx_event(self, tx: Executor, name: str, entity: Entity, payload: Any, caller: Caller) -> None:
        await self.events.emit(Event(name, entity.name, payload, caller, extra={"tx": tx}))

    async def _previous(self, tx: Executor, entity: Entity, by_id: Callable[[Sql, str], str]) -> Row | None:
        """The row before an update, read through the update's own transaction (a second pool
        connection per transaction could exhaust the pool under load)."""
        query = RepoQuery()
        sql, params, names = self.repo.selects.select(entity, query, extra=by_id, single=True)
        row = await tx.fetch_one(sql, params)
        return None if row is None else self.repo._decoder(entity, names, query)(row)

    async def _in_tx(self, fn: Callable[[Executor], Awaitable[T]]) -> T:
        async with self.db.transaction() as tx:
            return await fn(tx)

    async def _check_scope(self, ex: Executor, entity: Entity, ids: list[Any], scope: dict[str, Any] | None, perm: str) -> None:
        """After a write inside a transaction: every written row must still match the filter."""
        if not scope or not ids:
            return
        from nodebase.data.query.compiler import SelectCompiler

        sc = SelectCompiler(self.schema, self.db.dialect)

        def in_ids(sql: Sql, a: str) -> str:
            return f"{a}.{sql.q('id')} IN ({', '.join(sql.p(i) for i in ids)})"

        text, params = sc.count(entity, None, scope=scope, extra=in_ids)
        if int(await ex.fetch_val(text, params) or 0) != len(ids):
            raise Forbidden(
                f'Permission "{perm}" not granted for this row',
                context={"entity": entity.name},
                extra={"permission": perm, "description": "the row does not match the role's filter"},
            )

    # -- reads ---------------------------------------------------------------------------
    async def read_many(self, name: str, query: RepoQuery | dict[str, Any], caller: Caller) -> tuple[list[Row], dict[str, Any]]:
        entity = self.entity(name)
        scope = self._scope(caller, "data.entity.read", entity)
        q = query if isinstance(query, RepoQuery) else self.parse_query(entity, query)
        return await self.repo.find_many(entity, q, scope=scope)

    async def read_one(self, name: str, id: Any, query: RepoQuery | dict[str, Any], caller: Caller) -> Row | None:
        entity = self.entity(name)
        scope = self._scope(caller, "data.entity.read", entity, id)
        q = query if isinstance(query, RepoQuery) else self.parse_query(entity, query)
        try:
            pk = entity.primary.to_db(id)
        except ValidationFailed:
            return None
        return await self.repo.find_one(entity, pk, q, scope=scope)

    async def read_reference(
        self, name: str, id: Any, reference: str, query: dict[str, Any], caller: Caller
    ) -> tuple[list[Row], dict[str, Any]]:
        entity = self.entity(name)
        ref = entity.references.get(reference)
        if ref is None:
            raise NotFound(
                f'"{reference}" is not a relation of entity "{name}"',
                context={"entity": name, "relation": reference, "valid": sorted(entity.references)},
            )
        pk = self._id(entity, id)
        parent_scope = self._scope(caller, "data.entity.read", entity, pk)
        if parent_scope:
            # the parent row itself must be visible under the caller's row filter
            visible = await self.repo.find_one(entity, pk, RepoQuery(select=["id"]), scope=parent_scope)
            if visible is None:
                raise NotFound(f"No {name} with id {id!r}", context={"entity": name, "id": id})
        target = self.schema.entities[ref.target]
        scope = self._scope(caller, "data.entity.read", target)
        q = self.parse_query(target, query)
        return await self.repo.find_many(target, q, scope=scope, extra=self.repo.reference_filter(entity, pk, ref))

    async def count(self, name: str, where: Any, caller: Caller) -> int:
        entity = self.entity(name)
        scope = self._scope(caller, "data.entity.read", entity)
        if where is not None and not isinstance(where, dict):
            raise InvalidQuery("where must be a JSON object", context={"entity": name})
        return await self.repo.count(entity, where or None, scope=scope)

    async def exists(self, name: str, where: Any, caller: Caller) -> bool:
        entity = self.entity(name)
        scope = self._scope(caller, "data.entity.read", entity)
        if where is not None and not isinstance(where, dict):
            raise InvalidQuery("where must be a JSON object", context={"entity": name})
        return await self.repo.exists(entity, where or None, scope=scope)

    # -- writes --------------------------------------------------------------------------
    def _writable(self, entity: Entity, caller: Caller, action: str) -> None:
        if entity.name in self.system_entities and not caller.is_system:
            raise BadRequest(
                f'{action.capitalize()} of system entity "{entity.name}" through the data API is disabled',
                context={"entity": entity.name},
            )

    async def create(self, name: str, body: Any, caller: Caller) -> Row | list[Row]:
        entity = self.entity(name)
        self._writable(entity, caller, "creation")
        scope = self._scope(caller, "data.entity.create", entity)
        many = isinstance(body, list)
        items = body if many else [body]
        if many and not items:
            raise ValidationFailed("The body is an empty list", context={"entity": name})
        if many and len(items) > self.bulk_max_rows:
            raise self._too_many(entity, "create", len(items))
        payload = await self._emit(CREATE_BEFORE, entity, {"data": body if many else items[0]}, caller)
        data = payload["data"]
        items = data if isinstance(data, list) else [data]
        if len(items) == 1:
            prepared = [prepare(self.schema, entity, items[0], create=True)]
        else:
            prepared = []
            for i, item in enumerate(items):
                if i and not i % YIELD_EVERY:
                    await asyncio.sleep(0)
                prepared.append(prepare(self.schema, entity, item, create=True))
        hook = self._tx_hook(CREATE_TX, entity)
        simple = len(prepared) == 1 and not prepared[0].links and not scope and not hook

        async def insert_all(tx: Executor) -> list[Row]:
            rows = await self._insert_all(tx, entity, prepared, scope)
            if hook:
                await self._in_tx_event(tx, CREATE_TX, entity, {"data": rows if many else rows[0]}, caller)
            return rows

        async with self._constraints(entity):
            if simple:
                rows = [await self.repo.insert(self.db, entity, prepared[0].values)]
            else:
                rows = await self._in_tx(insert_all)
        result: Row | list[Row] = rows if many else rows[0]
        await self._after(CREATE_AFTER, entity, {"data": result}, caller)
        return result

    async def _insert_all(self, tx: Executor, entity: Entity, prepared: list[Prepared], scope: dict[str, Any] | None) -> list[Row]:
        rows = []
        for i, p in enumerate(prepared):
            if i and not i % YIELD_EVERY:
                await asyncio.sleep(0)
            row = await self.repo.insert(tx, entity, p.values)
            await self._apply_links(tx, row["id"], p)
            rows.append(row)
        await self._check_scope(tx, entity, [r["id"] for r in rows], scope, "data.entity.create")
        return rows

    async def _apply_links(self, tx: Executor, id: Any, p: Prepared) -> None:
        for ref, op, ids in p.links:
            if op == "$detach":
                await self.repo.unlink(tx, ref, id, ids)
            else:
                await self.repo.link(tx, ref, id, ids, replace=op == "$set")

    async def update_one(self, name: str, id: Any, body: Any, caller: Caller) -> Row:
        entity = self.entity(name)
        self._writable(entity, caller, "update")
        pk = self._id(entity, id)
        scope = self._scope(caller, "data.entity.update", entity, pk)
        payload = await self._emit(UPDATE_BEFORE, entity, {"id": pk, "data": body}, caller)
        p = prepare(self.schema, entity, payload["data"], create=False)

        def by_id(sql: Sql, a: str) -> str:
            return f"{a}.{sql.q('id')} = {sql.p(pk)}"

        hook = self._tx_hook(UPDATE_TX, entity)

        async def run(tx: Executor) -> list[Row]:
            previous = await self._previous(tx, entity, by_id) if hook else None
            rows = await self.repo.update(tx, entity, p.values, None, scope=scope, extra=by_id)
            if rows:
                await self._apply_links(tx, pk, p)
                await self._check_scope(tx, entity, [pk], scope, "data.entity.update")
                if hook:
                    await self._in_tx_event(tx, UPDATE_TX, entity,
                                            {"id": pk, "data": rows[0], "previous": previous}, caller)
            return rows

        async with self._constraints(entity):
            if not p.links and not scope and not hook:
                rows = await self.repo.update(self.db, entity, p.values, None, extra=by_id)
            else:
                rows = await self._in_tx(run)
        if not rows:
            raise NotFound(f"No {name} with id {id!r}", context={"entity": name, "id": id})
        await self._after(UPDATE_AFTER, entity, {"id": pk, "data": rows[0]}, caller)
        return rows[0]

    async def update_many(self, name: str, where: Any, body: Any, caller: Caller) -> list[Row]:
        entity = self.entity(name)
        self._writable(entity, caller, "update")
        where = self._where(entity, where)
        scope = self._scope(caller, "data.entity.update", entity)
        payload = await self._emit(UPDATE_BEFORE, entity, {"where": where, "data": body}, caller)
        p = prepare(self.schema, entity, payload["data"], create=False)
        if p.links:
            raise ValidationFailed("Relation changes are not allowed in bulk updates", context={"entity": name})

        async def run(tx: Executor) -> list[Row]:
            await self._check_bulk_where(tx, entity, payload["where"], scope, "update")
            rows = await self.repo.update(tx, entity, p.values, payload["where"], scope=scope)
            if len(rows) > self.bulk_max_rows:  # rows committed in between (PostgreSQL)
                raise self._too_many(entity, "update", None)
            await self._check_scope(tx, entity, [r["id"] for r in rows], scope, "data.entity.update")
            if rows and self._tx_hook(UPDATE_TX, entity):
                await self._in_tx_event(tx, UPDATE_TX, entity, {"where": where, "data": rows}, caller)
            return rows

        async with self._constraints(entity):
            rows = await self._in_tx(run)
        await self._after(UPDATE_AFTER, entity, {"where": where, "data": rows}, caller)
        return rows

    async def delete_one(self, name: str, id: Any, caller: Caller) -> Row:
        entity = self.entity(name)
        self._writable(entity, caller, "deletion")
        pk = self._id(entity, id)
        scope = self._scope(caller, "data.entity.delete", entity, pk)
        await self._emit(DELETE_BEFORE, entity, {"id": pk}, caller)

        def by_id(sql: Sql, a: str) -> str:
            return f"{a}.{sql.q('id')} = {sql.p(pk)}"

        async def run(tx: Executor) -> list[Row]:
            rows = await self.repo.delete(tx, entity, None, scope=scope, extra=by_id)
            if rows:
                await self._in_tx_event(tx, DELETE_TX, entity, {"id": pk, "data": rows[0]}, caller)
            return rows

        async with self._constraints(entity):
            if self._tx_hook(DELETE_TX, entity):
                rows = await self._in_tx(run)
            else:
                rows = await self.repo.delete(self.db, entity, None, scope=scope, extra=by_id)
        if not rows:
            raise NotFound(f"No {name} with id {id!r}", context={"entity": name, "id": id})
        await self._after(DELETE_AFTER, entity, {"id": pk, "data": rows[0]}, caller)
        return rows[0]

    async def delete_many(self, name: str, where: Any, caller: Caller) -> list[Row]:
        entity = self.entity(name)
        self._writable(entity, caller, "deletion")
        where = self._where(entity, where)
        scope = self._scope(caller, "data.entity.delete", entity)
        payload = await self._emit(DELETE_BEFORE, entity, {"where": where}, caller)

        async def run(tx: Executor) -> list[Row]:
            await self._check_bulk_where(tx, entity, payload["where"], scope, "delete")
            rows = await self._delete_where(tx, entity, payload["where"], scope, where, caller)
            if len(rows) > self.bulk_max_rows:  # rows committed in between (PostgreSQL)
                raise self._too_many(entity, "delete", None)
            return rows

        async with self._constraints(entity):
            rows = await self._in_tx(run)
        await self._after(DELETE_AFTER, entity, {"where": where, "data": rows}, caller)
        return rows

    async def _delete_where(self, tx: Executor, entity: Entity, where: dict[str, Any], scope: dict[str, Any] | None,
                            given: dict[str, Any], caller: Caller) -> list[Row]:
        rows = await self.repo.delete(tx, entity, where, scope=scope)
        if rows and self._tx_hook(DELETE_TX, entity):
            await self._in_tx_event(tx, DELETE_TX, entity, {"where": given, "data": rows}, caller)
        return rows


__all__ = ["DataService"]
