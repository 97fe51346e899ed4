"""Task types by name (bknd's ``TaskMap`` plus nodebase's)."""

from __future__ import annotations

from nodebase.flows.tasks.base import Task, TaskContext, TaskFailed
from nodebase.flows.tasks.data import DataTask
from nodebase.flows.tasks.fetch import FetchTask
from nodebase.flows.tasks.log import LogTask
from nodebase.flows.tasks.python import PythonTask
from nodebase.flows.tasks.render import RenderTask
from nodebase.flows.tasks.subflow import SubflowTask
from nodebase.flows.tasks.webhook import WebhookTask

TASK_TYPES: dict[str, Task] = {t.type: t for t in (
    FetchTask(), LogTask(), RenderTask(), SubflowTask(), DataTask(), PythonTask(), WebhookTask(),
)}

__all__ = ["TASK_TYPES", "Task", "TaskContext", "TaskFailed"]
