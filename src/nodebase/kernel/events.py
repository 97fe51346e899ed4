"""In-process event bus.

``before`` listeners run in order and may return a replacement payload or raise a
:class:`~nodebase.kernel.errors.NodebaseError` to veto the operation. ``after`` listeners
run once the change is committed; a failing after-listener is logged and does not undo it.
Listeners may be plain functions or coroutines. Emitting with no listeners costs a dict
lookup, so the hot path pays nothing for unused events.
"""

from __future__ import annotations

import inspect
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("nodebase.events")

Listener = Callable[[Any], Any | Awaitable[Any]]


@dataclass
class Event:
    """What a listener receives. ``name`` is e.g. ``data.create.before``."""

    name: str
    entity: str | None = None
    payload: Any = None
    caller: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


class EventBus:
    def __init__(self) -> None:
        self._listeners: dict[str, list[tuple[str | None, Listener]]] = defaultdict(list)

    def on(self, name: str, listener: Listener, *, entity: str | None = None) -> Callable[[], None]:
        """Subscribe; ``entity`` narrows data events to one entity. Returns an unsubscribe."""
        entry = (entity, listener)
        self._listeners[name].append(entry)

        def off() -> None:
            if entry in self._listeners[name]:
                self._listeners[name].remove(entry)

        return off

    def has(self, name: str) -> bool:
        return bool(self._listeners.get(name))

    def has_for(self, name: str, entity: str | None) -> bool:
        """Is anyone listening to ``name`` for ``entity`` (or to every entity)?"""
        listeners = self._listeners.get(name) or []
        return any(e is None or e == entity for e, _ in listeners)

    async def emit(self, event: Event) -> Event:
        """Run the listeners of ``event.name``; a before-listener may replace the payload."""
        listeners = self._listeners.get(event.name)
        if not listeners:
            return event
        for entity, listener in list(listeners):
            if entity is not None and entity != event.entity:
                continue
            result = listener(event)
            if inspect.isawaitable(result):
                result = await result
            if result is not None and event.name.endswith(".before"):
                event.payload = result
        return event

    async def emit_after(self, event: Event) -> None:
        """Like :meth:`emit` but a failing listener is logged, never raised."""
        listeners = self._listeners.get(event.name)
        if not listeners:
            return
        for entity, listener in list(listeners):
            if entity is not None and entity != event.entity:
                continue
            try:
                result = listener(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("after-listener for %s failed", event.name)
