"""What every trigger type is: a ``type`` and a check that normalises its config (bknd's
``Trigger.schema`` with defaults filled in). One subclass per file; what a trigger does at
run time lives beside it (the HTTP dispatcher, the event outbox, the scheduler)."""

from __future__ import annotations

from typing import Any

Problem = tuple[str, str]  # (field, message)


class Trigger:
    type: str = "manual"
    keys: frozenset[str] = frozenset({"mode"})

    def normalise(self, config: dict[str, Any], problems: list[Problem], ctx: Any) -> dict[str, Any]:
        """``config`` with defaults; appends (field, message) for each problem found."""
        for key in config:
            if key not in self.keys:
                problems.append((f"trigger.config.{key}",
                                 f'unknown key "{key}" (valid: {", ".join(sorted(self.keys))})'))
        mode = config.get("mode", "async")
        if mode not in ("sync", "async"):
            problems.append(("trigger.config.mode", 'mode must be "sync" or "async"'))
        return {**config, "mode": mode}
