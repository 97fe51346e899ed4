"""The Media module's use cases: upload, attach to an entity, list, read, delete, presign.

Transport hands in an :class:`~nodebase.media.bodies.IncomingFile` (a stream) and gets back
plain data; storage adapters move bytes; media rows are written through the Data module's
service as the system caller. Every operation asks the guard first (``media.file.*``).

Consistency rules:

* An upload writes the object first (atomically: adapters never expose a partial object),
  then the row; if the row cannot be written the new object is removed again.
* A size over the limit is refused before anything is written when ``Content-Length``
  tells, and otherwise the moment the stream passes the limit (the partial object is
  discarded by the adapter).
* Deleting a file removes its row; deleting an entity row removes the files attached to it
  (``data.delete.after``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from nodebase.data.schema.fields import MediaField
from nodebase.data.service import DataService
from nodebase.kernel.caller import SYSTEM, Caller, Guard, require
from nodebase.kernel.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from nodebase.kernel.events import Event, EventBus
from nodebase.media import names
from nodebase.media.bodies import IncomingFile, NoFile
from nodebase.media.imagesize import HEAD_BYTES, MIN_IMAGE_BYTES, image_size
from nodebase.media.presign import UrlSigner
from nodebase.media.storage import ByteRange, ObjectInfo, StorageAdapter

log = logging.getLogger("nodebase.media")

MEDIA_ENTITY = "media"
DEFAULT_MAX_SIZE = 100 * 1024 * 1024
DEFAULT_EXPIRES = 3600
MAX_EXPIRES = 7 * 24 * 3600  # S3's limit for SigV4 presigned URLs

#: bknd's media system entity (reference §1.5), in bknd's entity config format
MEDIA_ENTITY_SPEC: dict[str, Any] = {
    "config": {"sort_field": "id", "sort_dir": "desc"},
    "fields": {
        "path": {"type": "text", "config": {"required": True, "unique": True}},
        "folder": {"type": "boolean", "config": {"default_value": False}},
        "mime_type": {"type": "text"},
        "size": {"type": "number"},
        "scope": {"type": "text"},
        "etag": {"type": "text"},
        "modified_at": {"type": "date", "config": {"type": "datetime"}},
        "reference": {"type": "text", "config": {"index": True}},
        "entity_id": {"type": "text", "config": {"index": True}},
        "metadata": {"type": "json"},
    },
}


@dataclass
class MediaSettings:
    enabled: bool = True
    #: bytes per upload (None: no limit)
    body_max_size: int | None = DEFAULT_MAX_SIZE
    #: allowed for every upload (empty: any); media fields narrow it with ``mime_types``
    allowed_mime_types: list[str] = field(default_factory=list)
    presign_expires: int = DEFAULT_EXPIRES


@dataclass
class Stored:
    row: dict[str, Any]
    key: str
    size: int
    mime: str
    sha256: str

    def upload_body(self) -> dict[str, Any]:
        """bknd's upload answer (reference §2.4)."""
        return {
            "name": self.key,
            "meta": {"size": self.size, "type": self.mime},
            "etag": f'"{self.sha256}"',
            "state": {"name": self.key, "path": self.key},
            "file": {},
        }


@dataclass
class FileStat:
    key: str
    size: int
    etag: str
    mime: str
    last_modified: datetime


