"""The Media module: registers the ``media`` system entity, picks the storage adapter from
``NODEBASE_STORAGE_URL``, keeps its config document (bknd's ``media`` module config) and
wires the service to the data events.

Config document (``GET /api/system/config/media``)::

    {"enabled": true, "basepath": "/api/media", "entity_name": "media",
     "storage": {"body_max_size": 104857600},
     "allowed_mime_types": [],
     "presigned": {"expires_in": 3600},
     "adapter": {"type": "local", "config": {"path": "..."}}}   # read-only: from the URL
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from nodebase.data.module import DataModule
from nodebase.data.service import DELETE_AFTER
from nodebase.kernel.errors import ConfigInvalid
from nodebase.kernel.node import Node
from nodebase.kernel.secrets import MEDIA_SIGNING_KEY, new_binary_key
from nodebase.media.openapi import media_paths
from nodebase.media.presign import UrlSigner
from nodebase.media.service import (
    DEFAULT_EXPIRES,
    DEFAULT_MAX_SIZE,
    MAX_EXPIRES,
    MEDIA_ENTITY,
    MEDIA_ENTITY_SPEC,
    MediaService,
    MediaSettings,
)
from nodebase.media.storage import StorageAdapter, make_storage
from nodebase.media.transport import routes

CONFIG_KEYS = {"enabled", "basepath", "entity_name", "storage", "allowed_mime_types", "presigned",
               "adapter"}


class MediaModule:
    name = "media"

    def __init__(self, nb: Node, data: DataModule) -> None:
        self.nb = nb
        self.data_dir: Path = nb.settings.resolved_data_dir
        self.storage: StorageAdapter = make_storage(nb.settings.storage_url, self.data_dir)
        data.register_system_entity(MEDIA_ENTITY, copy.deepcopy(MEDIA_ENTITY_SPEC))
        self.service = MediaService(data.service, nb.events, nb.guard, self.storage,
                                    UrlSigner(b"\0" * 32))
        nb.events.on(DELETE_AFTER, self.service.on_rows_deleted)
        self._started = False
        nb.add_config(self)
        nb.add_routes(routes())
        nb.add_openapi(media_paths)
        nb.on_stop(self.close)

    @property
    def enabled(self) -> bool:
        return self.service.settings.enabled

    # -- ConfigurableModule ------------------------------------------------------------------
    def default_config(self) -> dict[str, Any]:
        return {
            "enabled": True,
            "basepath": "/api/media",
            "entity_name": MEDIA_ENTITY,
            "storage": {"body_max_size": DEFAULT_MAX_SIZE},
            "allowed_mime_types": [],
            "presigned": {"expires_in": DEFAULT_EXPIRES},
            "adapter": self.storage.describe(),
        }

    def secret_paths(self) -> list[str]:
        return ["adapter.config.secret_key", "adapter.config.secret_access_key"]

    def _parse(self, doc: dict[str, Any]) -> tuple[dict[str, Any], MediaSettings]:
        problems: list[dict[str, str]] = []
        merged = {**self.default_config(), **copy.deepcopy(doc)}
        for key in set(merged) - CONFIG_KEYS:
            problems.append({"path": f"media.{key}", "error": "unknown key"})
        if not isinstance(merged["enabled"], bool):
            problems.append({"path": "media.enabled", "error": "must be a boolean"})
        if merged.get("basepath") != "/api/media":
            problems.append({"path": "media.basepath", "error": "only /api/media is supported"})
        if merged.get("entity_name") != MEDIA_ENTITY:
            problems.append({"path": "media.entity_name", "error": 'only "media" is supported'})
        storage = merged.get("storage")
        max_size: Any = DEFAULT_MAX_SIZE
        if not isinstance(storage, dict):
            problems.append({"path": "media.storage", "error": "must be an object"})
        else:
            max_size = storage.get("body_max_size", DEFAULT_MAX_SIZE)
            if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int)
                                         or max_size < 1):
                problems.append({"path": "media.storage.body_max_size",
                                 "error": "must be a positive number of bytes, or null for no limit"})
        allowed = merged.get("allowed_mime_types")
        if not isinstance(allowed, list) or not all(isinstance(a, str) and "/" in a for a in allowed):
            problems.append({"path": "media.allowed_mime_types",
                             "error": 'must be a list of mime types such as "image/png" or "image/*"'})
        presigned = merged.get("presigned")
        expires: Any = DEFAULT_EXPIRES
        if not isinstance(presigned, dict):
            problems.append({"path": "media.presigned", "error": "must be an object"})
        else:
            expires = presigned.get("expires_in", DEFAULT_EXPIRES)
            if isinstance(expires, bool) or not isinstance(expires, int) or not 1 <= expires <= MAX_EXPIRES:
                problems.append({"path": "media.presigned.expires_in",
                                 "error": f"must be 1 to {MAX_EXPIRES} seconds"})
        if problems:
            raise ConfigInvalid(problems)
        # the adapter comes from NODEBASE_STORAGE_URL; the document only shows it
        merged["adapter"] = self.storage.describe()
        settings = MediaSettings(
            enabled=merged["enabled"],
            body_max_size=max_size,
            allowed_mime_types=[a.strip().lower() for a in allowed] if isinstance(allowed, list) else [],
            presign_expires=expires,
        )
        return merged, settings

    async def apply_config(self, doc: dict[str, Any], *, drop: bool) -> dict[str, Any]:
        merged, settings = self._parse(doc)
        self.service.settings = settings
        return merged

    async def start(self, stored: dict[str, Any] | None) -> dict[str, Any]:
        if not self._started:
            self.service.signer = UrlSigner(self.nb.secrets.key(MEDIA_SIGNING_KEY, new_binary_key))
            await self.storage.start()
            self._started = True
        try:
            merged, settings = self._parse(stored or {})
        except ConfigInvalid:
            merged, settings = self._parse({})
        self.service.settings = settings
        return merged

    async def close(self) -> None:
        await self.storage.close()
        self._started = False
