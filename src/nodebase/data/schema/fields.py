"""Field types: their configuration, how a value is checked and stored, and how it is read.

Field configuration follows bknd's data schema (``{"type": "text", "config": {...}}``), so
a bknd schema loads unchanged. ``to_db`` checks a body value and converts it to what the
column stores; ``decode`` (when not ``None``) converts a stored value back for JSON.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import orjson

from nodebase.kernel.errors import ValidationFailed

if TYPE_CHECKING:  # imported lazily: only schema sync needs column types
    import sqlalchemy as sa

COMMON_KEYS = {
    "label",
    "description",
    "required",
    "fillable",
    "hidden",
    "virtual",
    "default_value",
    "unique",
    "index",
}


class ConfigProblem(Exception):
    """Raised while parsing a schema; collected into a ConfigInvalid by the parser."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _expect(cond: bool, path: str, message: str) -> None:
    if not cond:
        raise ConfigProblem(path, message)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def _int_in_range(v: Any) -> bool:
    return not isinstance(v, int) or INT_MIN <= v <= INT_MAX


class Field:
    type: str = ""
    keys: frozenset[str] = frozenset()
    #: converts a stored value for output; None = stored value is already right
    decode: Callable[[Any], Any] | None = None

    def __init__(self, entity: str, name: str, config: dict[str, Any], path: str) -> None:
        self.entity = entity
        self.name = name
        self.config = config
        self.path = path
        unknown = set(config) - COMMON_KEYS - self.keys
        _expect(not unknown, path, f"unknown config key(s) {sorted(unknown)} for {self.type} field")
        self.required = bool(config.get("required", False))
        self.unique = bool(config.get("unique", False))
        self.indexed = bool(config.get("index", False))
        self.virtual = bool(config.get("virtual", False))
        self.hidden = config.get("hidden", False)
        fillable = config.get("fillable", True)
        _expect(
            isinstance(fillable, (bool, list)),
            path + ".fillable",
            "fillable must be a boolean or a list of contexts (create, update)",
        )
        self.fillable_create = fillable is True or (isinstance(fillable, list) and "create" in fillable)
        self.fillable_update = fillable is True or (isinstance(fillable, list) and "update" in fillable)
        self.has_default = "default_value" in config
        self.default: Any = None
        if self.has_default and config["default_value"] is not None:
            self.default = self.to_db(config["default_value"])

    # -- column ------------------------------------------------------------------------
    @property
    def is_column(self) -> bool:
        return not self.virtual

    def sa_type(self) -> sa.types.TypeEngine[Any]:
        import sqlalchemy as sa

        return sa.Text()

    # -- values ------------------------------------------------------------------------
    def fail(self, message: str, value: Any = None) -> ValidationFailed:
        return ValidationFailed(
            f'Field "{self.name}" {message}',
            context={"entity": self.entity, "field": self.name},
        )

    def to_db(self, value: Any) -> Any:
        return value

    def to_query(self, value: Any) -> Any:
        """Convert a value that appears in a where clause (same rules, no bounds)."""
        return self.to_db(value)

    # -- descriptions --------------------------------------------------------------------
    def json_schema(self) -> dict[str, Any]:
        return {}

    def ts_type(self) -> str:
        return "unknown"

    def describe(self) -> dict[str, Any]:
        return {"type": self.type, "config": self.config}


class PrimaryField(Field):
    type = "primary"
    keys = frozenset({"format", "fillable"})

    def __init__(self, entity: str, name: str, config: dict[str, Any], path: str) -> None:
        self.format = config.get("format", "integer")
        _expect(self.format in ("integer", "uuid"), path + ".format", "format must be integer or uuid")
        super().__init__(entity, name, {**config, "fillable": False}, path)

    def sa_type(self) -> sa.types.TypeEngine[Any]:
        import sqlalchemy as sa

        if self.format == "uuid":
            return sa.Text()
        return sa.BigInteger().with_variant(sa.Integer(), "sqlite")

    def to_db(self, value: Any) -> Any:
        if self.format == "uuid":
            if not isinstance(value, str):
                raise self.fail("must be a string id")
            return value
        if isinstance(value, str) and value.lstrip("-").isascii() and value.lstrip("-").isdigit() \
                and len(value) < 20:  # isdigit alone also takes "¹", which int() refuses
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not _int_in_range(value):
            raise self.fail("must be an integer id")
        return value

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "uuid"} if self.format == "uuid" else {"type": "integer"}

    def ts_type(self) -> str:
        return "string" if self.format == "uuid" else "number"


