"""Flows: triggers (data events, HTTP, schedule, manual), tasks, durable runs, webhooks.

``nodebase.flows.task("name")`` registers a Python function for the ``python`` task.
"""

from nodebase.flows.functions import RunInfo, task

__all__ = ["RunInfo", "task"]
