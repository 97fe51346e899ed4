"""``manual``: started by ``GET|POST /api/flows/flow/:name/run`` or ``nodebase flow run``."""

from __future__ import annotations

from nodebase.flows.triggers.base import Trigger


class ManualTrigger(Trigger):
    type = "manual"
