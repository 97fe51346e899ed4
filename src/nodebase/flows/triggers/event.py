"""``event``: after a create / update / delete of an entity, if the row matches ``where``.

The run is written by :class:`EventOutbox` inside the data change's own transaction
(``data.*.tx`` events), so it exists exactly when the change does: a crash after the commit
cannot lose it, and one row means one run across all nodes.
"""

from __future__ import annotations

from typing import Any

from nodebase.flows.triggers.base import Problem, Trigger

EVENTS = ("data.create.after", "data.update.after", "data.delete.after")
#: bknd's names for the same events
ALIASES = {"mutator-insert-after": "data.create.after", "mutator-update-after": "data.update.after",
           "mutator-delete-after": "data.delete.after"}


class EventTrigger(Trigger):
    type = "event"
    keys = frozenset({"event", "entity", "where", "mode"})

    def normalise(self, config: dict[str, Any], problems: list[Problem], ctx: Any) -> dict[str, Any]:
        out = super().normalise(config, problems, ctx)
        event = ALIASES.get(str(config.get("event")), config.get("event"))
        if event not in EVENTS:
            problems.append(("trigger.config.event",
                             f"event must be one of {', '.join(EVENTS)} (or bknd's {', '.join(ALIASES)})"))
        entity = config.get("entity")
        if not isinstance(entity, str) or not entity:
            problems.append(("trigger.config.entity", "entity is required"))
        where = config.get("where")
        if where is not None:
            from nodebase.auth.policy import check_query

            for message in check_query(where, "where"):
                problems.append(("trigger.config.where", message))
            if isinstance(where, dict) and any("." in k for k in _keys(where)):
                problems.append(("trigger.config.where", "where may name the row's own fields only"))
        return out


def _keys(where: dict[str, Any]) -> list[str]:
    out = []
    for k, v in where.items():
        if k in ("$or", "$and"):
            items = v if isinstance(v, list) else [v] if isinstance(v, dict) else []
            for item in items:
                if isinstance(item, dict):
                    out += _keys(item)
        elif not k.startswith("$"):
            out.append(k)
    return out
