"""Test-only settings: environment variables that let a test steer the node (e.g. move a
clock). Each is refused unless ``NODEBASE_TESTING=true`` is set too, so a stray variable
cannot change a real deployment: the node exits at start with a message naming it."""

from __future__ import annotations

import os
from collections.abc import Mapping

FLAG = "NODEBASE_TESTING"


def only_in_tests(name: str, env: Mapping[str, str] = os.environ) -> str:
    """The value of the test-only variable ``name`` ('' when unset); exits if it is set
    without ``NODEBASE_TESTING=true``."""
    value = env.get(name, "")
    if value and env.get(FLAG, "").lower() not in ("1", "true", "yes"):
        raise SystemExit(f"{name} is a test setting: it is refused unless {FLAG}=true is set too")
    return value