class _Meter:
    """Counts, hashes and limits the bytes of an upload as they pass to storage."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.size = 0
        self.sha = hashlib.sha256()
        self.head = bytearray()

    async def wrap(self, first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        yield self._take(first)
        async for chunk in rest:
            if chunk:
                yield self._take(chunk)

    def _take(self, chunk: bytes) -> bytes:
        self.size += len(chunk)
        if self.limit is not None and self.size > self.limit:
            raise PayloadTooLarge(
                f"The file is larger than the limit of {self.limit} bytes",
                context={"limit": self.limit},
            )
        self.sha.update(chunk)
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        return chunk


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class MediaService:
    def __init__(self, data: DataService, events: EventBus, guard: Guard, storage: StorageAdapter,
                 signer: UrlSigner, settings: MediaSettings | None = None) -> None:
        self.data = data
        self.events = events
        self.guard = guard
        self.storage = storage
        self.signer = signer
        self.settings = settings or MediaSettings()

    # -- rows ------------------------------------------------------------------------------
    async def _rows(self, where: dict[str, Any], limit: int = 10_000) -> list[dict[str, Any]]:
        rows, _ = await self.data.read_many(
            MEDIA_ENTITY, {"where": where, "limit": limit, "sort": "id"}, SYSTEM)
        return rows

    async def row_by_path(self, key: str) -> dict[str, Any] | None:
        rows = await self._rows({"path": key}, limit=1)
        return rows[0] if rows else None

    async def _write_row(self, values: dict[str, Any]) -> dict[str, Any]:
        """Insert the row for ``values["path"]``, or update the one already there."""
        existing = await self.row_by_path(values["path"])
        if existing is None:
            try:
                created = await self.data.create(MEDIA_ENTITY, values, SYSTEM)
                assert isinstance(created, dict)
                return created
            except Conflict:  # a concurrent upload of the same name got there first
                existing = await self.row_by_path(values["path"])
                if existing is None:
                    raise
        keep = {k: v for k, v in values.items() if k not in ("reference", "entity_id")
                or existing.get(k) is None}
        return await self.data.update_one(MEDIA_ENTITY, existing["id"], keep, SYSTEM)

    # -- storing ---------------------------------------------------------------------------
    def _check_mime(self, mime: str, allowed: list[str] | None = None) -> None:
        for rule in (self.settings.allowed_mime_types, allowed):
            if rule and not names.mime_allowed(mime, rule):
                raise UnsupportedMediaType(
                    f'Files of type "{mime}" are not allowed here',
                    context={"type": mime, "allowed": list(rule)},
                )

    def _check_declared(self, incoming: IncomingFile) -> None:
        limit = self.settings.body_max_size
        if limit is not None and incoming.declared_size is not None and incoming.declared_size > limit:
            # a multipart envelope adds a few hundred bytes: allow for it
            slack = 0 if incoming.filename is None else 16 * 1024
            if incoming.declared_size > limit + slack:
                raise PayloadTooLarge(
                    f"The file is larger than the limit of {limit} bytes",
                    context={"limit": limit, "size": incoming.declared_size},
                )

    async def _store(self, key: str, incoming: IncomingFile, mime: str, *,
                     reference: str | None = None, entity_id: str | None = None,
                     had_row: bool = False) -> Stored:
        self._check_declared(incoming)
        first = b""
        async for chunk in incoming.chunks:
            if chunk:
                first = chunk
                break
        if not first:
            raise NoFile("No file was uploaded (the body is empty)")
        meter = _Meter(self.settings.body_max_size)
        await self.storage.put(key, meter.wrap(first, incoming.chunks), content_type=mime)
        metadata: dict[str, Any] = {}
        if mime.startswith("image/") and meter.size >= MIN_IMAGE_BYTES:
            dims = image_size(bytes(meter.head))
            if dims:
                metadata = {"width": dims[0], "height": dims[1]}
        values: dict[str, Any] = {
            "path": key,
            "folder": False,
            "mime_type": mime,
            "size": meter.size,
            "etag": meter.sha.hexdigest(),
            "modified_at": _now(),
            "metadata": metadata,
        }
        if reference is not None:
            values["reference"] = reference
            values["entity_id"] = entity_id
        try:
            row = await self._write_row(values)
        except BaseException:
            if not had_row:
                await self._discard(key)
            raise
        return Stored(row=row, key=key, size=meter.size, mime=mime, sha256=values["etag"])

    async def _discard(self, key: str) -> None:
        """Remove an object even while the request is being cancelled."""
        with contextlib.suppress(Exception):
            await asyncio.shield(self.storage.delete(key))

    async def _announce(self, name: str, row: Any, caller: Caller) -> None:
        if self.events.has(name):
            await self.events.emit_after(Event(name, MEDIA_ENTITY, row, caller))

    # -- use cases -------------------------------------------------------------------------
    async def upload(self, caller: Caller, incoming: IncomingFile, name: str | None, *,
                     overwrite: bool = False) -> Stored:
        """Store a file under ``name`` (or a random name). An existing file of that name is
        replaced only with ``overwrite`` and the ``media.file.delete`` permission (409 else)."""
        require(self.guard, caller, "media.file.upload")
        mime = incoming.content_type
        self._check_mime(mime)
        requested = name or incoming.filename
        if name:
            key = names.check_name(name)
        else:
            key = names.random_name(names.extension_for(mime, incoming.filename))
        existing = await self.row_by_path(key)
        if existing is not None and existing.get("reference"):
            raise Conflict(
                f'"{key}" is attached to {existing["reference"]} #{existing.get("entity_id")}; '
                "replace it through that entity or delete it first",
                context={"name": key, "requested": requested},
            )
        taken = existing is not None or await self.storage.head(key) is not None
        if taken:
            if not overwrite:
                raise self._name_taken(key)
            require(self.guard, caller, "media.file.delete", {"name": key})
            stored = await self._store(key, incoming, mime, had_row=existing is not None)
        else:
            self._check_declared(incoming)  # a 413 known from Content-Length claims nothing
            claim = await self._claim(key, mime)
            try:
                stored = await self._store(key, incoming, mime)
            except BaseException:
                await self._unclaim(claim)
                raise
        await self._announce("media.file.uploaded", stored.row, caller)
        return stored

    @staticmethod
    def _name_taken(key: str) -> Conflict:
        return Conflict(f'A file named "{key}" already exists; upload with ?overwrite=1 to replace it',
                        context={"name": key})

    async def _claim(self, key: str, mime: str) -> dict[str, Any]:
        """Reserve a new name with its row before writing the object, so that of two uploads
        of one new name exactly one writes it (the other gets 409), in any worker."""
        values = {"path": key, "folder": False, "mime_type": mime, "size": 0, "modified_at": _now(),
                  "metadata": {}}
        try:
            row = await self.data.create(MEDIA_ENTITY, values, SYSTEM)
        except Conflict:
            raise self._name_taken(key) from None
        assert isinstance(row, dict)
        return row

    async def _unclaim(self, row: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):
            await asyncio.shield(self.data.delete_one(MEDIA_ENTITY, row["id"], SYSTEM))

    async def upload_to_entity(self, caller: Caller, entity_name: str, id: str, field_name: str,
                               incoming: IncomingFile, *, overwrite: bool) -> Stored:
        require(self.guard, caller, "media.file.upload")
        entity = self.data.entity(entity_name)
        media_field = entity.fields.get(field_name)
        if not isinstance(media_field, MediaField):
            raise BadRequest(
                f'"{field_name}" is not a media field of entity "{entity_name}"',
                context={"entity": entity_name, "field": field_name,
                         "valid": [f.name for f in entity.fields.values() if isinstance(f, MediaField)]},
            )
        row = await self.data.read_one(entity_name, id, {"select": ["id"]}, caller)
        if row is None:
            raise NotFound(f"No {entity_name} with id {id!r}", context={"entity": entity_name, "id": id})
        pk = row["id"]
        decision = require(self.guard, caller, "data.entity.update", {"entity": entity_name, "id": pk})
        if decision.filter and not await self.data.repo.count(entity, {"id": pk}, scope=decision.filter):
            raise Forbidden('Permission "data.entity.update" not granted for this row',
                            context={"entity": entity_name, "id": pk},
                            extra={"permission": "data.entity.update"})
        mime = incoming.content_type
        self._check_mime(mime, media_field.mime_types)
        tag, eid = f"{entity_name}.{field_name}", str(pk)
        before = await self._rows({"reference": tag, "entity_id": eid})
        max_items = media_field.max_items
        if max_items is not None and not overwrite and len(before) >= max_items:
            raise BadRequest(
                f'Max items ({max_items}) of "{tag}" reached for id {eid}; upload with ?overwrite=1 '
                "to replace them",
                context={"entity": entity_name, "id": pk, "field": field_name,
                         "max_items": max_items, "items": len(before)},
            )
        key = names.random_name(names.extension_for(mime, incoming.filename))
        stored = await self._store(key, incoming, mime, reference=tag, entity_id=eid)
        if overwrite:
            for old in before:
                await self._remove(old)
        elif max_items is not None:
            # two uploads may have passed the check together: the later rows give way
            ahead = await self._rows({"reference": tag, "entity_id": eid,
                                      "id": {"$lte": stored.row["id"]}})
            if len(ahead) > max_items:
                await self._remove(stored.row)
                raise BadRequest(
                    f'Max items ({max_items}) of "{tag}" reached for id {eid}',
                    context={"entity": entity_name, "id": pk, "field": field_name,
                             "max_items": max_items},
                )
        await self._announce("media.file.uploaded", stored.row, caller)
        return stored

    async def list_files(self, caller: Caller) -> list[dict[str, object]]:
        require(self.guard, caller, "media.file.list")
        return [info.listing() for info in await self.storage.list()]

    async def stat(self, caller: Caller | None, key: str) -> FileStat:
        """What a download needs to answer headers (``caller`` None: a signed URL)."""
        if caller is not None:
            require(self.guard, caller, "media.file.read")
        names.check_key(key)
        if not names.is_canonical(key):
            raise NotFound("File not found", context={"name": key[:300]})
        info = await self.storage.head(key)
        if info is None:
            raise NotFound("File not found", context={"name": key})
        row = await self.row_by_path(key)
        return self._file_stat(info, row)

    @staticmethod
    def _file_stat(info: ObjectInfo, row: dict[str, Any] | None) -> FileStat:
        if row and row.get("etag") and row.get("size") == info.size:
            etag = f'"{row["etag"]}"'
        else:
            etag = f'W/"{info.etag}"' if info.etag else f'W/"{info.size:x}"'
        mime = (row or {}).get("mime_type") or info.content_type or names.guess_type(info.key)
        return FileStat(info.key, info.size, etag, mime, info.last_modified)

    async def open(self, key: str, byte_range: ByteRange | None) -> AsyncIterator[bytes]:
        try:
            return await self.storage.open(key, byte_range)
        except FileNotFoundError:
            raise NotFound("File not found", context={"name": key}) from None

    async def delete_file(self, caller: Caller, key: str) -> None:
        require(self.guard, caller, "media.file.delete")
        names.check_key(key)
        if not names.is_canonical(key):
            raise NotFound("File not found", context={"name": key[:300]})
        row = await self.row_by_path(key)
        if row is not None:
            await self._remove(row)
            await self._announce("media.file.deleted", row, caller)
            return
        if not await self.storage.delete(key):
            raise NotFound("File not found", context={"name": key})
        await self._announce("media.file.deleted", {"path": key}, caller)

    async def _remove(self, row: dict[str, Any]) -> None:
        """Delete a media row and its object (the row first: no row points at nothing)."""
        with contextlib.suppress(NotFound):
            await self.data.delete_one(MEDIA_ENTITY, row["id"], SYSTEM)
        await self._discard(str(row["path"]))

    async def on_rows_deleted(self, event: Event) -> None:
        """``data.delete.after``: remove the files attached to the deleted rows."""
        if event.entity is None or event.entity == MEDIA_ENTITY:
            return
        entity = self.data.schema.entities.get(event.entity)
        if entity is None:
            return
        tags = [f"{entity.name}.{f.name}" for f in entity.fields.values() if isinstance(f, MediaField)]
        if not tags:
            return
        data = (event.payload or {}).get("data")
        rows = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
        ids = [str(r["id"]) for r in rows if isinstance(r, dict) and r.get("id") is not None]
        for start in range(0, len(ids), 500):
            batch = ids[start:start + 500]
            for row in await self._rows({"reference": {"$in": tags}, "entity_id": {"$in": batch}}):
                await self._remove(row)

    # -- presigned URLs ----------------------------------------------------------------------
    def _expires(self, value: Any) -> int:
        if value is None:
            return self.settings.presign_expires
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_EXPIRES:
            raise BadRequest(f"expiresIn must be an integer number of seconds, 1 to {MAX_EXPIRES}",
                             context={"expiresIn": value})
        return value

    def signed_path(self, method: str, key: str, expires_in: int, content_type: str = "") -> str:
        expires, sig = self.signer.sign(method, key, expires_in, content_type)
        from urllib.parse import quote, urlencode

        query = {"expires": str(expires)}
        if content_type:
            query["type"] = content_type
        query["signature"] = sig
        return f"/api/media/signed/{quote(key, safe='')}?{urlencode(query)}"

    async def presign_upload(self, caller: Caller, filename: Any, content_type: Any,
                             expires_in: Any, base_url: str) -> dict[str, Any]:
        require(self.guard, caller, "media.file.upload")
        if not isinstance(filename, str) or not filename:
            raise BadRequest("fileName (the file's name) is required", context={"fileName": filename})
        mime = names.normalize_mime(content_type if isinstance(content_type, str) else None)
        self._check_mime(mime)
        ttl = self._expires(expires_in)
        key = f"{names.random_name(length=12)}-{names.check_name(filename, max_bytes=None)}"
        if len(key.encode()) > names.MAX_KEY_LENGTH:
            key = names.random_name(names.extension_for(mime, filename))
        expires_at = _iso(datetime.now(UTC) + timedelta(seconds=ttl))
        presigned = self.storage.presign_put(key, mime, ttl)
        if presigned is None:
            url, method, headers = base_url + self.signed_path("PUT", key, ttl, mime), "PUT", {
                "Content-Type": mime}
            complete = False
        else:
            url, method, headers = presigned.url, presigned.method, presigned.headers
            complete = True
        download = self.storage.presign_get(key, ttl) or base_url + self.signed_path("GET", key, ttl)
        return {
            "uploadUrl": url,
            "method": method,
            "headers": headers,
            "objectKey": key,
            "expiresIn": ttl,
            "expiresAt": expires_at,
            "downloadUrl": download,
            "maxSize": self.settings.body_max_size,
            # S3: the bytes bypass the node, which records the row when told
            "completeUrl": base_url + "/api/upload/complete" if complete else None,
        }

    async def presign_download(self, caller: Caller, key: Any, expires_in: Any,
                               base_url: str) -> dict[str, Any]:
        require(self.guard, caller, "media.file.read")
        if not isinstance(key, str) or not key:
            raise BadRequest("name (the object key) is required", context={"name": key})
        await self.stat(None, key)
        ttl = self._expires(expires_in)
        url = self.storage.presign_get(key, ttl) or base_url + self.signed_path("GET", key, ttl)
        return {"downloadUrl": url, "objectKey": key, "expiresIn": ttl,
                "expiresAt": _iso(datetime.now(UTC) + timedelta(seconds=ttl))}

    def verify_upload_signature(self, key: str, expires: str | None, signature: str | None,
                                signed_type: str | None) -> None:
        names.check_key(key)
        self.signer.verify("PUT", key, expires, signature, signed_type or "")

    async def signed_upload(self, key: str, expires: str | None, signature: str | None,
                            signed_type: str | None, incoming: IncomingFile) -> Stored:
        """``PUT /api/media/signed/<key>``: the signature is the permission."""
        self.verify_upload_signature(key, expires, signature, signed_type)
        if incoming.content_type != names.normalize_mime(signed_type):
            raise Forbidden("The Content-Type differs from the one the URL was signed for",
                            context={"signed": signed_type, "sent": incoming.content_type})
        if not names.is_canonical(key):
            raise NotFound("File not found", context={"name": key[:300]})
        existing = await self.row_by_path(key)
        if existing is not None:
            raise Conflict("This upload URL was already used", context={"name": key})
        stored = await self._store(key, incoming, incoming.content_type)
        await self._announce("media.file.uploaded", stored.row, SYSTEM)
        return stored

    def verify_download(self, key: str, expires: str | None, signature: str | None) -> None:
        names.check_key(key)
        self.signer.verify("GET", key, expires, signature, "")

    async def complete_upload(self, caller: Caller, key: Any) -> tuple[dict[str, Any], bool]:
        """Record the row for an object PUT straight to the bucket → (row, created)."""
        require(self.guard, caller, "media.file.upload")
        if not isinstance(key, str) or not key:
            raise BadRequest("objectKey is required", context={"objectKey": key})
        names.check_key(key)
        if not names.is_canonical(key):
            raise NotFound("File not found", context={"name": key[:300]})
        row = await self.row_by_path(key)
        if row is not None:
            return row, False
        info = await self.storage.head(key)
        if info is None:
            raise NotFound("No object was uploaded under this key", context={"objectKey": key})
        limit = self.settings.body_max_size
        mime = names.normalize_mime(info.content_type) if info.content_type else names.guess_type(key)
        if limit is not None and info.size > limit:
            await self._discard(key)
            raise PayloadTooLarge(f"The file is larger than the limit of {limit} bytes",
                                  context={"limit": limit, "size": info.size})
        try:
            self._check_mime(mime)
        except UnsupportedMediaType:
            await self._discard(key)
            raise
        metadata: dict[str, Any] = {}
        etag = info.etag
        if mime.startswith("image/") and info.size >= MIN_IMAGE_BYTES:
            head = bytearray()
            async for chunk in await self.storage.open(key, ByteRange(0, min(info.size, HEAD_BYTES) - 1)):
                head += chunk
            dims = image_size(bytes(head))
            if dims:
                metadata = {"width": dims[0], "height": dims[1]}
        values = {"path": key, "folder": False, "mime_type": mime, "size": info.size, "etag": etag,
                  "modified_at": _now(), "metadata": metadata}
        row = await self._write_row(values)
        await self._announce("media.file.uploaded", row, caller)
        return row, True
