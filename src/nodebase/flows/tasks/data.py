"""``data``: create / update / delete / read through the Data service, as the flow's role
(every permission and row filter of that role applies)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nodebase.flows.tasks.base import Problem, Task, TaskContext, TaskFailed, allowed_keys
from nodebase.kernel.errors import NodebaseError

ACTIONS = ("create", "update", "delete", "read")


class DataTask(Task):
    type = "data"

    def check(self, params: dict[str, Any], known: Callable[[str], Any]) -> list[Problem]:
        problems = allowed_keys(params, {"action", "entity", "id", "data", "where", "limit", "sort"})
        action = params.get("action")
        if action not in ACTIONS:
            problems.append(("params.action", f"action must be one of {', '.join(ACTIONS)}"))
        if not isinstance(params.get("entity"), str) or not params.get("entity"):
            problems.append(("params.entity", "entity is required"))
        if action == "create" and "data" not in params:
            problems.append(("params.data", "create needs data"))
        if action == "update" and "data" not in params:
            problems.append(("params.data", "update needs data"))
        if action in ("update", "delete") and "id" not in params and "where" not in params:
            problems.append(("params.id", f"{action} needs an id or a where"))
        return problems

    async def run(self, params: dict[str, Any], ctx: TaskContext) -> Any:
        data = ctx.services.data
        caller = ctx.services.caller_for(ctx)
        entity = str(params.get("entity"))
        action = params.get("action")
        try:
            if action == "read":
                query: dict[str, Any] = {}
                for key in ("where", "limit", "sort"):
                    if params.get(key) is not None:
                        query[key] = params[key]
                if params.get("id") is not None:
                    row = await data.read_one(entity, params["id"], {}, caller)
                    return row
                rows, _meta = await data.read_many(entity, query, caller)
                return rows
            if action == "create":
                return await data.create(entity, params.get("data"), caller)
            if action == "update":
                if params.get("id") is not None:
                    return await data.update_one(entity, params["id"], params.get("data"), caller)
                return await data.update_many(entity, params.get("where"), params.get("data"), caller)
            if action == "delete":
                if params.get("id") is not None:
                    return await data.delete_one(entity, params["id"], caller)
                return await data.delete_many(entity, params.get("where"), caller)
        except NodebaseError as exc:
            raise TaskFailed(exc.message, type=exc.type, status=exc.status, **exc.context) from None
        raise TaskFailed(f"unknown action {action!r}", type="params")
