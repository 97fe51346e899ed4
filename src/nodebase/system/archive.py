"""``nodebase export`` / ``nodebase import``: one archive (tar.gz) with a node's config, every
entity's rows (users with their password hashes), the m:n connection tables, and optionally
the media files, restorable into an empty node on SQLite or PostgreSQL.

Layout of the archive::

    manifest.json            {"format": 1, "nodebase", "database", "created", "secrets", "media"}
    config.json              every module's config document (secret values masked unless --with-secrets)
    rows/<entity>.jsonl      one JSON object per row, every column (hidden ones too), API-level values
    links/<table>.jsonl      m:n connection rows
    media/<key>              the stored files (unless --no-media)

Values are written as the Data module reads them (its field decoders) and written back through
each field's ``to_db``, so a row exported from SQLite lands in PostgreSQL with the same values
and types, and back. Primary keys are kept; PostgreSQL sequences are moved past them.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from nodebase import __version__
from nodebase.kernel import jsonutil
from nodebase.kernel.errors import BadRequest, Conflict
from nodebase.system.config import MASK

FORMAT = 1
#: config documents applied first (the data schema creates the tables the rest refer to)
CONFIG_ORDER = ("data", "auth", "media")


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(jsonutil.dumps(r) + b"\n" for r in rows)


def _entity_order(schema: Any) -> list[str]:
    """Entities so that a to-one (fk) target comes before the rows pointing at it."""
    done: list[str] = []
    seen: set[str] = set()

    def visit(name: str, stack: set[str]) -> None:
        if name in seen or name in stack:
            return
        stack.add(name)
        for ref in schema.entities[name].references.values():
            if ref.kind == "fk" and ref.target != name:
                visit(ref.target, stack)
        seen.add(name)
        done.append(name)

    for name in schema.entities:
        visit(name, set())
    return done


async def _columns(nb: Any, entity: Any) -> list[str]:
    present = set(await nb.db.columns(entity.name))
    return [n for n in entity.fields if n in present]


async def export_archive(nb: Any, out: Path, *, with_secrets: bool, media: bool) -> dict[str, Any]:
    """Write the archive; returns the manifest with row and file counts."""
    q = nb.db.dialect.quote
    schema = nb.data.schema
    counts: dict[str, int] = {}
    files = 0
    types: dict[str, str] = {}
    with tarfile.open(out, "w:gz") as tar:
        _add(tar, "config.json", jsonutil.dumps(nb.config.all(secrets=with_secrets)))
        for name in _entity_order(schema):
            entity = schema.entities[name]
            cols = await _columns(nb, entity)
            decoders = entity.decoders(cols)
            sql = f"SELECT {', '.join(q(c) for c in cols)} FROM {q(name)} ORDER BY {q(entity.primary.name)}"
            rows = []
            for raw in await nb.db.fetch_all(sql):
                values = list(raw)
                for i, fn in decoders:
                    values[i] = fn(values[i])
                rows.append(dict(zip(cols, values, strict=True)))
            counts[name] = len(rows)
            _add(tar, f"rows/{name}.jsonl", _jsonl(rows))
        for table in schema.through_tables:
            cols = await nb.db.columns(table)
            raw_rows = await nb.db.fetch_all(
                f"SELECT {', '.join(q(c) for c in cols)} FROM {q(table)} ORDER BY 1, 2")
            _add(tar, f"links/{table}.jsonl", _jsonl([dict(zip(cols, r, strict=True)) for r in raw_rows]))
            counts[table] = len(raw_rows)
        if media:
            storage = nb.media.service.storage
            for obj in await storage.list():
                data = b"".join([chunk async for chunk in await storage.open(obj.key)])
                _add(tar, f"media/{obj.key}", data)
                types[obj.key] = obj.content_type or "application/octet-stream"
                files += 1
        manifest = {"format": FORMAT, "nodebase": __version__, "database": nb.db.dialect.name,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "secrets": with_secrets, "media": media, "rows": counts, "files": files, "content_types": types}
        _add(tar, "manifest.json", jsonutil.dumps(manifest))
    return manifest


def _unmask(doc: Any, current: Any) -> Any:
    """Masked secret values in an exported document: keep the target node's own value."""
    if isinstance(doc, dict):
        cur = current if isinstance(current, dict) else {}
        out = {}
        for k, v in doc.items():
            if v == MASK:
                if k in cur:
                    out[k] = cur[k]
                continue
            out[k] = _unmask(v, cur.get(k))
        return out
    return doc


