"""The Flows module: the ``flows`` config document (bknd's shape), its permissions, the run
table, the runner / scheduler / outbox lifecycle and the ``/api/flows`` routes.

Config document (``GET /api/system/config/flows``)::

    {"basepath": "/api/flows",
     "flows": {"<name>": {"trigger", "tasks", "connections", "start_task", "responding_task",
                          "role"?}},
     "python_modules": ["myproject.flow_functions"],
     "runs": {"keep_days": 30, "lease_seconds": 30, "poll_interval": 0.5, "execute": true}}

bknd's ``flows`` documents load unchanged; ``python_modules`` and ``runs`` are nodebase's.
The schema file may hold the document under a ``"flows"`` key (beside ``"data"``); it wins at
start, as for the data module.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from typing import Any

from nodebase.data.module import DataModule
from nodebase.flows import functions
from nodebase.flows.definition import Flow, FlowInvalid, Lookups, parse_flow, parse_flows
from nodebase.flows.openapi import flows_paths
from nodebase.flows.outbox import EventOutbox
from nodebase.flows.repository import RunRepository, ddl
from nodebase.flows.runner import Runner, Services
from nodebase.flows.scheduler import Scheduler
from nodebase.flows.service import FlowsService
from nodebase.flows.transport import TriggerPaths, routes
from nodebase.kernel import jsonutil
from nodebase.kernel.errors import ConfigInvalid, NodebaseError
from nodebase.kernel.node import Node
from nodebase.kernel.permissions import Permission

log = logging.getLogger("nodebase.flows")

MASK = "********"
CONFIG_KEYS = {"basepath", "flows", "python_modules", "runs"}
RUNS_DEFAULTS: dict[str, Any] = {"keep_days": 30, "lease_seconds": 30, "poll_interval": 0.5, "execute": True}
PERMISSIONS = [
    Permission("flows.read", description="list flow definitions and runs"),
    Permission("flows.run", description="start manual runs and call non-public HTTP triggers"),
    Permission("flows.manage", description="create, change and delete flow definitions"),
]
PRUNE_EVERY = 3600.0


class FlowsModule:
    name = "flows"

    def __init__(self, nb: Node, data: DataModule) -> None:
        self.nb = nb
        self.data = data
        for perm in PERMISSIONS:
            nb.permissions.add(perm)
        self.repo = RunRepository(nb.db)
        self.services = Services(data.service, nb.settings.fetch_allow_private, {})
        self.services.secrets = nb.secrets
        self.runner = Runner(self.repo, self.services, nb.instance_id)
        self.scheduler = Scheduler(self.runner)
        self.service = FlowsService(self.repo, self.runner, self.services, self.scheduler,
                                    EventOutbox(self.runner, nb.events))
        self.doc: dict[str, Any] = self.default_config()
        self._prune_task: asyncio.Task[None] | None = None
        self._prune_now = asyncio.Event()
        nb.add_config(self)
        nb.add_routes(routes())
        nb.add_asgi_wrapper(lambda app: TriggerPaths(app, self.service))
        nb.add_openapi(flows_paths)
        nb.on_start(self._start_workers)
        nb.on_stop(self._stop_workers)

    # -- ConfigurableModule ------------------------------------------------------------------
    def default_config(self) -> dict[str, Any]:
        return {"basepath": "/api/flows", "flows": {}, "python_modules": [], "runs": dict(RUNS_DEFAULTS)}

    def secret_paths(self) -> list[str]:
        out = []
        for name, flow in (self.doc.get("flows") or {}).items():
            for tid, task in ((flow or {}).get("tasks") or {}).items():
                if isinstance(task, dict) and isinstance(task.get("params"), dict) and "secret" in task["params"]:
                    out.append(f"flows.{name}.tasks.{tid}.params.secret")
        return out

    def _keep_secrets(self, doc: dict[str, Any]) -> None:
        """The admin UI sends masked secrets back: keep the stored ones."""
        old = self.doc.get("flows") or {}
        for name, flow in (doc.get("flows") or {}).items():
            for tid, task in ((flow or {}).get("tasks") or {}).items() if isinstance(flow, dict) else ():
                params = task.get("params") if isinstance(task, dict) else None
                if isinstance(params, dict) and params.get("secret") == MASK:
                    with contextlib.suppress(AttributeError, KeyError, TypeError):
                        params["secret"] = old[name]["tasks"][tid]["params"]["secret"]

    def _lookups(self) -> Lookups:
        return Lookups(set(), self.nb.permissions)

    def _parse(self, doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Flow]]:
        merged = {**self.default_config(), **copy.deepcopy(doc)}
        problems = [{"path": f"flows.{k}", "error": "unknown key"} for k in merged if k not in CONFIG_KEYS]
        if merged.get("basepath") != "/api/flows":
            problems.append({"path": "flows.basepath", "error": "only /api/flows is supported"})
        modules = merged.get("python_modules")
        if not isinstance(modules, list) or not all(isinstance(m, str) and m for m in modules):
            problems.append({"path": "flows.python_modules", "error": "must be a list of module names"})
        runs = merged.get("runs")
        if not isinstance(runs, dict):
            problems.append({"path": "flows.runs", "error": "must be an object"})
        else:
            runs = merged["runs"] = {**RUNS_DEFAULTS, **runs}
            for key, value in runs.items():
                if key not in RUNS_DEFAULTS:
                    problems.append({"path": f"flows.runs.{key}", "error": "unknown key"})
                elif key == "execute":
                    if not isinstance(value, bool):
                        problems.append({"path": "flows.runs.execute", "error": "must be true or false"})
                elif isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    problems.append({"path": f"flows.runs.{key}", "error": "must be a positive number"})
        if problems:
            raise ConfigInvalid(problems)
        for mod, error in functions.import_modules(list(modules or []), self.nb.settings.project_dir):
            raise ConfigInvalid([{"path": "flows.python_modules", "error": f"cannot import {mod}: {error}"}])
        flows = parse_flows(merged.get("flows") or {}, self._lookups())
        merged["flows"] = {name: f.doc for name, f in flows.items()}
        return merged, flows

    def _install(self, doc: dict[str, Any], flows: dict[str, Flow]) -> None:
        if doc["runs"]["keep_days"] != self.doc["runs"]["keep_days"]:
            self._prune_now.set()  # a new retention applies at once
        self.doc = doc
        runs = doc["runs"]
        self.runner.lease_seconds = float(runs["lease_seconds"])
        self.runner.poll_interval = float(runs["poll_interval"])
        self.runner.enabled = bool(runs["execute"])
        self.service.install(flows)

    async def apply_config(self, doc: dict[str, Any], *, drop: bool) -> dict[str, Any]:
        doc = copy.deepcopy(doc)
        self._keep_secrets(doc)
        merged, flows = self._parse(doc)
        self._install(merged, flows)
        self._write_schema_file(merged)
        return merged

    async def start(self, stored: dict[str, Any] | None) -> dict[str, Any]:
        await self.nb.db.execute_script(ddl(self.nb.db))
        doc = self._read_schema_file() or stored or self.default_config()
        try:
            merged, flows = self._parse(doc)
        except ConfigInvalid as exc:
            log.error("flows: the stored flows config is invalid (%s); starting the valid flows only",
                      exc.message)
            merged, flows = self._parse_valid(doc)
        self._install(merged, flows)
        return merged

    def _parse_valid(self, doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Flow]]:
        good: dict[str, Any] = {}
        raw = doc.get("flows") if isinstance(doc.get("flows"), dict) else {}
        lookups = self._lookups()
        lookups.flows = set(raw or {})
        for name, spec in (raw or {}).items():
            try:
                parse_flow(name, spec, lookups)
                good[name] = spec
            except FlowInvalid as exc:
                log.error("flows: flow %s not started: %s", name, exc.message)
        try:
            return self._parse({**{k: v for k, v in doc.items() if k in CONFIG_KEYS}, "flows": good})
        except ConfigInvalid:
            return self._parse({"flows": good})

    # -- the schema file ----------------------------------------------------------------------
    def _read_schema_file(self) -> dict[str, Any] | None:
        path = self.data.schema_file
        if path is None or not path.is_file():
            return None
        try:
            doc = jsonutil.loads(path.read_bytes(), what=f"schema file {path}")
        except NodebaseError:
            return None
        flows = doc.get("flows") if isinstance(doc, dict) and "data" in doc else None
        return flows if isinstance(flows, dict) else None

    def _write_schema_file(self, doc: dict[str, Any]) -> None:
        path = self.data.schema_file
        if path is None or not path.is_file():
            return
        try:
            current = jsonutil.loads(path.read_bytes(), what="schema file")
        except NodebaseError:
            return
        if isinstance(current, dict) and "flows" in current and current["flows"] != doc:
            path.write_bytes(jsonutil.dumps({**current, "flows": doc}))

    # -- workers ------------------------------------------------------------------------------
    async def _start_workers(self) -> None:
        if self.runner.enabled:
            await self.runner.start()
            await self.scheduler.start()
        self._prune_task = asyncio.get_running_loop().create_task(self._prune_loop())

    async def _stop_workers(self) -> None:
        if self._prune_task is not None:
            self._prune_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prune_task
        await self.scheduler.stop()
        await self.runner.stop()

    async def prune(self) -> int:
        keep = float(self.doc["runs"]["keep_days"]) * 86400
        return await self.repo.prune(time.time() - keep)

    async def _prune_loop(self) -> None:
        """At start, every hour, and when ``runs.keep_days`` changes."""
        while True:
            try:
                removed = await self.prune()
                if removed:
                    log.info("flows: pruned %d old runs", removed)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("flows: pruning runs failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._prune_now.wait(), PRUNE_EVERY)
            self._prune_now.clear()
