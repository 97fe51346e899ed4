"""Running the ASGI application under granian."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from nodebase.kernel.config import Settings, load_settings, settings_to_env


def app_factory() -> Any:
    """Entry point for each server worker: settings come from the environment."""
    from nodebase.app import create_app

    return create_app(load_settings())


async def bootstrap(settings: Settings) -> None:
    """Create the data dir, the config table and the schema's tables once, before workers."""
    from nodebase.app import Nodebase

    nb = Nodebase(settings)
    await nb.start()
    await nb.stop()


def serve(settings: Settings) -> None:
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels

    if settings.workers > 1:  # one schema sync before the workers race to do it
        asyncio.run(bootstrap(settings))
    os.environ.update(settings_to_env(settings))
    print(f"nodebase listening on http://{settings.host}:{settings.port}", flush=True)
    loop = Loops.uvloop if sys.platform != "win32" else Loops.asyncio
    Granian(
        "nodebase.server:app_factory",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        loop=loop,
        log_enabled=settings.debug,
        log_level=LogLevels.info if settings.debug else LogLevels.warning,
        backlog=2048,
    ).serve()
