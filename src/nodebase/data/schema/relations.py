"""Relations between entities and the references they give each side.

bknd's relation config: ``{"type": "n:1"|"1:1"|"m:n"|"poly", "source", "target",
"config": {"mappedBy", "inversedBy", "required", "with_limit", "connectionTable",
"targetCardinality", "on_delete"}}``.

* ``n:1``: the source gets a foreign key ``<mappedBy or target>_id``; the source sees the
  target as an object under ``mappedBy or target``; the target sees a list of sources under
  ``inversedBy or source``.
* ``1:1``: like n:1 with a unique key; both sides see an object.
* ``m:n``: a connection table ``connectionTable or <source>_<target>`` with
  ``<source>_id`` and ``<target>_id``; each side sees a list.
* ``poly``: the source's media field ``mappedBy``; target rows carry
  ``reference = "<source>.<mappedBy>"`` and ``entity_id``; the source sees a list
  (an object when ``targetCardinality`` is 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nodebase.data.schema.fields import ConfigProblem

RELATION_TYPES = ("n:1", "1:1", "m:n", "poly")
RELATION_KEYS = {
    "mappedBy",
    "inversedBy",
    "required",
    "with_limit",
    "connectionTable",
    "connectionTableMappedName",
    "targetCardinality",
    "on_delete",
    "sourceCardinality",
}


@dataclass
class Relation:
    name: str
    type: str
    source: str
    target: str
    config: dict[str, Any]

    @property
    def source_ref(self) -> str:
        return str(self.config.get("mappedBy") or self.target)

    @property
    def target_ref(self) -> str:
        return str(self.config.get("inversedBy") or self.source)

    @property
    def fk(self) -> str:
        return f"{self.source_ref}_id"

    @property
    def table(self) -> str:
        return str(self.config.get("connectionTable") or f"{self.source}_{self.target}")

    def describe(self) -> dict[str, Any]:
        return {"type": self.type, "source": self.source, "target": self.target, "config": self.config}


@dataclass
class Reference:
    """How rows of ``target`` relate to a row of ``entity``, seen from ``entity``.

    kind:
      * ``fk``       — entity holds ``local`` (FK) pointing at target.id (to-one)
      * ``inverse``  — target holds ``remote`` (FK) pointing at entity.id
      * ``through``  — a connection ``table`` with ``local`` (→ entity.id) and ``remote`` (→ target.id)
      * ``poly``     — target rows with reference = ``tag`` and entity_id = entity.id
    """

    name: str
    entity: str
    target: str
    kind: str
    many: bool
    relation: Relation
    local: str = ""
    remote: str = ""
    table: str = ""
    tag: str = ""
    limit: int | None = None


def parse_relation(name: str, spec: Any, path: str) -> Relation:
    if not isinstance(spec, dict):
        raise ConfigProblem(path, "a relation must be an object")
    rtype = spec.get("type")
    if rtype not in RELATION_TYPES:
        raise ConfigProblem(path + ".type", f"relation type must be one of {list(RELATION_TYPES)}")
    for k in ("source", "target"):
        if not isinstance(spec.get(k), str):
            raise ConfigProblem(f"{path}.{k}", f"relation {k} must be an entity name")
    config = spec.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigProblem(path + ".config", "config must be an object")
    unknown = set(config) - RELATION_KEYS
    if unknown:
        raise ConfigProblem(path + ".config", f"unknown relation config key(s) {sorted(unknown)}")
    on_delete = config.get("on_delete", "set null")
    if on_delete not in ("set null", "cascade", "restrict", "no action"):
        raise ConfigProblem(path + ".config.on_delete", "on_delete must be set null, cascade, restrict or no action")
    if "with_limit" in config and not (isinstance(config["with_limit"], int) and config["with_limit"] > 0):
        raise ConfigProblem(path + ".config.with_limit", "with_limit must be a positive integer")
    if rtype == "poly" and not config.get("mappedBy"):
        raise ConfigProblem(path + ".config.mappedBy", "a poly relation needs mappedBy (the media field)")
    return Relation(name=name, type=rtype, source=spec["source"], target=spec["target"], config=config)


def references_of(rel: Relation) -> list[Reference]:
    """The (one or two) references a relation adds."""
    limit = rel.config.get("with_limit")
    if rel.type in ("n:1", "1:1"):
        return [
            Reference(rel.source_ref, rel.source, rel.target, "fk", False, rel, local=rel.fk),
            Reference(rel.target_ref, rel.target, rel.source, "inverse", rel.type == "n:1", rel,
                      remote=rel.fk, limit=limit),
        ]
    if rel.type == "m:n":
        s, t = f"{rel.source}_id", f"{rel.target}_id"
        return [
            Reference(rel.source_ref, rel.source, rel.target, "through", True, rel,
                      local=s, remote=t, table=rel.table, limit=limit),
            Reference(rel.target_ref, rel.target, rel.source, "through", True, rel,
                      local=t, remote=s, table=rel.table, limit=limit),
        ]
    one = rel.config.get("targetCardinality") == 1
    return [
        Reference(rel.source_ref, rel.source, rel.target, "poly", not one, rel,
                  tag=f"{rel.source}.{rel.source_ref}", limit=limit)
    ]
