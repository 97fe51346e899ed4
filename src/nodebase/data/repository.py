"""Entity repository: runs the compiled SQL and turns rows into JSON-ready dicts.

Knows SQL and the schema, nothing of HTTP or permissions (those arrive as a ``scope``
where-document from the service).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from nodebase.data.counts import NO_VERSION, ChangeVersions, CountCache, CountKey
from nodebase.data.query.compiler import SelectCompiler, Sql, reference_link
from nodebase.data.query.model import RepoQuery
from nodebase.data.schema import DataSchema, Entity, Reference
from nodebase.kernel.database import Database, Executor

Row = dict[str, Any]
Decoder = Callable[[list[Any]], Row]


#: the last column of a page that is outer-joined to its counts: NULL means "no rows"
_HIT = "$hit"


@dataclass
class _Counted:
    """A compiled list statement with its counts (see ``_compile_counted``)."""

    statement: str
    params: list[Any]  # all but the cached versions, which come last
    keys: list[CountKey]  # the total's, then (with a where) the count's
    names: list[str]
    tables: frozenset[str]
    #: the page alone, returning its rows only while the version is still the cached one
    #: (last parameter); no rows: stale counts or an empty page, run :attr:`statement`
    gate: str = ""
    gate_params: list[Any] = field(default_factory=list)
    #: False after the gate found no rows, until the combined statement finds the cached
    #: counts current and the page non-empty again (writes keep coming: skip the gate)
    gated: bool = True


class EntityRepository:
    def __init__(
        self,
        db: Database,
        schema: DataSchema,
        versions: ChangeVersions | None = None,
        counts: CountCache | None = None,
    ) -> None:
        self.db = db
        self.schema = schema
        self.selects = SelectCompiler(schema, db.dialect)
        self._decoders: dict[tuple[str, tuple[str, ...]], Callable[[Any], Row]] = {}
        self._floats = db.dialect.name != "sqlite"
        # Cached COUNTs, each valid while the change version of its tables is unchanged
        # (data/counts.py). Without versions every count is taken.
        self.versions = versions
        self.counts = counts if counts is not None else CountCache()
        self._insert_sql: dict[tuple[str, tuple[str, ...]], tuple[str, list[str]]] = {}
        #: compiled list statements by query shape (the schema is fixed for a repository)
        self._statements: dict[tuple[Any, ...], Any] = {}

    STATEMENTS = 1024

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
            # rows may carry more columns than names (the counts of a combined list statement)
            if not conv and not sub_decoders:
                return dict(zip(names_t, row, strict=False))
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
            return dict(zip(names_t, values, strict=False))

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
        if query.count and self.versions is not None and self.versions.in_statement:
            rows, meta = await self._find_many_counted(entity, query, scope, extra)
        else:
            shape = self._shape(entity, query, scope) if extra is None else None
            page = self._statements.get(shape) if shape is not None else None
            if not isinstance(page, tuple):
                page = self.selects.select(entity, query, scope=scope, extra=extra)
                self._remember(shape, page)
            sql, params, names = page
            raw = await self.db.fetch_all(sql, params)
            decode = self._decoder(entity, names, query)
            rows = [decode(r) for r in raw]
            meta = {"items": len(rows)}
            if query.count:
                meta["count"] = await self._count_for_meta(entity, query, rows, scope, extra)
                meta["total"] = await self.count(entity, None, scope=scope, extra=extra)
        meta["time"] = round((time.perf_counter() - t0) * 1000, 3)
        return rows, meta

    def _shape(self, entity: Entity, query: RepoQuery, scope: dict[str, Any] | None) -> tuple[Any, ...] | None:
        """A key for the compiled statements of a list, or None (not cached: embeds)."""
        if query.with_:
            return None
        try:
            where = orjson.dumps(query.where, option=orjson.OPT_SORT_KEYS) if query.where else b""
            who = orjson.dumps(scope, option=orjson.OPT_SORT_KEYS) if scope else b""
        except TypeError:
            return None
        return (entity.name, query.limit, query.offset, tuple(query.sort),
                tuple(query.select) if query.select is not None else None, where, who, query.count)

    def _remember(self, key: tuple[Any, ...] | None, value: Any) -> None:
        if key is None:
            return
        self._statements[key] = value
        if len(self._statements) > self.STATEMENTS:
            self._statements.pop(next(iter(self._statements)))

    def _compile_counted(
        self,
        entity: Entity,
        query: RepoQuery,
        scope: dict[str, Any] | None,
        extra: Callable[[Sql, str], str] | None,
    ) -> _Counted:
        """The page, the change version and the counts as one statement. The counts are
        compiled first, so their text and parameters (the cache keys) do not depend on the
        page's; the cached versions are the last parameters (filled in per call)."""
        assert self.versions is not None
        sql = Sql(self.db.dialect)
        counts: list[tuple[str, CountKey]] = []
        for where in (None, query.where) if query.where else (None,):
            start = len(sql.params)
            text = self.selects.count_into(sql, entity, where, scope=scope, extra=extra)
            counts.append((text, (text, tuple(sql.params[start:]))))
        tables = frozenset(sql.tables)
        page, names = self.selects.select_into(sql, entity, query, scope=scope, extra=extra, marker=_HIT)
        version_sql = self.versions.subquery(", ".join(sql.p(t) for t in sorted(tables)))
        cols = ", ".join(f'CASE WHEN "$v".n = {sql.p(NO_VERSION)} THEN NULL ELSE ({text}) END'
                         for text, _ in counts)
        statement = (f'WITH "$v"(n) AS ({version_sql}) SELECT p.*, "$v".n, {cols} '
                     f'FROM "$v" LEFT JOIN LATERAL ({page}) p ON TRUE')
        gate = Sql(self.db.dialect)
        bare, _ = self.selects.select_into(gate, entity, query, scope=scope, extra=extra)
        gate_version = self.versions.subquery(", ".join(gate.p(t) for t in sorted(tables)))
        gate_sql = f"SELECT * FROM ({bare}) p WHERE ({gate_version}) = {gate.p(NO_VERSION)}"
        return _Counted(statement, sql.params[: -len(counts)], [k for _, k in counts], names, tables,
                        gate_sql, gate.params[:-1])

    async def _find_many_counted(
        self,
        entity: Entity,
        query: RepoQuery,
        scope: dict[str, Any] | None,
        extra: Callable[[Sql, str], str] | None,
    ) -> tuple[list[Row], dict[str, Any]]:
        """The page, and the counts only where the cached ones are stale: one round trip,
        two on the first list after a write that finds the gate closed.

        With every count cached at one version, the page alone is asked for under the
        condition that the version is still that one (``gate``: no version or count columns
        on the page's rows; docs/data.md "Counts" has the measurements); otherwise, and when
        the gate returns no rows (a write since, or an empty page), the combined statement
        returns the page, the version and the stale counts."""
        assert self.versions is not None
        shape = self._shape(entity, query, scope) if extra is None else None
        plan = self._statements.get(shape) if shape is not None else None
        if not isinstance(plan, _Counted):
            plan = self._compile_counted(entity, query, scope, extra)
            plan.gated = shape is not None  # a plan used once: the gate would only cost
            self._remember(shape, plan)
        cached = self.versions.tracked >= plan.tables
        entries = [self.counts.entry(key) if cached else (NO_VERSION, 0) for key in plan.keys]
        decode = self._decoder(entity, plan.names, query)
        seen = entries[0][0]
        if plan.gated and seen != NO_VERSION and all(v == seen for v, _ in entries):
            raw = await self.db.fetch_all(plan.gate, [*plan.gate_params, seen])
            if raw:
                rows = [decode(r) for r in raw]
                return rows, {"items": len(rows), "count": entries[-1][1], "total": entries[0][1]}
            plan.gated = False
        raw = await self.db.fetch_all(plan.statement, [*plan.params, *(seen for seen, _ in entries)])
        k = len(plan.names)
        first = raw[0]
        version = int(first[k + 1])
        found: list[int] = []
        fresh = True
        for i, (key, (_, count)) in enumerate(zip(plan.keys, entries, strict=True)):
            value = first[k + 2 + i]
            if value is None:
                found.append(count)
            else:
                fresh = False
                found.append(int(value))
                if cached:
                    self.counts.put(key, version, int(value))
        rows = [] if first[k] is None else [decode(r) for r in raw]
        plan.gated = fresh and bool(rows)
        return rows, {"items": len(rows), "count": found[-1], "total": found[0]}

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
        sql = Sql(self.db.dialect)
        text = self.selects.count_into(sql, entity, where, scope=scope, extra=extra)
        key: CountKey = (text, tuple(sql.params))
        tables = frozenset(sql.tables)
        versions = self.versions
        if versions is None or not versions.tracked >= tables:
            return int(await self.db.fetch_val(text, sql.params) or 0)
        if versions.in_statement:  # the version and, if it moved, the count: one statement
            version_sql = versions.subquery(", ".join(sql.p(t) for t in sorted(tables)))
            seen, count = self.counts.entry(key)
            row = await self.db.fetch_one(
                f'WITH "$v"(n) AS ({version_sql}) SELECT "$v".n, '
                f'CASE WHEN "$v".n = {sql.p(seen)} THEN NULL ELSE ({text}) END FROM "$v"',
                sql.params,
            )
            assert row is not None
            if row[1] is None:
                return count
            self.counts.put(key, int(row[0]), int(row[1]))
            return int(row[1])
        version = await versions.current(tables)
        if version is None:
            return int(await self.db.fetch_val(text, sql.params) or 0)
        hit = self.counts.get(key, version)
        if hit is None:
            hit = int(await self.db.fetch_val(text, sql.params) or 0)
            self.counts.put(key, version, hit)
        return hit

    async def exists(self, entity: Entity, where: dict[str, Any] | None, *, scope: dict[str, Any] | None = None) -> bool:
        sql, params = self.selects.exists(entity, where, scope=scope)
        return bool(await self.db.fetch_val(sql, params))

    def reference_filter(self, entity: Entity, id: Any, ref: Reference) -> Callable[[Sql, str], str]:
        """Condition selecting rows of ``ref.target`` related to ``entity`` row ``id``."""

        def cond(sql: Sql, inner: str) -> str:
            outer = sql.alias()
            link = reference_link(sql, ref, outer, inner)
            return (f"EXISTS (SELECT 1 FROM {sql.table(entity.name)} {outer} "
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
