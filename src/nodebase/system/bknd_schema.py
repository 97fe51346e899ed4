"""``GET /api/system/schema``: the answer bknd's admin UI starts from (reference §2.5).

bknd answers ``{module?, version, readonly, schema, config, permissions}``: ``schema`` holds one
JSON Schema per config module (``server``, ``data``, ``auth``, ``media``, ``flows``) and the UI
builds its settings forms from them; ``config`` is the whole configuration the way bknd's
modules print it (``App.toJSON``). What differs from ``GET /api/system/config`` is what bknd's
``toJSON`` adds and its UI relies on:

* ``server``: nodebase's server settings (CORS) in bknd's ``server`` shape; they come from the
  node's settings (environment / ``nodebase.toml``), so the schema marks them read-only;
* ``data.entities``: *every* entity, the system ones (``users``, ``media``) included, each with
  its primary field ``id`` (bknd's ``EntityManager.toJSON``);
* ``flows``: always present with its ``flows`` map;
* ``permissions``: each filterable permission's context as a JSON Schema (bknd's
  ``Permission.toJSON``), which the role editor's policy form reads.

The schemas describe what nodebase's modules accept (each module still validates a change
itself and answers 400 listing the problems); they follow bknd's layout (``anyOf`` of objects
whose ``type`` is a ``const``) because bknd's UI looks its forms up that way.
"""

from __future__ import annotations

from typing import Any

from nodebase.data.bknd_fields import not_bknd
from nodebase.system.config import CONFIG_VERSION

CORS_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]
CORS_HEADERS = ["Content-Type", "Content-Length", "Authorization", "Accept", "X-API-Key"]
MODULES = ("server", "data", "auth", "media", "flows")

S = dict[str, Any]


# -- schema helpers ------------------------------------------------------------------------
def _obj(props: S, *, required: list[str] | None = None, title: str | None = None,
         extra: bool = False, **kw: Any) -> S:
    out: S = {"type": "object", "properties": props, "additionalProperties": extra, **kw}
    if required:
        out["required"] = required
    if title:
        out["title"] = title
    return out


def _str(**kw: Any) -> S:
    return {"type": "string", **kw}


def _bool(default: bool | None = None, **kw: Any) -> S:
    return {"type": "boolean", **({"default": default} if default is not None else {}), **kw}


def _int(**kw: Any) -> S:
    return {"type": "integer", **kw}


def _num(**kw: Any) -> S:
    return {"type": "number", **kw}


def _strings(**kw: Any) -> S:
    return {"type": "array", "items": {"type": "string"}, **kw}


def _record(value: S, **kw: Any) -> S:
    return {"type": "object", "additionalProperties": value, "default": {}, **kw}


def _typed(kind: str, props: S, *, config: S | None = None, **extra_props: S) -> S:
    """One member of a ``type``-discriminated ``anyOf`` (bknd's ``s.literal(type)`` objects)."""
    body: S = {"type": {"type": "string", "const": kind}, **extra_props}
    if config is not None:
        body["config"] = config
    body.update(props)
    return _obj(body, required=["type"], title=kind)


# -- server --------------------------------------------------------------------------------
def server_schema() -> S:
    ro: dict[str, Any] = {"readOnly": True}
    return _obj({
        "cors": _obj({
            "origin": _str(description="Allowed origins, comma-separated (setting cors_origins)", **ro),
            "allow_methods": _strings(uniqueItems=True, **ro),
            "allow_headers": _strings(**ro),
            "allow_credentials": _bool(**ro),
        }, **ro),
        "mcp": _obj({"enabled": _bool(False, description="nodebase has no MCP server", **ro)}, **ro),
    }, description="Server settings: set by the node's settings (NODEBASE_* / nodebase.toml), "
                   "not by the config API", readOnly=True)


def server_config(origins: tuple[str, ...]) -> S:
    return {
        "cors": {"origin": ",".join(origins), "allow_methods": list(CORS_METHODS),
                 "allow_headers": list(CORS_HEADERS), "allow_credentials": True},
        "mcp": {"enabled": False},
    }


# -- data ----------------------------------------------------------------------------------
_CONTEXTS = ["create", "read", "update", "delete", "form", "table", "submit"]


def _field_config(**specific: S) -> S:
    common: S = {
        "label": _str(), "description": _str(), "required": _bool(False),
        "fillable": {"anyOf": [{"type": "boolean", "title": "Boolean"},
                               {"type": "array", "title": "Context", "uniqueItems": True,
                                "items": {"type": "string", "enum": ["create", "update"]}}]},
        "hidden": {"anyOf": [{"type": "boolean", "title": "Boolean"},
                             {"type": "array", "title": "Context", "uniqueItems": True,
                              "items": {"type": "string", "enum": _CONTEXTS}}]},
        "virtual": _bool(), "default_value": {},
        "unique": _bool(description="a unique index on the column"),
        "index": _bool(description="an index on the column"),
    }
    return _obj({**common, **specific})