async def _is_empty(nb: Any) -> bool:
    q = nb.db.dialect.quote
    for name in nb.data.schema.entities:
        if name in await nb.db.tables() and await nb.db.fetch_val(f"SELECT COUNT(*) FROM {q(name)}"):
            return False
    return True


async def _one(chunk: bytes) -> AsyncIterator[bytes]:
    yield chunk


async def import_archive(nb: Any, path: Path) -> dict[str, Any]:
    """Restore an archive into this (empty) node; returns the archive's manifest."""
    try:
        tar = tarfile.open(path, "r:gz")  # noqa: SIM115 - closed by the with below
    except (OSError, tarfile.TarError) as exc:
        raise BadRequest(f"{path} is not a nodebase export archive ({exc})", context={"file": str(path)}) from None
    with tar:
        def read(name: str) -> bytes:
            member = tar.extractfile(name)
            if member is None:
                raise BadRequest(f"the archive has no {name}", context={"file": str(path), "member": name})
            return member.read()

        try:
            manifest = json.loads(read("manifest.json"))
        except KeyError:
            raise BadRequest("the archive has no manifest.json", context={"file": str(path)}) from None
        if manifest.get("format") != FORMAT:
            raise BadRequest(f"unsupported archive format {manifest.get('format')!r}", context={"file": str(path)})
        if not await _is_empty(nb):
            raise Conflict("import needs an empty node: this one already has rows",
                           context={"database": nb.db.dialect.name})
        config = json.loads(read("config.json"))
        names = [n for n in CONFIG_ORDER if n in config] + \
            [n for n in config if n not in CONFIG_ORDER and n != "version"]
        for name in names:
            if name in nb.config.modules:
                doc = _unmask(config[name], nb.config.get(name, secrets=True))
                await nb.config.change(name, "set", None, doc, force=True)
        members = set(tar.getnames())
        schema = nb.data.schema
        q = nb.db.dialect.quote
        async with nb.db.transaction() as tx:
            for name in _entity_order(schema):
                member = f"rows/{name}.jsonl"
                if member not in members:
                    continue
                entity = schema.entities[name]
                for line in read(member).splitlines():
                    row = json.loads(line)
                    values = {k: entity.fields[k].to_db(v) if v is not None else None
                              for k, v in row.items() if k in entity.fields}
                    cols = list(values)
                    marks = ", ".join(nb.db.dialect.placeholder(i + 1) for i in range(len(cols)))
                    await tx.execute(f"INSERT INTO {q(name)} ({', '.join(q(c) for c in cols)}) VALUES ({marks})",
                                     list(values.values()))
            for table in schema.through_tables:
                member = f"links/{table}.jsonl"
                if member not in members:
                    continue
                for line in read(member).splitlines():
                    row = json.loads(line)
                    cols = list(row)
                    marks = ", ".join(nb.db.dialect.placeholder(i + 1) for i in range(len(cols)))
                    await tx.execute(f"INSERT INTO {q(table)} ({', '.join(q(c) for c in cols)}) VALUES ({marks})",
                                     list(row.values()))
        if nb.db.dialect.name == "postgresql":
            for name in schema.entities:
                pk = schema.entities[name].primary.name
                seq = await nb.db.fetch_val(f"SELECT pg_get_serial_sequence('{q(name)}', '{pk}')")
                if seq:
                    await nb.db.fetch_val(
                        f"SELECT setval('{seq}', GREATEST(COALESCE((SELECT MAX({q(pk)}) FROM {q(name)}), 0), 1))")
        storage = nb.media.service.storage
        for member_info in tar.getmembers():
            if member_info.name.startswith("media/") and member_info.isfile():
                key = member_info.name[len("media/"):]
                data = read(member_info.name)
                kind = manifest.get("content_types", {}).get(key, "application/octet-stream")
                await storage.put(key, _one(data), content_type=kind)
    return dict(manifest)
