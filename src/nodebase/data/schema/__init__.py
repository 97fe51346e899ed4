"""The data schema: field types, entities, relations and their validation."""

from nodebase.data.schema.entity import Entity
from nodebase.data.schema.fields import Field
from nodebase.data.schema.model import (
    DataSchema,
    Index,
    Reference,
    Relation,
    default_data_config,
    parse_data_config,
)

__all__ = [
    "DataSchema",
    "Entity",
    "Field",
    "Index",
    "Reference",
    "Relation",
    "default_data_config",
    "parse_data_config",
]
