"""Event-triggered runs, written in the data change's own transaction (the outbox).

Listens to ``data.<op>.tx`` for the entities some event flow names: for each changed row
that matches the flow's ``where``, a run row is inserted through the transaction itself, so
the run is committed with the change or not at all. The run is written holding this node's
lease and executed here after the commit (``data.<op>.after``); if the node dies first, the
lease expires and any node takes the run over, once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from nodebase.auth.policy import matches
from nodebase.flows.definition import Flow
from nodebase.flows.runner import Runner
from nodebase.flows.runs import Run
from nodebase.flows.triggers.event import ALIASES
from nodebase.kernel.events import Event, EventBus

log = logging.getLogger("nodebase.flows")

#: data events started by flows' own data tasks nest at most this deep (a loop stops here)
MAX_EVENT_DEPTH = 8
#: runs written by the current request's transaction, executed here once it committed
_written: ContextVar[list[Run] | None] = ContextVar("nodebase_flows_written", default=None)
_OPS = {"data.create.after": "create", "data.update.after": "update", "data.delete.after": "delete"}


class EventOutbox:
    def __init__(self, runner: Runner, events: EventBus) -> None:
        self.runner = runner
        self.events = events
        self._by_key: dict[tuple[str, str], list[Flow]] = {}
        self._off: list[Callable[[], None]] = []

    def set_flows(self, flows: dict[str, Flow]) -> None:
        for off in self._off:
            off()
        self._off.clear()
        self._by_key = {}
        for flow in flows.values():
            if flow.trigger.type != "event":
                continue
            cfg = flow.trigger.config
            event = ALIASES.get(cfg["event"], cfg["event"])
            self._by_key.setdefault((_OPS[event], cfg["entity"]), []).append(flow)
        for op, entity in self._by_key:
            self._off.append(self.events.on(f"data.{op}.tx", self._on_tx, entity=entity))
            self._off.append(self.events.on(f"data.{op}.after", self._on_after, entity=entity))

    async def _on_tx(self, event: Event) -> None:
        op = event.name.split(".")[1]
        flows = self._by_key.get((op, event.entity or ""), [])
        if not flows:
            return
        caller = event.caller
        depth = int(caller.attrs.get("flow_depth", 0)) if caller is not None else 0
        if depth >= MAX_EVENT_DEPTH:
            log.warning("flows: not starting event flows for %s %s: flows nest %d deep (a loop?)",
                        op, event.entity, depth)
            return
        # a fresh list per change: entries left by a change that then rolled back are dropped
        written: list[Run] = []
        _written.set(written)
        payload = event.payload or {}
        data = payload.get("data")
        rows = data if isinstance(data, list) else [data]
        previous = payload.get("previous")
        tx = event.extra["tx"]
        name = f"data.{op}.after"
        for flow in flows:
            where = flow.trigger.config.get("where")
            for row in rows:
                if not isinstance(row, dict) or (where and not matches(where, row)):
                    continue
                value: dict[str, Any] = dict(row)
                if op == "update" and previous is not None:
                    value["previous"] = previous
                meta = {"event": name, "entity": event.entity}
                run = self.runner.new_run(flow, value, "event", meta, depth=depth)
                await self.runner.enqueue(run, ex=tx)
                written.append(run)

    def _on_after(self, event: Event) -> None:
        written = _written.get()
        if written:
            ids = list(written)
            written.clear()
            self.runner.spawn(ids)