def field_schemas() -> list[S]:
    """One schema per field type nodebase accepts (nodebase.data.schema.fields)."""
    return [
        _typed("primary", {}, config=_obj({"format": _str(enum=["integer", "uuid"], default="integer"),
                                           "fillable": _bool(False)})),
        _typed("text", {}, config=_field_config(
            minLength=_int(minimum=0), maxLength=_int(minimum=0), pattern=_str(format="regex"),
            html_config=_obj({"element": _str(), "props": {"type": "object"}}, extra=True))),
        _typed("number", {}, config=_field_config(
            minimum=_num(), maximum=_num(), exclusiveMinimum=_num(), exclusiveMaximum=_num(),
            multipleOf=_num(exclusiveMinimum=0), integer=_bool(False))),
        _typed("boolean", {}, config=_field_config()),
        _typed("date", {}, config=_field_config(
            type=_str(enum=["date", "datetime", "week"], default="date"),
            min_date=_str(), max_date=_str(), timezone=_str())),
        _typed("enum", {}, config=_field_config(options={
            "anyOf": [
                _obj({"type": {"const": "strings"}, "values": _strings()}, required=["type", "values"]),
                _obj({"type": {"const": "objects"},
                      "values": {"type": "array", "items": _obj({"label": _str(), "value": _str()})}},
                     required=["type", "values"]),
                _strings(title="List"),
            ]})),
        _typed("json", {}, config=_field_config(schema={"type": "object"})),
        _typed("jsonschema", {}, config=_field_config(schema={"type": "object"})),
        _typed("relation", {}, config=_field_config(
            target=_str(), target_field=_str(), on_delete=_str(enum=["set null", "cascade", "restrict"]),
            reference=_str())),
        _typed("media", {}, config=_field_config(
            min_items=_int(minimum=0), max_items=_int(minimum=0), mime_types=_strings(), entity=_str())),
    ]


def data_schema() -> S:
    entity = _obj({
        "name": _str(),
        "type": _str(enum=["regular", "system", "generated"], default="regular"),
        "config": _obj({
            "name": _str(), "name_singular": _str(), "description": _str(),
            "sort_field": _str(default="id"), "sort_dir": _str(enum=["asc", "desc"], default="asc"),
            "primary_format": _str(enum=["integer", "uuid"]),
        }),
        "fields": _record({"anyOf": field_schemas()}),
    })
    relation_config = _obj({
        "mappedBy": _str(), "inversedBy": _str(), "required": _bool(False),
        "with_limit": _int(minimum=0), "connectionTable": _str(), "targetCardinality": _int(minimum=1),
        "sourceCardinality": _int(minimum=1), "on_delete": _str(enum=["set null", "cascade", "restrict"]),
    })
    relations = [_typed(kind, {"source": _str(), "target": _str()}, config=relation_config)
                 for kind in ("n:1", "1:1", "m:n", "poly")]
    index = _obj({"entity": _str(), "fields": _strings(minItems=1), "unique": _bool(False)},
                 required=["entity", "fields"])
    return _obj({
        "basepath": _str(default="/api/data"),
        "default_primary_format": _str(enum=["integer", "uuid"], default="integer"),
        "entities": _record(entity),
        "relations": _record({"anyOf": relations}),
        "indices": _record(index),
    }, description="Entities, relations and indices")


def _bknd_field(entity: str, name: str, field: S, indices: S) -> S:
    config = dict(field.get("config") or {})
    if config.pop("unique", False):
        indices.setdefault(f"idx_unique_{entity}_{name}", {"entity": entity, "fields": [name], "unique": True})
    if config.pop("index", False):
        indices.setdefault(f"idx_{entity}_{name}", {"entity": entity, "fields": [name], "unique": False})
    for key in not_bknd(field.get("type")):
        config.pop(key, None)
    return {**field, "config": config}


def data_config(data: Any, doc: S) -> S:
    """The data config as bknd's ``AppData.toJSON``: every entity (system ones too) with its
    primary field, field configs in bknd's keys, unique and indexed fields as indices."""
    indices: S = dict(doc.get("indices") or {})
    entities: S = {}
    for name, ent in data.schema.entities.items():
        described = ent.describe()
        described["fields"] = {f: _bknd_field(name, f, spec, indices)
                               for f, spec in described["fields"].items()}
        entities[name] = described
    return {**doc, "entities": entities, "indices": indices}


