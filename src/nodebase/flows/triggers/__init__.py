"""Trigger types by name."""

from __future__ import annotations

from nodebase.flows.triggers.base import Trigger
from nodebase.flows.triggers.event import EventTrigger
from nodebase.flows.triggers.http import HttpTrigger
from nodebase.flows.triggers.manual import ManualTrigger
from nodebase.flows.triggers.schedule import ScheduleTrigger

TRIGGER_TYPES: dict[str, Trigger] = {t.type: t for t in (
    ManualTrigger(), HttpTrigger(), EventTrigger(), ScheduleTrigger(),
)}

__all__ = ["TRIGGER_TYPES", "Trigger"]
