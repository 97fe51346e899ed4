"""Module configuration: one JSON document per module, changed through bknd's config
operations (set / add / patch / overwrite / remove with dot paths).

Each module registers a :class:`ConfigurableModule`; a change is validated and applied by
the module first (e.g. the data module syncs the schema), then stored. Changes are
serialised by a lock. Secrets are masked in everything this returns.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from nodebase.kernel.errors import BadRequest, ConfigInvalid, NotFound
from nodebase.kernel.node import ConfigurableModule
from nodebase.system.config_store import ConfigStore

CONFIG_VERSION = 10
MASK = "********"


def _split(path: str) -> list[str]:
    parts = [p for p in path.split(".") if p]
    if not parts:
        raise BadRequest("A config path is required", context={"path": path})
    return parts


def mask(doc: Any, paths: list[str]) -> Any:
    out = copy.deepcopy(doc)
    for path in paths:
        node = out
        parts = path.split(".")
        for key in parts[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, dict) and node.get(parts[-1]):
            node[parts[-1]] = MASK
    return out


def deep_merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = deep_merge(base.get(k), v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(patch)


class ConfigManager:
    def __init__(self, store: ConfigStore) -> None:
        self.store = store
        self.modules: dict[str, ConfigurableModule] = {}
        self.docs: dict[str, dict[str, Any]] = {}
        self._lock = asyncio.Lock()
        self.on_saved: list[Any] = []
        self.revision = ""

    def register(self, module: ConfigurableModule) -> None:
        self.modules[module.name] = module
        self.docs.setdefault(module.name, module.default_config())

    def module(self, name: str) -> ConfigurableModule:
        mod = self.modules.get(name)
        if mod is None:
            raise NotFound(f'Unknown module "{name}"', context={"module": name, "valid": sorted(self.modules)})
        return mod

    def get(self, name: str, *, secrets: bool = False) -> dict[str, Any]:
        mod = self.module(name)
        doc = self.docs[name]
        return copy.deepcopy(doc) if secrets else mask(doc, mod.secret_paths())

    def all(self, *, secrets: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"version": CONFIG_VERSION}
        for name in self.modules:
            out[name] = self.get(name, secrets=secrets)
        return out

    async def load(self) -> None:
        """At start: each module makes its stored document live, in registration order."""
        stored = await self.store.load()
        for name, mod in self.modules.items():
            applied = await mod.start(stored.get(name))
            self.docs[name] = applied
            if stored.get(name) != applied:
                await self.store.save(name, applied)
        self.revision = await self.store.revision()

    async def reload_if_changed(self) -> bool:
        """Pick up documents another process stored (several workers, several hosts)."""
        revision = await self.store.revision()
        if revision == self.revision:
            return False
        async with self._lock:
            stored = await self.store.load()
            for name, mod in self.modules.items():
                doc = stored.get(name)
                if doc is not None and doc != self.docs[name]:
                    self.docs[name] = await mod.apply_config(doc, drop=False)
            self.revision = revision
        return True

    # -- bknd's config operations ------------------------------------------------------
    async def change(self, module: str, op: str, path: str | None, value: Any, *, drop: bool = False,
                     force: bool = False) -> dict[str, Any]:
        mod = self.module(module)
        async with self._lock:
            current = copy.deepcopy(self.docs[module])
            new = self._edit(current, op, path, self._prepared(mod, op, path, value, current), force=force)
            if not isinstance(new, dict):
                raise ConfigInvalid([{"path": module, "error": "module config must be an object"}])
            applied = await mod.apply_config(new, drop=drop)
            await self.store.save(module, applied)
            self.docs[module] = applied
            self.revision = await self.store.revision()
        for hook in self.on_saved:
            await hook(module, applied)
        return mask(applied, mod.secret_paths())

    async def plan(self, module: str, op: str, path: str | None, value: Any, *, force: bool = False) -> dict[str, Any]:
        """What ``change`` would do to the database, without doing it: the schema sync plan of
        a module that has one (Data: ``plan(doc)``), else no changes. Invalid documents raise
        as ``change`` would."""
        mod = self.module(module)
        async with self._lock:
            current = copy.deepcopy(self.docs[module])
            new = self._edit(current, op, path, self._prepared(mod, op, path, value, current), force=force)
        if not isinstance(new, dict):
            raise ConfigInvalid([{"path": module, "error": "module config must be an object"}])
        planner = getattr(mod, "plan", None)
        if planner is None:
            return {"changes": [], "destructive": False}
        _, sync_plan = await planner(new)
        return {"changes": sync_plan.describe(), "destructive": bool(sync_plan.destructive)}

    @staticmethod
    def _prepared(mod: ConfigurableModule, op: str, path: str | None, value: Any, current: dict[str, Any]) -> Any:
        """The value of a change after the module's ``prepare_change`` hook, if it has one."""
        prepare = getattr(mod, "prepare_change", None)
        return value if prepare is None else prepare(op, path, value, current)

    @staticmethod
    def _edit(doc: dict[str, Any], op: str, path: str | None, value: Any, *, force: bool) -> Any:
        if op == "set":
            if not isinstance(value, dict):
                raise BadRequest("set takes the module config object", context={"op": op})
            return {**doc, **copy.deepcopy(value)} if force else deep_merge(doc, value)
        parts = _split(path or "")
        node: Any = doc
        for key in parts[:-1]:
            if not isinstance(node, dict) or key not in node:
                raise BadRequest(f'Path "{path}" does not exist', context={"path": path, "op": op})
            node = node[key]
        if not isinstance(node, dict):
            raise BadRequest(f'Path "{path}" does not name an object member', context={"path": path})
        last = parts[-1]
        if op == "add":
            if last in node:
                raise BadRequest(f'Path "{path}" already exists', context={"path": path, "op": op})
            node[last] = copy.deepcopy(value)
        elif op in ("patch", "overwrite", "remove"):
            if last not in node:
                raise BadRequest(f'Path "{path}" does not exist', context={"path": path, "op": op})
            if op == "patch":
                node[last] = deep_merge(node[last], value)
            elif op == "overwrite":
                node[last] = copy.deepcopy(value)
            else:
                del node[last]
        else:
            raise BadRequest(f'Unknown config operation "{op}"', context={"op": op})
        return doc
