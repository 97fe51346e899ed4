"""``nodebase user ...`` and ``nodebase apikey ...`` (registered by nodebase.cli)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable
from typing import Any

from nodebase.kernel.errors import NodebaseError

Common = Callable[[argparse.ArgumentParser], None]


def _password(args: argparse.Namespace) -> str:
    if args.password is not None:
        return str(args.password)
    if sys.stdin.isatty():
        return getpass.getpass("Password: ")
    return sys.stdin.readline().rstrip("\r\n")


def add_commands(sub: Any, common: Common, settings: Callable[..., Any],
                 with_node: Callable[..., Any], emit: Callable[[Any], None]) -> None:
    def run(args: argparse.Namespace, fn: Callable[[Any], Any]) -> int:
        try:
            result = asyncio.run(with_node(settings(args), fn))
        except NodebaseError as exc:
            sys.stderr.write(f"error: {exc.message}\n")
            return 2 if exc.status < 500 else 1
        emit(result)
        return 0

    def user_create(args: argparse.Namespace) -> int:
        password = _password(args)

        async def fn(nb: Any) -> Any:
            user = await nb.auth.service.create_user(
                {"email": args.email, "password": password, "role": args.role})
            return {"user": user}

        return run(args, fn)

    def user_set_password(args: argparse.Namespace) -> int:
        password = _password(args)

        async def fn(nb: Any) -> Any:
            await nb.auth.service.set_password_by_email(args.email, password)
            return {"ok": True, "email": args.email.strip().lower(),
                    "note": "tokens issued before this change no longer work"}

        return run(args, fn)

    def apikey_create(args: argparse.Namespace) -> int:
        from nodebase.auth.apikeys import parse_expiry

        async def fn(nb: Any) -> Any:
            expires = (parse_expiry(args.expires_in * 86400, field="expires_in") if args.expires_in
                       else parse_expiry(args.expires_at))
            key, record = await nb.auth.service.apikeys.create(
                name=args.name, role=args.role, roles=set(nb.auth.service.config.roles),
                expires_at=expires, created_by="cli")
            return {**record.public(), "key": key}

        return run(args, fn)

    def apikey_list(args: argparse.Namespace) -> int:
        async def fn(nb: Any) -> Any:
            return {"data": [k.public() for k in await nb.auth.service.apikeys.list()]}

        return run(args, fn)

    def apikey_revoke(args: argparse.Namespace) -> int:
        async def fn(nb: Any) -> Any:
            return {"data": (await nb.auth.service.apikeys.revoke(args.id)).public()}

        return run(args, fn)

    p = sub.add_parser("user", help="manage users")
    p.set_defaults(fn=None, help_of=p)  # no subcommand: nodebase.cli prints this help
    usub = p.add_subparsers(dest="user_command", metavar="COMMAND")
    c = usub.add_parser("create", help="create a user (any role, e.g. the first admin)")
    common(c)
    c.add_argument("--email", required=True)
    c.add_argument("--password", help="the password (default: read from stdin / prompt)")
    c.add_argument("--role", help="a configured role, e.g. admin")
    c.set_defaults(fn=user_create)
    c = usub.add_parser("set-password", help="set a user's password (signs out their tokens)")
    common(c)
    c.add_argument("--email", required=True)
    c.add_argument("--password", help="the new password (default: read from stdin / prompt)")
    c.set_defaults(fn=user_set_password)

    p = sub.add_parser("apikey", help="manage API keys")
    p.set_defaults(fn=None, help_of=p)
    asub = p.add_subparsers(dest="apikey_command", metavar="COMMAND")
    c = asub.add_parser("create", help="create an API key (the key is printed once)")
    common(c)
    c.add_argument("--name", required=True)
    c.add_argument("--role", required=True, help="a configured role, e.g. admin")
    c.add_argument("--expires-in", type=float, help="days until the key expires")
    c.add_argument("--expires-at", help="ISO-8601 date-time when the key expires")
    c.set_defaults(fn=apikey_create)
    c = asub.add_parser("list", help="list API keys (never the keys themselves)")
    common(c)
    c.set_defaults(fn=apikey_list)
    c = asub.add_parser("revoke", help="revoke an API key by id")
    common(c)
    c.add_argument("id")
    c.set_defaults(fn=apikey_revoke)
