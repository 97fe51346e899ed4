"""Compile RepoQuery objects and where-documents to SQL for the active dialect.

``where`` semantics (nodebase is right where bknd is not, reference §8.6): every key of an
object is ANDed; ``$or``/``$and`` take an object (one disjunct/conjunct per key) or a list
of objects, and nest anywhere; ``$not`` negates an object. So
``{"a": 1, "$or": {"b": 2, "c": 3}}`` means ``a = 1 AND (b = 2 OR c = 3)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nodebase.data.query.model import RepoQuery
from nodebase.data.schema import DataSchema, Entity, Reference
from nodebase.data.schema.fields import Field
from nodebase.kernel.database.dialect import Dialect
from nodebase.kernel.errors import InvalidQuery

OPERATORS = (
    "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$notin",
    "$isnull", "$notnull", "$between", "$like", "$ilike",
)
_CMP = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


class Sql:
    """Accumulates parameters and hands out placeholders (numbered: order-independent)."""

    def __init__(self, dialect: Dialect) -> None:
        self.d = dialect
        self.params: list[Any] = []
        #: every table the statement reads (a cached count depends on all of them)
        self.tables: set[str] = set()
        self._alias = 0
        self._numbered = dialect.name == "sqlite"

    def p(self, value: Any) -> str:
        self.params.append(value)
        n = len(self.params)
        return f"?{n}" if self._numbered else self.d.placeholder(n)

    def alias(self) -> str:
        self._alias += 1
        return f"t{self._alias}"

    def q(self, ident: str) -> str:
        return self.d.quote(ident)

    def table(self, name: str) -> str:
        """The quoted table name, remembered in :attr:`tables`."""
        self.tables.add(name)
        return self.d.quote(name)


def _bad(entity: Entity, message: str, **ctx: Any) -> InvalidQuery:
    return InvalidQuery(message, context={"entity": entity.name, **ctx})


class WhereCompiler:
    MAX_DEPTH = 16
    MAX_PARAMS = 5000
    #: relations one condition may cross, counting the ``with`` levels it is embedded in.
    #: Each relation nests a subquery; SQLite 3.40's parser (a 100-entry stack) overflows
    #: one relation beyond this when the where is nested MAX_DEPTH deep.
    MAX_RELATIONS = 6

    def __init__(self, schema: DataSchema, sql: Sql, *, relations: int = 0) -> None:
        self.schema = schema
        self.sql = sql
        self.depth = 0
        #: relations between the query's root and the entity being filtered
        self.relations = relations

    def compile(self, entity: Entity, alias: str, where: Any) -> str:
        if where is None:
            return ""
        if not isinstance(where, dict):
            raise _bad(entity, "where must be an object")
        self.depth += 1
        try:
            if self.depth > self.MAX_DEPTH:
                raise _bad(entity, f"where is nested too deeply (max {self.MAX_DEPTH} levels)")
            out = self._compile(entity, alias, where)
        finally:
            self.depth -= 1
        if len(self.sql.params) > self.MAX_PARAMS:
            raise _bad(entity, f"where has too many values (max {self.MAX_PARAMS})")
        return out

    def _compile(self, entity: Entity, alias: str, where: dict[str, Any]) -> str:
        parts = [self._entry(entity, alias, k, v) for k, v in where.items()]
        parts = [p for p in parts if p]
        if not parts:
            return ""
        return parts[0] if len(parts) == 1 else " AND ".join(f"({p})" for p in parts)

    def _group(self, entity: Entity, alias: str, value: Any, joiner: str, op: str) -> str:
        if isinstance(value, dict):
            members = [self._entry(entity, alias, k, v) for k, v in value.items()]
        elif isinstance(value, list):
            members = []
            for item in value:
                if not isinstance(item, dict):
                    raise _bad(entity, f"{op} takes an object or a list of objects", operator=op)
                members.append(self.compile(entity, alias, item))
        else:
            raise _bad(entity, f"{op} takes an object or a list of objects", operator=op)
        members = [m for m in members if m]
        if not members:
            return ""
        return f" {joiner} ".join(f"({m})" for m in members)

    def _entry(self, entity: Entity, alias: str, key: str, value: Any) -> str:
        if key == "$or":
            return self._group(entity, alias, value, "OR", key)
        if key == "$and":
            return self._group(entity, alias, value, "AND", key)
        if key == "$not":
            inner = self.compile(entity, alias, value) if isinstance(value, dict) else None
            if inner is None:
                raise _bad(entity, "$not takes an object", operator=key)
            return f"NOT ({inner})" if inner else ""
        if key.startswith("$"):
            raise _bad(entity, f'Unknown operator "{key}" at the top level of where', operator=key,
                       valid=["$or", "$and", "$not"])
        if "." in key:
            return self._related(entity, alias, key, value)
        field = entity.fields.get(key)
        if field is None or not field.is_column or field.hidden is True:
            raise _bad(
                entity,
                f'Invalid where: "{key}" is not a field of entity "{entity.name}"',
                field=key,
                valid=[f.name for f in entity.readable],
            )
        return self._field(entity, f"{alias}.{self.sql.q(key)}", field, value)

    def _related(self, entity: Entity, alias: str, key: str, value: Any) -> str:
        ref_name, _, rest = key.partition(".")
        ref = entity.references.get(ref_name)
        if ref is None:
            raise _bad(entity, f'Invalid where: "{ref_name}" is not a relation of entity "{entity.name}"',
                       field=key, valid=sorted(entity.references))
        if self.relations + key.count(".") > self.MAX_RELATIONS:
            within = f" below {self.relations} relation level(s) of with/path" if self.relations else ""
            raise _bad(entity, f'Invalid where: the relation path "{key}" is too long{within} '
                               f"(max {self.MAX_RELATIONS} relations in total)",
                       field=key, max_relations=self.MAX_RELATIONS)
        target = self.schema.entities[ref.target]
        inner = self.sql.alias()
        self.relations += 1
        try:
            cond = self._entry(target, inner, rest, value)
        finally:
            self.relations -= 1
        link = reference_link(self.sql, ref, alias, inner)
        return (f"EXISTS (SELECT 1 FROM {self.sql.table(target.name)} {inner} "
                f"WHERE {link} AND ({cond}))")

    def _field(self, entity: Entity, col: str, field: Field, value: Any) -> str:
        if isinstance(value, dict):
            if not value:
                raise _bad(entity, f'Empty condition for "{field.name}"', field=field.name)
            parts = [self._op(entity, col, field, op, v) for op, v in value.items()]
            return parts[0] if len(parts) == 1 else " AND ".join(parts)
        if isinstance(value, list):
            return self._op(entity, col, field, "$in", value)
        return self._op(entity, col, field, "$eq", value)

    def _value(self, field: Field, value: Any) -> Any:
        v = field.to_query(value)
        if isinstance(v, bool):
            return self.sql.d.bool_param(v)
        return v

    def _op(self, entity: Entity, col: str, field: Field, op: str, value: Any) -> str:
        s = self.sql
        ctx = {"field": field.name, "operator": op}
        if op in ("$eq", "$ne"):
            if value is None:
                return f"{col} IS NULL" if op == "$eq" else f"{col} IS NOT NULL"
            if isinstance(value, dict | list):
                raise _bad(entity, f'{op} on "{field.name}" needs a single value', **ctx)
            return f"{col} {'=' if op == '$eq' else '<>'} {s.p(self._value(field, value))}"
        if op in _CMP:
            if value is None or isinstance(value, dict | list):
                raise _bad(entity, f'{op} on "{field.name}" needs a single non-null value', **ctx)
            return f"{col} {_CMP[op]} {s.p(self._value(field, value))}"
        if op in ("$isnull", "$notnull"):
            if isinstance(value, str):
                value = value.lower() in ("1", "true")
            if value not in (True, False, 0, 1):
                raise _bad(entity, f'{op} on "{field.name}" takes true or false', **ctx)
            want_null = bool(value) == (op == "$isnull")
            return f"{col} IS NULL" if want_null else f"{col} IS NOT NULL"
        if op in ("$in", "$notin"):
            if isinstance(value, str):
                value = [v for v in value.split(",") if v != ""]
            if not isinstance(value, list):
                raise _bad(entity, f'{op} on "{field.name}" takes a list', **ctx)
            if not value:
                return "1=0" if op == "$in" else "1=1"
            marks = ", ".join(s.p(self._value(field, v)) for v in value)
            return f"{col} {'IN' if op == '$in' else 'NOT IN'} ({marks})"
        if op == "$between":
            if not (isinstance(value, list) and len(value) == 2 and None not in value):
                raise _bad(entity, f'$between on "{field.name}" takes [low, high]', **ctx)
            lo, hi = (s.p(self._value(field, v)) for v in value)
            return f"{col} BETWEEN {lo} AND {hi}"
        if op in ("$like", "$ilike"):
            if not isinstance(value, str):
                raise _bad(entity, f'{op} on "{field.name}" takes a string pattern', **ctx)
            pattern = value.replace("*", "%")
            text_col = col if field.type in ("text", "enum", "date", "json") else s.d.cast_text(col)
            return f"{text_col} {s.d.like} {s.p(pattern)}"
        raise _bad(entity, f'Unknown operator "{op}" on "{field.name}"', **ctx, valid=list(OPERATORS))


def reference_link(sql: Sql, ref: Reference, outer: str, inner: str) -> str:
    """Condition tying rows ``inner`` (of ref.target) to the row ``outer`` (of ref.entity)."""
    q = sql.q
    if ref.kind == "fk":
        return f"{inner}.{q('id')} = {outer}.{q(ref.local)}"
    if ref.kind == "inverse":
        return f"{inner}.{q(ref.remote)} = {outer}.{q('id')}"
    if ref.kind == "through":
        c = sql.alias()
        return (f"{inner}.{q('id')} IN (SELECT {c}.{q(ref.remote)} FROM {sql.table(ref.table)} {c} "
                f"WHERE {c}.{q(ref.local)} = {outer}.{q('id')})")
    # poly
    return (f"{inner}.{q('reference')} = {sql.p(ref.tag)} AND "
            f"{inner}.{q('entity_id')} = {sql.d.cast_text(f'{outer}.' + q('id'))}")


class SelectCompiler:
    """SELECT statements for lists, single reads, counts and embedded relations."""

    def __init__(self, schema: DataSchema, dialect: Dialect) -> None:
        self.schema = schema
        self.dialect = dialect

    def columns(self, entity: Entity, query: RepoQuery) -> list[str]:
        if query.select:
            return list(query.select)
        return [f.name for f in entity.readable]

    def select(
        self,
        entity: Entity,
        query: RepoQuery,
        *,
        scope: dict[str, Any] | None = None,
        extra: Callable[[Sql, str], str] | None = None,
        single: bool = False,
    ) -> tuple[str, list[Any], list[str]]:
        """→ (sql, params, output names). ``scope`` is a permission filter ANDed in;
        ``extra(sql, alias)`` adds one more condition (e.g. id = ?, a reference)."""
        sql = Sql(self.dialect)
        text, names = self.select_into(sql, entity, query, scope=scope, extra=extra, single=single)
        return text, sql.params, names

    def select_into(
        self,
        sql: Sql,
        entity: Entity,
        query: RepoQuery,
        *,
        scope: dict[str, Any] | None = None,
        extra: Callable[[Sql, str], str] | None = None,
        single: bool = False,
        marker: str = "",
    ) -> tuple[str, list[str]]:
        """Like :meth:`select`, adding its parameters to ``sql``; ``marker`` names an extra
        last column that is always TRUE (it tells an empty outer-joined page)."""
        a = "t0"
        q = sql.q
        names = self.columns(entity, query)
        cols = [f"{a}.{q(n)}" for n in names]
        for wname, sub in query.with_.items():
            ref = entity.references[wname]
            cols.append(f"({self._embed(sql, ref, a, sub, 1)}) AS {q(wname)}")
            names.append(wname)
        if marker:
            cols.append(f"TRUE AS {q(marker)}")
        conds = self._conditions(sql, entity, a, query.where, scope, extra)
        text = f"SELECT {', '.join(cols)} FROM {sql.table(entity.name)} {a}"
        if conds:
            text += f" WHERE {conds}"
        if not single:
            text += " ORDER BY " + ", ".join(f"{a}.{q(f)} {d.upper()}" for f, d in query.sort)
            text += f" LIMIT {int(query.limit)}"
            if query.offset:
                text += f" OFFSET {int(query.offset)}"
        else:
            text += " LIMIT 1"
        return text, names

    def count(
        self,
        entity: Entity,
        where: dict[str, Any] | None,
        *,
        scope: dict[str, Any] | None = None,
        extra: Callable[[Sql, str], str] | None = None,
    ) -> tuple[str, list[Any]]:
        sql = Sql(self.dialect)
        return self.count_into(sql, entity, where, scope=scope, extra=extra), sql.params

    def count_into(
        self,
        sql: Sql,
        entity: Entity,
        where: dict[str, Any] | None,
        *,
        scope: dict[str, Any] | None = None,
        extra: Callable[[Sql, str], str] | None = None,
    ) -> str:
        a = "t0"
        conds = self._conditions(sql, entity, a, where, scope, extra)
        text = f"SELECT COUNT(*) FROM {sql.table(entity.name)} {a}"
        if conds:
            text += f" WHERE {conds}"
        return text

    def exists(self, entity: Entity, where: dict[str, Any] | None, *, scope: dict[str, Any] | None = None) -> tuple[str, list[Any]]:
        sql = Sql(self.dialect)
        a = "t0"
        conds = self._conditions(sql, entity, a, where, scope, None)
        inner = f"SELECT 1 FROM {sql.table(entity.name)} {a}" + (f" WHERE {conds}" if conds else "")
        return f"SELECT EXISTS ({inner})", sql.params

    def _conditions(
        self,
        sql: Sql,
        entity: Entity,
        alias: str,
        where: dict[str, Any] | None,
        scope: dict[str, Any] | None,
        extra: Callable[[Sql, str], str] | None,
    ) -> str:
        wc = WhereCompiler(self.schema, sql)
        parts = []
        if extra is not None:
            parts.append(extra(sql, alias))
        if scope:
            parts.append(wc.compile(entity, alias, scope))
        if where:
            parts.append(wc.compile(entity, alias, where))
        parts = [p for p in parts if p]
        return " AND ".join(f"({p})" for p in parts) if len(parts) > 1 else (parts[0] if parts else "")

    def _embed(self, sql: Sql, ref: Reference, outer: str, sub: RepoQuery, level: int) -> str:
        """The JSON of ``sub``'s rows for ``ref``, ``level`` relations below the root."""
        target = self.schema.entities[ref.target]
        q = sql.q
        d = self.dialect
        inner = sql.alias()
        names = self.columns(target, sub)
        link = reference_link(sql, ref, outer, inner)
        wc = WhereCompiler(self.schema, sql, relations=level)
        cond = wc.compile(target, inner, sub.where) if sub.where else ""
        where = link + (f" AND ({cond})" if cond else "")
        inner_cols = [f"{inner}.{q(n)} AS {q(n)}" for n in names]
        nested = list(sub.with_.items())
        for wname, wsub in nested:
            wref = target.references[wname]
            inner_cols.append(f"({self._embed(sql, wref, inner, wsub, level + 1)}) AS {q(wname)}")
        s = sql.alias()
        pairs = [(n, f"{s}.{q(n)}") for n in names]
        pairs += [(w, self._json_value(f"{s}.{q(w)}")) for w, _ in nested]
        obj = d.json_object(pairs)
        order = ", ".join(f"{inner}.{q(f)} {dr.upper()}" for f, dr in sub.sort)
        limit = 1 if not ref.many else int(sub.limit)
        body = (f"SELECT {', '.join(inner_cols)} FROM {sql.table(target.name)} {inner} WHERE {where} "
                f"ORDER BY {order} LIMIT {limit}")
        if sub.offset and ref.many:
            body += f" OFFSET {int(sub.offset)}"
        if ref.many:
            return f"SELECT {d.json_agg(obj)} FROM ({body}) {s}"
        return f"SELECT {obj} FROM ({body}) {s}"

    def _json_value(self, expr: str) -> str:
        return f"json({expr})" if self.dialect.name == "sqlite" else expr