# -- auth ----------------------------------------------------------------------------------
def auth_schema() -> S:
    permission_entry = _obj({
        "permission": _str(), "effect": _str(enum=["allow", "deny"], default="allow"),
        "policies": {"type": "array", "items": _obj({
            "description": _str(), "condition": {"type": "object"},
            "effect": _str(enum=["allow", "deny", "filter"], default="allow"), "filter": {"type": "object"},
        })},
    }, required=["permission"])
    role = _obj({
        "permissions": {"anyOf": [_strings(title="Names", uniqueItems=True),
                                  {"type": "array", "title": "Objects", "items": permission_entry}]},
        "is_default": _bool(False), "implicit_allow": _bool(False),
    })
    strategies = [
        _typed("password", {"enabled": _bool(True)}, config=_obj({
            "hashing": _str(enum=["argon2id"], default="argon2id",
                            description="argon2id only (bknd's unsalted sha256 is refused)"),
            "minLength": _int(minimum=8, maximum=128, default=8),
            "maxLength": _int(minimum=8, maximum=4096, default=1024),
        })),
        _typed("passkey", {"enabled": _bool(True)}, config=_obj({
            "rp_id": _str(description="empty: the request's host"), "rp_name": _str(default="nodebase"),
            "origins": _strings(),
            "user_verification": _str(enum=["required", "preferred", "discouraged"], default="required"),
            "resident_key": _str(enum=["required", "preferred", "discouraged"], default="preferred"),
            "timeout": _int(minimum=1), "challenge_ttl": _int(minimum=1),
        })),
    ]
    return _obj({
        "enabled": _bool(True), "basepath": _str(default="/api/auth"), "entity_name": _str(default="users"),
        "allow_register": _bool(True), "default_role_register": _str(description="empty: none"),
        "jwt": _obj({
            "alg": _str(enum=["HS256", "HS384", "HS512"], default="HS256"),
            "fields": {"type": "array", "items": {"type": "string"}, "default": ["id", "email", "role"]},
            "expires": _int(minimum=1, description="seconds"), "issuer": _str(description="empty: none"),
            "revalidate": _int(minimum=0, description="seconds between checks that the user still exists"),
        }),
        "cookie": _obj({
            "path": _str(default="/"), "sameSite": _str(enum=["strict", "lax", "none"], default="lax"),
            "secure": _bool(True), "httpOnly": _bool(True), "expires": _int(minimum=1),
            "partitioned": _bool(False), "renew": _bool(True),
            "pathSuccess": _str(default="/"), "pathLoggedOut": _str(default="/"),
        }),
        "strategies": _record({"anyOf": strategies}),
        "guard": _obj({"enabled": _bool(True), "anonymous_role": _str(description="empty: none")}),
        "roles": _record(role),
        "rate_limit": _obj({
            "enabled": _bool(True), "window": _int(minimum=1), "free_attempts": _int(minimum=0),
            "first_delay": _num(minimum=0), "max_delay": _num(minimum=0), "max_per_ip": _int(minimum=0),
            "max_per_account": _int(minimum=0), "register_per_ip": _int(minimum=0),
        }),
    }, description="Users, sign-in strategies, tokens, cookies, roles")


def _role(role: S) -> S:
    """A role as bknd's ``Role.toJSON``: permissions always as objects (the role editor reads
    ``permission``), the flags always present."""
    perms = [{"permission": p, "policies": [], "effect": "allow"} if isinstance(p, str)
             else {"policies": [], "effect": "allow", **p} for p in role.get("permissions") or []]
    return {**role, "permissions": perms, "is_default": bool(role.get("is_default")),
            "implicit_allow": bool(role.get("implicit_allow"))}


def auth_config(doc: S) -> S:
    return {**doc, "roles": {name: _role(r) for name, r in (doc.get("roles") or {}).items()}}


# -- media ---------------------------------------------------------------------------------
def media_schema() -> S:
    # the adapter follows the node's storage_url setting; the config API cannot change it
    adapters = [
        _typed("local", {}, config=_obj({"path": _str()}, required=["path"]))
        | {"description": "Files in a directory of the node"},
        _typed("s3", {}, config=_obj({
            "bucket": _str(), "endpoint": _str(), "region": _str(), "prefix": _str(),
            "path_style": _bool(), "access_key": _str(),
        })) | {"description": "An S3-compatible object store"},
    ]
    return _obj({
        "enabled": _bool(True), "basepath": _str(default="/api/media"), "entity_name": _str(default="media"),
        "storage": _obj({"body_max_size": _int(minimum=1)}),
        "allowed_mime_types": _strings(),
        "presigned": _obj({"expires_in": _int(minimum=1)}),
        "adapter": {"anyOf": adapters, "readOnly": True,
                    "description": "set by the storage_url setting"},
    }, description="File storage")


