"""Entity repository: runs the compiled SQL and turns rows into JSON-ready dicts.

Knows SQL and the schema, nothing of HTTP or permissions (those arrive as a ``scope``
where-document from the service).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from nodebase.data.query.compiler import SelectCompiler, Sql, reference_link
from nodebase.data.query.model import RepoQuery
from nodebase.data.schema import DataSchema, Entity, Reference
from nodebase.kernel.database import Database, Executor

Row = dict[str, Any]
Decoder = Callable[[list[Any]], Row]


class EntityRepository:
    def __init__(self, db: Database, schema: DataSchema) -> None:
        self.db = db
        self.schema = schema
        self.selects = SelectCompiler(schema, db.dialect)
        self._decoders: dict[tuple[str, tuple[str, ...]], Callable[[Any], Row]] = {}
        self._floats = db.dialect.name != "sqlite"
        # COUNT results, valid while the database's change counter is unchanged. Only on
        # SQLite, whose counter (PRAGMA data_version + local writes) sees every commit from
        # any process; PostgreSQL has no such cheap marker, so it always counts.
        self._counts: dict[tuple[str, tuple[Any, ...]], int] = {}
        self._counts_at = -1
        self._cache_counts = db.dialect.name == "sqlite"
        self._insert_sql: dict[tuple[str, tuple[str, ...]], tuple[str, list[str]]] = {}

    # -- decoding ------------------------------------------------------------------------
    def _decoder(self, entity: Entity, names: list[str], query: RepoQuery | None) -> Callable[[Any], Row]:
        withs = query.with_ if query else {}
        key = (entity.name, tuple(names)) if not withs else None
        if key is not None and (hit := self._decoders.get(key)) is not None:
            return hit
        conv = entity.decoders(names, floats=self._floats)
        embeds: list[tuple[int, Reference, RepoQuery]] = [
            (names.index(w), entity.references[w], sub) for w, sub in withs.items()
        ]
        sub_decoders = [
            (i, ref.many, self._embedded_decoder(self.schema.entities[ref.target], sub))
            for i, ref, sub in embeds
        ]
        names_t = tuple(names)

        def decode(row: Any) -> Row:
            if not conv and not sub_decoders:
                return dict(zip(names_t, row, strict=True))
            values = list(row)
            for i, fn in conv:
                values[i] = fn(values[i])
            for i, many, sub in sub_decoders:
                raw = values[i]
                if raw is None:
                    values[i] = [] if many else None
                    continue
                data = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
                values[i] = [sub(x) for x in data] if many else sub(data)
            return dict(zip(names_t, values, strict=True))

        if key is not None:
            self._decoders[key] = decode
        return decode

    def _embedded_decoder(self, entity: Entity, query: RepoQuery) -> Callable[[dict[str, Any]], Row]:
        names = self.selects.columns(entity, query)
        conv = [(names[i], fn) for i, fn in entity.decoders(names, floats=self._floats)]
        subs = [
            (w, entity.references[w].many, self._embedded_decoder(self.schema.entities[entity.references[w].target], s))
            for w, s in query.with_.items()
        ]

        def decode(obj: dict[str, Any]) -> Row:
            for n, fn in conv:
                obj[n] = fn(obj.get(n))
            for w, many, sub in subs:
                v = obj.get(w)
                if v is None:
                    obj[w] = [] if many else None
                elif isinstance(v, str):
                    v = orjson.loads(v)
                    obj[w] = [sub(x) for x in v] if many else sub(v)
                else:
                    obj[w] = [sub(x) for x in v] if many else sub(v)
            return obj

        return decode

    # -- reads ---------------------------------------------------------------------------
    async def find_many(
        self,
        entity: Entity,
        query: RepoQuery,
        *,
        scope: dict[str, Any] | None = None,
        extra: Callable[[Sql, str], str] | None = None,
    ) -> tuple[list[Row], dict[str, Any]]:
        t0 = time.perf_counter()
        sql, params, names = self.selects.select(entity, query, scope=scope, extra=extra)
        raw = await self.db.fetch_all(sql, params)
        decode = self._decoder(entity, names, query)
        rows = [decode(r) for r in raw]
        meta: dict[str, Any] = {"items": len(rows)}
        if query.count:
            meta["count"] = await self._count_for_meta(entity, query, rows, scope, extra)
            meta["total"] = await self.count(entity, None, scope=scope, extra=extra)
        meta["time"] = round((time.perf_counter() - t0) * 1000, 3)
        return rows, meta

    async def _count_for_meta(
        self,
        entity: Entity,
        query: RepoQuery,
        rows: list[Row],
        scope: dict[str, Any] | None,
        extra: Callable[[Sql, str], str] | None,
    ) -> int:
        # A short first page already tells the count: no second query.
        if query.offset == 0 and len(rows) < query.limit:
            return len(rows)
        return await self.count(entity, query.where, scope=scope, extra=extra)

    async def find_one(
        self,
        entity: Entity,
        id: Any,
        query: RepoQuery,
        *,
        scope: dict[str, Any] | None = None,
    ) -> Row | None:
        def by_id(sql: Sql, a: str) -> str:
            return f"{a}.{sql.q('id')} = {sql.p(id)}"

        sql, params, names = self.selects.select(entity, query, scope=scope, extra=by_id, single=True)
        row = await self.db.fetch_one(sql, params)
        return None if row is None else self._decoder(entity, names, query)(row)

    async def count(
        self,
        entity: Entity,
        where: dict[str, Any] | None,
        *,
        scope: dict[str, Any] | None = None,
        extra: Callable[[Sql, str], str] | None = None,
    ) -> int:
        sql, params = self.selects.count(entity, where, scope=scope, extra=extra)
        if not self._cache_counts:
            return int(await self.db.fetch_val(sql, params) or 0)
        version = await self.db.change_counter()
        if version != self._counts_at:
            self._counts.clear()
            self._counts_at = version
        key = (sql, tuple(params))
        hit = self._counts.get(key)
        if hit is None:
            if len(self._counts) > 1024:
                self._counts.clear()
            hit = self._counts[key] = int(await self.db.fetch_val(sql, params) or 0)
        return hit

    async def exists(self, entity: Entity, where: dict[str, Any] | None, *, scope: dict[str, Any] | None = None) -> bool:
        sql, params = self.selects.exists(entity, where, scope=scope)
        return bool(await self.db.fetch_val(sql, params))

    def reference_filter(self, entity: Entity, id: Any, ref: Reference) -> Callable[[Sql, str], str]:
        """Condition selecting rows of ``ref.target`` related to ``entity`` row ``id``."""

        def cond(sql: Sql, inner: str) -> str:
            outer = sql.alias()
            link = reference_link(sql, ref, outer, inner)
            return (f"EXISTS (SELECT 1 FROM {sql.q(entity.name)} {outer} "
                    f"WHERE {outer}.{sql.q('id')} = {sql.p(id)} AND {link})")

        return cond

    # -- writes --------------------------------------------------------------------------
    def _returning(self, entity: Entity, sql: Sql) -> tuple[str, list[str]]:
        names = [f.name for f in entity.readable]
        return ", ".join(sql.q(n) for n in names), names

    async def insert(self, ex: Executor, entity: Entity, values: dict[str, Any]) -> Row:
        key = (entity.name, tuple(values))
        cached = self._insert_sql.get(key)
        if cached is None:
            sql = Sql(self.db.dialect)
            q = sql.q
            ret, names = self._returning(entity, sql)
            if values:
                cols = ", ".join(q(k) for k in values)
                marks = ", ".join(sql.p(v) for v in values.values())
                text = f"INSERT INTO {q(entity.name)} ({cols}) VALUES ({marks}) RETURNING {ret}"
            else:
                text = f"INSERT INTO {q(entity.name)} DEFAULT VALUES RETURNING {ret}"
            cached = self._insert_sql[key] = (text, names)
        text, names = cached
        row = await ex.fetch_one(text, list(values.values()))
        assert row is not None
        return self._decoder(entity, names, None)(row)

    async def update(
        self,
        ex: Executor,
        entity: Entity,
        values: dict[str, Any],
        where: dict[str, Any] | None,
        *,
        scope: dict[str, Any] | None = None,
        extra: Callable[[Sql, str], str] | None = None,
    ) -> list[Row]:
        sql = Sql(self.db.dialect)
        q = sql.q
        ret, names = self._returning(entity, sql)
        a = "t0"
        conds = self.selects._conditions(sql, entity, a, where, scope, extra)
        sets = ", ".join(f"{q(k)} = {sql.p(v)}" for k, v in values.items())
        if not sets:  # nothing to change: answer with the matching rows
            text = f"SELECT {ret} FROM {q(entity.name)} {a}" + (f" WHERE {conds}" if conds else "")
        else:
            text = f"UPDATE {q(entity.name)} AS {a} SET {sets}" + (f" WHERE {conds}" if conds else "")
            text += f" RETURNING {ret}"
        decode = self._decoder(entity, names, None)
        return [decode(r) for r in await ex.fetch_all(text, sql.params)]

    async def delete(
        self,
        ex: Executor,
        entity: Entity,
        where: dict[str, Any] | None,
        *,
        scope: dict[str, Any] | None = None,
        extra: Callable[[Sql, str], str] | None = None,
    ) -> list[Row]:
        sql = Sql(self.db.dialect)
        ret, names = self._returning(entity, sql)
        a = "t0"
        conds = self.selects._conditions(sql, entity, a, where, scope, extra)
        text = f"DELETE FROM {sql.q(entity.name)} AS {a}" + (f" WHERE {conds}" if conds else "")
        text += f" RETURNING {ret}"
        decode = self._decoder(entity, names, None)
        return [decode(r) for r in await ex.fetch_all(text, sql.params)]

    async def link(self, ex: Executor, ref: Reference, id: Any, targets: list[Any], *, replace: bool) -> None:
        """m:n: attach ``targets`` to row ``id`` (``replace``: make them the only ones)."""
        sql = Sql(self.db.dialect)
        q = sql.q
        if replace:
            await ex.execute(f"DELETE FROM {q(ref.table)} WHERE {q(ref.local)} = {sql.p(id)}", sql.params)
        for t in targets:
            s = Sql(self.db.dialect)
            await ex.execute(
                f"INSERT INTO {q(ref.table)} ({q(ref.local)}, {q(ref.remote)}) "
                f"VALUES ({s.p(id)}, {s.p(t)}) ON CONFLICT DO NOTHING",
                s.params,
            )

    async def unlink(self, ex: Executor, ref: Reference, id: Any, targets: list[Any]) -> None:
        if not targets:
            return
        sql = Sql(self.db.dialect)
        q = sql.q
        marks = ", ".join(sql.p(t) for t in targets)
        await ex.execute(
            f"DELETE FROM {q(ref.table)} WHERE {q(ref.local)} = {sql.p(id)} AND {q(ref.remote)} IN ({marks})",
            sql.params,
        )
