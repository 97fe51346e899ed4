"""The data schema as one validated object: entities, relations, indices.

``parse_data_config`` is the single validation used for the schema file and for the
config API; it collects every problem with its path, so a client learns all of them.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from nodebase.data.schema.entity import Entity, check_name, parse_entity
from nodebase.data.schema.fields import ConfigProblem, MediaField, RelationField
from nodebase.data.schema.relations import Reference, Relation, parse_relation, references_of
from nodebase.kernel.errors import ConfigInvalid

REL_NAME_RE = re.compile(r"^[a-zA-Z0-9_]{1,63}$")
DATA_KEYS = {"basepath", "default_primary_format", "entities", "relations", "indices"}


@dataclass
class Index:
    name: str
    entity: str
    fields: list[str]
    unique: bool = False

    def describe(self) -> dict[str, Any]:
        return {"entity": self.entity, "fields": self.fields, "unique": self.unique}


@dataclass
class DataSchema:
    config: dict[str, Any]
    entities: dict[str, Entity] = field(default_factory=dict)
    relations: dict[str, Relation] = field(default_factory=dict)
    indices: dict[str, Index] = field(default_factory=dict)
    #: connection tables of m:n relations: table -> (relation, source column, target column)
    through_tables: dict[str, Relation] = field(default_factory=dict)

    def entity(self, name: str) -> Entity | None:
        return self.entities.get(name)

    def all_indices(self) -> list[Index]:
        """Declared indices plus the ones implied by unique/index fields and 1:1 keys."""
        out = list(self.indices.values())
        declared = {(i.entity, tuple(i.fields)) for i in out}
        for ent in self.entities.values():
            for f in ent.columns:
                if f.name == "id":
                    continue
                unique = f.unique or (
                    isinstance(f, RelationField) and f.config.get("reference") == "1:1"
                )
                if (unique or f.indexed) and (ent.name, (f.name,)) not in declared:
                    prefix = "idx_unique" if unique else "idx"
                    out.append(Index(f"{prefix}_{ent.name}_{f.name}", ent.name, [f.name], unique))
        return out


def default_data_config() -> dict[str, Any]:
    return {
        "basepath": "/api/data",
        "default_primary_format": "integer",
        "entities": {},
        "relations": {},
        "indices": {},
    }


def parse_data_config(raw: Any, *, system_entities: dict[str, Any] | None = None) -> DataSchema:
    """Validate a data-module config document; raise ConfigInvalid listing every problem."""
    problems: list[ConfigProblem] = []
    if not isinstance(raw, dict):
        raise ConfigInvalid([{"path": "data", "error": "the data config must be an object"}])
    config = copy.deepcopy(raw)
    for key, value in default_data_config().items():
        config.setdefault(key, value)
    unknown = set(config) - DATA_KEYS
    if unknown:
        problems.append(ConfigProblem("data", f"unknown key(s) {sorted(unknown)}"))
    schema = DataSchema(config=config)
    default_format = config.get("default_primary_format", "integer")

    entities = dict(config.get("entities") or {})
    for name, spec in (system_entities or {}).items():
        entities.setdefault(name, spec)
    for name, spec in entities.items():
        try:
            if isinstance(spec, dict) and default_format != "integer":
                spec = {**spec, "config": {"primary_format": default_format, **(spec.get("config") or {})}}
            schema.entities[name] = parse_entity(name, spec, f"entities.{name}")
        except ConfigProblem as p:
            problems.append(p)

    for rname, rspec in (config.get("relations") or {}).items():
        path = f"relations.{rname}"
        try:
            if not isinstance(rname, str) or not REL_NAME_RE.match(rname):
                raise ConfigProblem(path, f"relation name {rname!r} must match {REL_NAME_RE.pattern}")
            rel = parse_relation(rname, rspec, path)
            for side in (rel.source, rel.target):
                if side not in schema.entities:
                    raise ConfigProblem(path, f"relation names unknown entity {side!r}")
            _attach(schema, rel, path)
            schema.relations[rname] = rel
        except ConfigProblem as p:
            problems.append(p)

    for iname, ispec in (config.get("indices") or {}).items():
        path = f"indices.{iname}"
        try:
            check_name(iname, path, "index")
            if not isinstance(ispec, dict):
                raise ConfigProblem(path, "an index must be an object")
            ent = schema.entities.get(ispec.get("entity", ""))
            if ent is None:
                raise ConfigProblem(path + ".entity", f"unknown entity {ispec.get('entity')!r}")
            fields = ispec.get("fields")
            if not isinstance(fields, list) or not fields:
                raise ConfigProblem(path + ".fields", "fields must be a non-empty list")
            for f in fields:
                if f not in ent.fields or not ent.fields[f].is_column:
                    raise ConfigProblem(path + ".fields", f"{f!r} is not a column of {ent.name}")
            schema.indices[iname] = Index(iname, ent.name, list(fields), bool(ispec.get("unique")))
        except ConfigProblem as p:
            problems.append(p)

    if problems:
        raise ConfigInvalid([{"path": p.path, "error": p.message} for p in problems])
    return schema


def _attach(schema: DataSchema, rel: Relation, path: str) -> None:
    src = schema.entities[rel.source]
    tgt = schema.entities[rel.target]
    refs = references_of(rel)
    for ref in refs:
        owner = schema.entities[ref.entity]
        if ref.name in owner.references:
            raise ConfigProblem(path, f"{owner.name} already has a reference named {ref.name!r}")
        if ref.name in owner.fields and not (rel.type == "poly" and ref.entity == rel.source):
            raise ConfigProblem(path, f"{owner.name} already has a field named {ref.name!r}")
    if rel.type in ("n:1", "1:1"):
        if rel.fk in src.fields:
            raise ConfigProblem(path, f"{src.name} already has a field named {rel.fk!r}")
        src.fields[rel.fk] = RelationField(
            src.name,
            rel.fk,
            {
                "target": tgt.name,
                "target_format": tgt.primary_format,
                "required": bool(rel.config.get("required")),
                "on_delete": rel.config.get("on_delete", "set null"),
                "reference": rel.type,
            },
            path,
        )
    elif rel.type == "poly":
        media_field = src.fields.get(rel.source_ref)
        if media_field is None:
            src.fields[rel.source_ref] = MediaField(src.name, rel.source_ref, {}, path)
        elif not isinstance(media_field, MediaField):
            raise ConfigProblem(path, f"{src.name}.{rel.source_ref} must be a media field")
    else:
        if rel.table in schema.entities or rel.table in schema.through_tables:
            raise ConfigProblem(path, f"connection table {rel.table!r} clashes with another table")
        schema.through_tables[rel.table] = rel
    for ref in refs:
        schema.entities[ref.entity].references[ref.name] = ref


__all__ = ["DataSchema", "Index", "Reference", "Relation", "default_data_config", "parse_data_config"]