# -- flows ---------------------------------------------------------------------------------
def flows_schema(task_types: list[str], trigger_types: list[str]) -> S:
    tasks = [_typed(t, {"params": {"type": "object"}, "retries": _int(minimum=0),
                        "backoff": _num(minimum=0)}) for t in task_types]
    triggers = [_typed(t, {}, config={"type": "object"}) for t in trigger_types]
    connection = _obj({
        "source": _str(), "target": _str(),
        "config": _obj({"condition": {"type": "object"}, "max_retries": _int(minimum=0)}, extra=True),
    }, required=["source", "target"])
    flow = _obj({
        "trigger": {"anyOf": triggers}, "tasks": _record({"anyOf": tasks}),
        "connections": _record(connection), "start_task": _str(), "responding_task": _str(),
        "role": _str(), "description": _str(),
    })
    return _obj({
        "basepath": _str(default="/api/flows"),
        "flows": _record(flow),
        "python_modules": _strings(),
        "runs": _obj({"keep_days": _int(minimum=0), "lease_seconds": _num(minimum=0),
                      "poll_interval": _num(minimum=0), "execute": _bool(True)}),
    }, description="Workflows")


def _flow_types() -> tuple[list[str], list[str]]:
    try:
        from nodebase.flows.tasks import TASK_TYPES
        from nodebase.flows.triggers import TRIGGER_TYPES
    except ImportError:  # pragma: no cover - the flows module ships with nodebase
        return [], []
    return list(TASK_TYPES), list(TRIGGER_TYPES)


# -- the answer ----------------------------------------------------------------------------
def schemas() -> S:
    tasks, triggers = _flow_types()
    return {"server": server_schema(), "data": data_schema(), "auth": auth_schema(),
            "media": media_schema(), "flows": flows_schema(tasks, triggers)}


def _without_nulls(value: Any) -> Any:
    """bknd leaves an unset optional key out; its forms fail on a ``null`` (e.g. the auth
    settings page on ``jwt.issuer: null``)."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def module_view(nb: Any, name: str, doc: S) -> S:
    """One module's config as bknd's ``Module.toJSON`` prints it (also the ``config`` of the
    202 answers to config changes, which bknd's UI puts in place of what it had)."""
    if name == "data":
        return data_config(nb.data, doc)
    if name == "auth":
        return auth_config(_without_nulls(doc))
    return doc


def bknd_config(nb: Any, *, secrets: bool) -> S:
    """The node's configuration as bknd's ``App.toJSON(secrets)``."""
    docs = nb.config.all(secrets=secrets)
    out: S = {"version": CONFIG_VERSION, "server": server_config(nb.settings.cors_origins)}
    for name, doc in docs.items():
        if name != "version":
            out[name] = module_view(nb, name, doc)
    out.setdefault("flows", {"basepath": "/api/flows", "flows": {}})
    return out


def permission_context(entry: S) -> S:
    """nodebase's short context notation (``{"entity": "string", "id": "string?"}``) as the
    JSON Schema bknd's ``Permission.toJSON`` gives."""
    short = entry.get("context")
    if not isinstance(short, dict):
        return entry
    props: S = {}
    required: list[str] = []
    for key, kind in short.items():
        optional = isinstance(kind, str) and kind.endswith("?")
        base = kind.rstrip("?") if isinstance(kind, str) else "string"
        props[key] = ({"anyOf": [{"type": "number"}, {"type": "string"}]} if key == "id"
                      else {"type": base})
        if not optional:
            required.append(key)
    return {**entry, "context": {"type": "object", "properties": props, "required": required}}


def bknd_permissions(nb: Any) -> list[S]:
    return [permission_context(p) for p in nb.permissions.describe()]


def guard_context(nb: Any) -> S:
    """The policy context bknd's role editor offers (``AppAuth.getGuardContextSchema``): the
    signed-in user's token fields."""
    from nodebase.data.describe import entity_json_schema

    users = nb.data.schema.entities.get("users")
    if users is None or "auth" not in nb.config.modules:
        return {"type": "object"}
    fields = (nb.config.get("auth").get("jwt") or {}).get("fields") or []
    props = entity_json_schema(users)["properties"]
    return {"type": "object", "properties": {"user": {
        "type": "object", "properties": {f: props[f] for f in fields if f in props}}}}
