"""``nodebase chat rooms`` / ``nodebase chat stats`` (registered by nodebase.cli); they read
the node's database directly, so they work with or without a running server."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import Any

Common = Callable[[argparse.ArgumentParser], None]


def add_commands(sub: Any, common: Common, settings: Callable[..., Any],
                 with_node: Callable[..., Any], emit: Callable[[Any], None]) -> None:
    def run(args: argparse.Namespace, fn: Callable[[Any], Any]) -> int:
        emit(asyncio.run(with_node(settings(args, apps=("chat",)), fn)))
        return 0

    def rooms(args: argparse.Namespace) -> int:
        async def fn(nb: Any) -> Any:
            return {"rooms": await nb.chat.service.all_rooms()}

        return run(args, fn)

    def stats(args: argparse.Namespace) -> int:
        async def fn(nb: Any) -> Any:
            return await nb.chat.service.stats(args.window)

        return run(args, fn)

    p = sub.add_parser("chat", help="the chat application (docs/chat.md)")
    p.set_defaults(fn=None, help_of=p)
    csub = p.add_subparsers(dest="chat_command", metavar="COMMAND")
    r = csub.add_parser("rooms", help="every room (public and private) with its last seq")
    common(r)
    r.set_defaults(fn=rooms)
    s = csub.add_parser("stats", help="rooms, messages and messages a second (every node)")
    common(s)
    s.add_argument("--window", type=int, default=60, help="seconds the rate is averaged over (default 60)")
    s.set_defaults(fn=stats)