def uuid7() -> str:
    """A time-ordered UUID (version 7), as bknd uses for ``primary_format: uuid``."""
    import os
    import time

    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


class TextField(Field):
    type = "text"
    keys = frozenset({"minLength", "maxLength", "pattern", "html_config"})

    def __init__(self, entity: str, name: str, config: dict[str, Any], path: str) -> None:
        for k in ("minLength", "maxLength"):
            if k in config:
                _expect(
                    isinstance(config[k], int) and not isinstance(config[k], bool) and config[k] >= 0,
                    f"{path}.{k}",
                    f"{k} must be a non-negative integer",
                )
        self.min_length = config.get("minLength")
        self.max_length = config.get("maxLength")
        self.pattern: re.Pattern[str] | None = None
        if "pattern" in config:
            try:
                self.pattern = re.compile(config["pattern"])
            except (re.error, TypeError) as exc:
                raise ConfigProblem(path + ".pattern", f"pattern is not a valid regex: {exc}") from None
        super().__init__(entity, name, config, path)

    def to_db(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail('must be of type "string"')
        if "\x00" in value:
            raise self.fail("must not contain NUL characters")
        if self.min_length is not None and len(value) < self.min_length:
            raise self.fail(f"must be at least {self.min_length} characters")
        if self.max_length is not None and len(value) > self.max_length:
            raise self.fail(f"must be at most {self.max_length} characters")
        if self.pattern is not None and not self.pattern.search(value):
            raise self.fail(f"does not match pattern {self.pattern.pattern!r}")
        return value

    def to_query(self, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise self.fail("must not be compared with a NUL character")
        if value is None or isinstance(value, str):
            return value
        if _is_number(value):
            return str(value)
        raise self.fail('must be compared with a string')

    def json_schema(self) -> dict[str, Any]:
        s: dict[str, Any] = {"type": "string"}
        if self.min_length is not None:
            s["minLength"] = self.min_length
        if self.max_length is not None:
            s["maxLength"] = self.max_length
        if self.pattern is not None:
            s["pattern"] = self.pattern.pattern
        return s

    def ts_type(self) -> str:
        return "string"


class NumberField(Field):
    type = "number"
    keys = frozenset(
        {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "integer"}
    )

    def __init__(self, entity: str, name: str, config: dict[str, Any], path: str) -> None:
        for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
            if k in config:
                _expect(_is_number(config[k]), f"{path}.{k}", f"{k} must be a number")
        self.integer = bool(config.get("integer", False))
        super().__init__(entity, name, config, path)

    def sa_type(self) -> sa.types.TypeEngine[Any]:
        import sqlalchemy as sa

        if self.integer:
            return sa.BigInteger()
        return sa.Float().with_variant(sa.Numeric(), "sqlite")

    def to_db(self, value: Any) -> Any:
        if value is None:
            return None
        if not _is_number(value) or (isinstance(value, float) and not math.isfinite(value)):
            raise self.fail('must be of type "number"')
        c = self.config
        if self.integer and not (isinstance(value, int) or value.is_integer()):
            raise self.fail("must be an integer")
        if self.integer:
            value = int(value)
        if not _int_in_range(value):
            raise self.fail(f"must be between {INT_MIN} and {INT_MAX}")
        if "minimum" in c and value < c["minimum"]:
            raise self.fail(f"must be >= {c['minimum']}")
        if "maximum" in c and value > c["maximum"]:
            raise self.fail(f"must be <= {c['maximum']}")
        if "exclusiveMinimum" in c and value <= c["exclusiveMinimum"]:
            raise self.fail(f"must be > {c['exclusiveMinimum']}")
        if "exclusiveMaximum" in c and value >= c["exclusiveMaximum"]:
            raise self.fail(f"must be < {c['exclusiveMaximum']}")
        if "multipleOf" in c and c["multipleOf"] and (value / c["multipleOf"]) % 1 != 0:
            raise self.fail(f"must be a multiple of {c['multipleOf']}")
        return int(value) if self.integer else value

    def to_query(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = float(value) if "." in value or "e" in value.lower() else int(value)
            except ValueError:
                raise self.fail('must be compared with a number') from None
        if not _is_number(value) or (isinstance(value, float) and not math.isfinite(value)):
            raise self.fail('must be compared with a finite number')
        if self.integer and isinstance(value, float):
            if not value.is_integer():
                raise self.fail("must be compared with an integer")
            value = int(value)
        if not _int_in_range(value):
            # neither SQLite's INTEGER nor PostgreSQL's bigint can hold it
            raise self.fail(f"must be compared with a number between {INT_MIN} and {INT_MAX}")
        return value

    @staticmethod
    def decode_float(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        return v

    def json_schema(self) -> dict[str, Any]:
        s: dict[str, Any] = {"type": "integer" if self.integer else "number"}
        for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
            if k in self.config:
                s[k] = self.config[k]
        return s

    def ts_type(self) -> str:
        return "number"


def _decode_bool(v: Any) -> Any:
    return None if v is None else bool(v)


class BooleanField(Field):
    type = "boolean"
    decode = staticmethod(_decode_bool)

    def sa_type(self) -> sa.types.TypeEngine[Any]:
        import sqlalchemy as sa

        return sa.Boolean()

    def to_db(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        if value in (0, 1) and not isinstance(value, float):
            return bool(value)
        raise self.fail('must be of type "boolean"')

    def to_query(self, value: Any) -> Any:
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        return self.to_db(value)

    def json_schema(self) -> dict[str, Any]:
        return {"type": "boolean"}

    def ts_type(self) -> str:
        return "boolean"


class DateField(Field):
    """``date`` (YYYY-MM-DD) or ``datetime`` (ISO 8601, stored in UTC as ``...Z``)."""

    type = "date"
    keys = frozenset({"type", "min_date", "max_date", "timezone"})

    def __init__(self, entity: str, name: str, config: dict[str, Any], path: str) -> None:
        self.kind = config.get("type", "date")
        _expect(self.kind in ("date", "datetime", "week"), path + ".type", "type must be date, datetime or week")
        super().__init__(entity, name, config, path)
        self.min = self.to_db(config["min_date"]) if config.get("min_date") else None
        self.max = self.to_db(config["max_date"]) if config.get("max_date") else None

    def _parse(self, value: Any) -> str:
        if not isinstance(value, str):
            raise self.fail(f"must be an ISO 8601 {self.kind} string")
        try:
            if self.kind == "datetime":
                dt = datetime.fromisoformat(value)
                if dt.tzinfo is not None:
                    dt = dt.astimezone(UTC).replace(tzinfo=None)
                return dt.isoformat(timespec="milliseconds") + "Z"
            if self.kind == "week":
                datetime.strptime(value + "-1", "%G-W%V-%u")
                return value
            return date.fromisoformat(value[:10] if "T" in value else value).isoformat()
        except ValueError:
            raise self.fail(f"must be an ISO 8601 {self.kind} string, got {value!r}") from None

    def to_db(self, value: Any) -> Any:
        if value is None:
            return None
        out = self._parse(value)
        lo: str | None = getattr(self, "min", None)
        hi: str | None = getattr(self, "max", None)
        if lo is not None and out < lo:
            raise self.fail(f"must not be before {lo}")
        if hi is not None and out > hi:
            raise self.fail(f"must not be after {hi}")
        return out

    def to_query(self, value: Any) -> Any:
        return None if value is None else self._parse(value)

    def json_schema(self) -> dict[str, Any]:
        fmt = {"date": "date", "datetime": "date-time"}.get(self.kind)
        return {"type": "string", **({"format": fmt} if fmt else {})}

    def ts_type(self) -> str:
        return "string"

    def describe(self) -> dict[str, Any]:
        return {"type": "date", "config": self.config}


class EnumField(Field):
    type = "enum"
    keys = frozenset({"options"})

    def __init__(self, entity: str, name: str, config: dict[str, Any], path: str) -> None:
        opts = config.get("options")
        values: list[Any]
        if isinstance(opts, list):
            values = opts
        elif isinstance(opts, dict) and isinstance(opts.get("values"), list):
            if opts.get("type") == "objects":
                values = [v.get("value") if isinstance(v, dict) else v for v in opts["values"]]
            else:
                values = opts["values"]
        else:
            raise ConfigProblem(path + ".options", 'enum needs options: {"type":"strings","values":[...]}')
        _expect(
            bool(values) and all(isinstance(v, str) for v in values),
            path + ".options",
            "enum options must be a non-empty list of strings",
        )
        self.values = list(values)
        self._set = set(values)
        super().__init__(entity, name, config, path)

    def to_db(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str) or value not in self._set:
            raise self.fail(f"must be one of {self.values}")
        return value

    def to_query(self, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        raise self.fail("must be compared with a string")

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": self.values}

    def ts_type(self) -> str:
        return " | ".join(orjson.dumps(v).decode() for v in self.values)


def _decode_json(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return orjson.loads(v)
        except orjson.JSONDecodeError:
            return v
    return v


class JsonField(Field):
    type = "json"
    keys = frozenset({"schema"})
    decode = staticmethod(_decode_json)

    def to_db(self, value: Any) -> Any:
        if value is None:
            return None
        try:
            return orjson.dumps(value).decode()
        except TypeError:
            raise self.fail("must be JSON (with integers of at most 64 bits)") from None

    def to_query(self, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        try:
            return orjson.dumps(value).decode()
        except TypeError:
            raise self.fail("must be compared with JSON (with integers of at most 64 bits)") from None

    def json_schema(self) -> dict[str, Any]:
        return dict(self.config.get("schema") or {})

    def ts_type(self) -> str:
        return "any"


class RelationField(Field):
    """The foreign-key column a to-one relation adds (``<target>_id``)."""

    type = "relation"
    keys = frozenset({"target", "target_field", "on_delete", "reference"})

    def __init__(self, entity: str, name: str, config: dict[str, Any], path: str) -> None:
        self.target = config.get("target", "")
        self.target_format = config.get("target_format", "integer")
        self.on_delete = config.get("on_delete", "set null")
        super().__init__(entity, name, {k: v for k, v in config.items() if k != "target_format"}, path)

    def sa_type(self) -> sa.types.TypeEngine[Any]:
        import sqlalchemy as sa

        if self.target_format == "uuid":
            return sa.Text()
        return sa.BigInteger().with_variant(sa.Integer(), "sqlite")

    def to_db(self, value: Any) -> Any:
        if value is None:
            return None
        if self.target_format == "uuid":
            if not isinstance(value, str):
                raise self.fail("must be a string id")
            return value
        if isinstance(value, bool) or not isinstance(value, int) or not _int_in_range(value):
            raise self.fail("must be an integer id")
        return value

    def to_query(self, value: Any) -> Any:
        if isinstance(value, str) and self.target_format != "uuid" and value.lstrip("-").isascii() \
                and value.lstrip("-").isdigit() and len(value) < 20:
            return int(value)
        return self.to_db(value)

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string"} if self.target_format == "uuid" else {"type": "integer"}

    def ts_type(self) -> str:
        return "string" if self.target_format == "uuid" else "number"


class MediaField(Field):
    """Virtual: files attach through the media entity (``reference = entity.field``)."""

    type = "media"
    keys = frozenset({"min_items", "max_items", "mime_types", "entity"})

    def __init__(self, entity: str, name: str, config: dict[str, Any], path: str) -> None:
        for k in ("min_items", "max_items"):
            if k in config:
                _expect(isinstance(config[k], int) and config[k] >= 0, f"{path}.{k}", f"{k} must be >= 0")
        self.max_items = config.get("max_items")
        self.min_items = config.get("min_items")
        self.mime_types = config.get("mime_types")
        super().__init__(entity, name, {**config, "virtual": True, "fillable": False}, path)

    def json_schema(self) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "object"}, "readOnly": True}

    def ts_type(self) -> str:
        return "unknown[]"


FIELD_TYPES: dict[str, type[Field]] = {
    "primary": PrimaryField,
    "text": TextField,
    "number": NumberField,
    "boolean": BooleanField,
    "date": DateField,
    "enum": EnumField,
    "json": JsonField,
    "jsonschema": JsonField,
    "relation": RelationField,
    "media": MediaField,
}


def make_field(entity: str, name: str, spec: Any, path: str) -> Field:
    _expect(isinstance(spec, dict), path, "a field must be an object with a type")
    ftype = spec.get("type")
    config = spec.get("config") or {}
    _expect(isinstance(config, dict), path + ".config", "config must be an object")
    if ftype == "datetime":  # nodebase shorthand for {"type":"date","config":{"type":"datetime"}}
        ftype, config = "date", {**config, "type": "datetime"}
    if ftype == "integer":  # shorthand
        ftype, config = "number", {**config, "integer": True}
    cls = FIELD_TYPES.get(ftype) if isinstance(ftype, str) else None
    _expect(
        cls is not None,
        path + ".type",
        f"unknown field type {ftype!r}; expected one of {sorted(FIELD_TYPES) + ['datetime']}",
    )
    assert cls is not None
    try:
        return cls(entity, name, config, path)
    except ValidationFailed as exc:
        raise ConfigProblem(path + ".config.default_value", exc.message) from None
