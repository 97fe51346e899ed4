"""Running the ASGI application: uvicorn (default) or granian, chosen by ``settings.server``.

uvicorn runs with uvloop, httptools and the ``websockets-sansio`` WebSocket protocol
(per-message deflate off); bench/serving.py has the measurements behind that default.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from nodebase.kernel.config import Settings, load_settings, settings_to_env

APP_FACTORY = "nodebase.server:app_factory"
SERVERS = ("uvicorn", "granian")


def app_factory() -> Any:
    """Entry point for each server worker: settings come from the environment."""
    from nodebase.app import create_app

    settings = load_settings()
    _log_level(settings)
    return create_app(settings)


def _log_level(settings: Settings) -> None:
    """The ``log_level`` setting for every logger (nodebase's and its libraries'), on stderr."""
    import logging

    level = getattr(logging, settings.log_level.upper(), logging.WARNING)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


async def bootstrap(settings: Settings) -> None:
    """Create the data dir, the config table and the schema's tables once, before workers."""
    from nodebase.app import Nodebase

    nb = Nodebase(settings)
    await nb.start()
    await nb.stop()


def serve(settings: Settings, app: str = APP_FACTORY) -> None:
    """Serve ``app`` (an import string of a factory taking no arguments) until SIGTERM/SIGINT."""
    if settings.server not in SERVERS:
        raise SystemExit(f"server must be one of {', '.join(SERVERS)}, not {settings.server!r}")
    if settings.workers > 1:  # one schema sync before the workers race to do it
        asyncio.run(bootstrap(settings))
    os.environ.update(settings_to_env(settings))
    _raise_open_files_limit(settings.max_connections + 1024)
    print(f"nodebase listening on http://{settings.host}:{settings.port} ({settings.server})", flush=True)
    if settings.server == "granian":
        _serve_granian(settings, app)
    else:
        _serve_uvicorn(settings, app)


def _raise_open_files_limit(wanted: int) -> None:
    """Every connection is a file descriptor: lift the soft limit towards the hard one."""
    try:
        import resource
    except ImportError:  # Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _serve_uvicorn(settings: Settings, app: str) -> None:
    import uvicorn

    from nodebase.http_protocol import GuardedHttpToolsProtocol

    uvicorn.run(
        app,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers if settings.workers > 1 else None,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        http=GuardedHttpToolsProtocol,  # httptools + header/body timeouts, connection limit
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        lifespan="on",
        access_log=settings.debug,
        log_level="debug" if settings.log_level == "debug" else "info" if settings.debug else "warning",
        proxy_headers=False,  # X-Forwarded-For is trusted only through nodebase's own setting
        server_header=False,
        backlog=2048,
        timeout_keep_alive=settings.keepalive_timeout,  # type: ignore[arg-type]  # float is fine
        timeout_graceful_shutdown=settings.shutdown_timeout,  # type: ignore[arg-type]
    )


def _serve_granian(settings: Settings, app: str) -> None:
    """granian (``pip install 'nodebase[granian]'``): HTTP only in practice — its WebSocket
    fan-out costs ~3× the CPU of uvicorn's, and it has no body or keep-alive timeout and no
    connection limit (only ``header_timeout`` applies); see docs/system.md."""
    try:
        from granian import Granian
        from granian.constants import Interfaces, Loops
        from granian.http import HTTP1Settings
        from granian.log import LogLevels
    except ImportError:
        raise SystemExit("server = \"granian\" needs granian: pip install 'nodebase[granian]'") from None

    loop = Loops.uvloop if sys.platform != "win32" else Loops.asyncio
    Granian(
        app,
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        loop=loop,
        log_enabled=settings.debug,
        log_level=LogLevels.info if settings.debug else LogLevels.warning,
        backlog=2048,
        http1_settings=HTTP1Settings(header_read_timeout=int(settings.header_timeout * 1000)),
        workers_kill_timeout=int(settings.shutdown_timeout) or None,
    ).serve()
