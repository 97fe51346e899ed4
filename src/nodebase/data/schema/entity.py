"""An entity: its fields (in order), its primary key format and default sort."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nodebase.data.schema.fields import (
    ConfigProblem,
    Field,
    NumberField,
    PrimaryField,
    RelationField,
    make_field,
)

NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,62}$")
ENTITY_KEYS = {"name", "name_singular", "description", "sort_field", "sort_dir", "primary_format"}


def check_name(name: Any, path: str, what: str) -> None:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ConfigProblem(path, f"{what} name {name!r} must match {NAME_RE.pattern}")


@dataclass
class Entity:
    name: str
    type: str
    config: dict[str, Any]
    fields: dict[str, Field] = field(default_factory=dict)
    #: name -> Reference (filled by the schema once relations are known)
    references: dict[str, Any] = field(default_factory=dict)

    @property
    def primary(self) -> PrimaryField:
        pk = self.fields["id"]
        assert isinstance(pk, PrimaryField)
        return pk

    @property
    def primary_format(self) -> str:
        return self.primary.format

    @property
    def columns(self) -> list[Field]:
        return [f for f in self.fields.values() if f.is_column]

    @property
    def readable(self) -> list[Field]:
        """Columns shown in answers (hidden fields excluded); computed once per schema."""
        cached: list[Field] | None = self.__dict__.get("_readable")
        if cached is None or len(self.fields) != self.__dict__.get("_readable_n"):
            cached = [f for f in self.fields.values() if f.is_column and f.hidden is not True and not (
                isinstance(f.hidden, list) and "read" in f.hidden)]
            self.__dict__["_readable"] = cached
            self.__dict__["_readable_n"] = len(self.fields)
        return cached

    @property
    def sort(self) -> tuple[str, str]:
        return self.config.get("sort_field", "id"), self.config.get("sort_dir", "asc")

    def decoders(self, names: list[str], *, floats: bool = True) -> list[tuple[int, Callable[[Any], Any]]]:
        """Per-column converters for output; ``floats``: turn integral floats into ints
        (PostgreSQL's double precision; SQLite's NUMERIC already keeps ints as ints)."""
        out: list[tuple[int, Callable[[Any], Any]]] = []
        for i, n in enumerate(names):
            f = self.fields.get(n)
            if f is None:
                continue
            dec = f.decode
            if dec is None and floats and isinstance(f, NumberField) and not f.integer:
                dec = NumberField.decode_float
            if dec is not None:
                out.append((i, dec))
        return out

    def describe(self) -> dict[str, Any]:
        fields = {
            n: f.describe()
            for n, f in self.fields.items()
            if not (isinstance(f, RelationField) and f.config.get("reference"))
        }
        return {"type": self.type, "config": self.config, "fields": fields}


def parse_entity(name: str, spec: Any, path: str) -> Entity:
    check_name(name, path, "entity")
    if not isinstance(spec, dict):
        raise ConfigProblem(path, "an entity must be an object")
    etype = spec.get("type", "regular")
    if etype not in ("regular", "system", "generated"):
        raise ConfigProblem(path + ".type", "type must be regular, system or generated")
    config = spec.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigProblem(path + ".config", "config must be an object")
    unknown = set(config) - ENTITY_KEYS
    if unknown:
        raise ConfigProblem(path + ".config", f"unknown entity config key(s) {sorted(unknown)}")
    sort_dir = config.get("sort_dir", "asc")
    if sort_dir not in ("asc", "desc"):
        raise ConfigProblem(path + ".config.sort_dir", "sort_dir must be asc or desc")
    fmt = config.get("primary_format", "integer")
    ent = Entity(name=name, type=etype, config=config)
    ent.fields["id"] = PrimaryField(name, "id", {"format": fmt}, path + ".fields.id")
    raw_fields = spec.get("fields") or {}
    if not isinstance(raw_fields, dict):
        raise ConfigProblem(path + ".fields", "fields must be an object")
    for fname, fspec in raw_fields.items():
        fpath = f"{path}.fields.{fname}"
        check_name(fname, fpath, "field")
        if fname == "id":
            if isinstance(fspec, dict) and fspec.get("type", "primary") == "primary":
                continue
            raise ConfigProblem(fpath, '"id" is the primary key and cannot be redefined')
        ent.fields[fname] = make_field(name, fname, fspec, fpath)
    sort_field = config.get("sort_field", "id")
    if sort_field not in ent.fields:
        raise ConfigProblem(path + ".config.sort_field", f"sort_field {sort_field!r} is not a field")
    return ent
