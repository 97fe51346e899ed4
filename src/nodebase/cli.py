"""The ``nodebase`` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from nodebase.kernel import jsonutil
from nodebase.kernel.config import Settings, load_settings


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="data directory (default ./nodebase_data; env NODEBASE_DATA_DIR)")
    p.add_argument("--database-url", help="database URL (default SQLite in the data dir)")
    p.add_argument("--project-dir", help="project directory (default: current directory)")
    p.add_argument("--schema-file", help="schema file (default nodebase.schema.json in the project dir)")


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    overrides = {
        "data_dir": args.data_dir,
        "database_url": args.database_url,
        "project_dir": args.project_dir,
        "schema_file": args.schema_file,
        **extra,
    }
    return load_settings(overrides)


def _print(doc: Any) -> None:
    sys.stdout.write(jsonutil.dumps_readable(doc) + "\n")


async def _with_node(settings: Settings, fn: Any) -> Any:
    import dataclasses

    from nodebase.app import Nodebase

    # a command is not a server: no gRPC listener (the running server may hold the port)
    nb = Nodebase(dataclasses.replace(settings, grpc_port=0))
    await nb.start()
    try:
        return await fn(nb)
    finally:
        await nb.stop()


def cmd_serve(args: argparse.Namespace) -> int:
    if args.sidecar:
        from nodebase import sidecar

        if not args.data_dir:
            sys.stderr.write("nodebase serve --sidecar: --data-dir is required\n")
            return 2
        return asyncio.run(sidecar.run(sidecar.settings_from(argparse.Namespace(
            data_dir=args.data_dir, project_dir=args.project_dir, database_url=args.database_url)),
            port=args.port or 0))
    from nodebase.kernel.cors import CorsPolicy
    from nodebase.kernel.forwarded import ClientAddress
    from nodebase.kernel.logs import level_of
    from nodebase.server import serve

    settings = _settings(args, host=args.host, port=args.port, workers=args.workers,
                         server=args.server, header_timeout=args.header_timeout,
                         body_timeout=args.body_timeout, keepalive_timeout=args.keepalive_timeout,
                         max_connections=args.max_connections)
    try:  # settings the workers would refuse: say so once, before starting them
        CorsPolicy(settings.cors_origins)
        ClientAddress(settings.trusted_proxies)
        level_of(settings.log_level)
    except ValueError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    serve(settings)
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    async def run(nb: Any) -> Any:
        return await nb.data.sync(apply=args.apply or args.drop, drop=args.drop)

    result = asyncio.run(_with_node(_settings(args), run))
    _print(result)
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    async def run(nb: Any) -> Any:
        return {"settings": nb.settings.public(), "config": nb.config.all(secrets=False)}

    _print(asyncio.run(_with_node(_settings(args), run)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nodebase", description="nodebase backend node")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.set_defaults(fn=None, help_of=parser)

    p = sub.add_parser("serve", help="serve the HTTP API")
    _common(p)
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 1337)")
    p.add_argument("--workers", type=int, help="worker processes (default 1)")
    p.add_argument("--sidecar", action="store_true",
                   help="run as a desktop app's sidecar: 127.0.0.1, a free port, one JSON line on "
                        "stdout, exit with the parent (see docs/sidecar.md)")
    p.add_argument("--server", choices=("uvicorn", "granian"), help="HTTP server (default uvicorn)")
    p.add_argument("--header-timeout", type=float, metavar="S",
                   help="seconds to send a request's headers (default 10)")
    p.add_argument("--body-timeout", type=float, metavar="S",
                   help="longest silence while a request body is expected (default 30)")
    p.add_argument("--keepalive-timeout", type=float, metavar="S",
                   help="seconds an idle keep-alive connection stays open (default 20)")
    p.add_argument("--max-connections", type=int, metavar="N",
                   help="open connections per worker, beyond it 503 (default 16384)")
    p.set_defaults(fn=cmd_serve)

    p = sub.add_parser("sync", help="show (and with --apply / --drop, apply) schema changes")
    _common(p)
    p.add_argument("--apply", action="store_true", help="apply non-destructive changes")
    p.add_argument("--drop", action="store_true", help="also apply destructive changes (drops)")
    p.set_defaults(fn=cmd_sync)

    p = sub.add_parser("config", help="configuration")
    p.set_defaults(fn=None, help_of=p)
    csub = p.add_subparsers(dest="config_command", metavar="COMMAND")
    show = csub.add_parser("show", help="print settings and module config (secrets masked)")
    _common(show)
    show.set_defaults(fn=cmd_config_show)

    from nodebase.auth.cli import add_commands as add_auth_commands

    add_auth_commands(sub, _common, _settings, _with_node, _print)
    from nodebase.flows.cli import add_commands as add_flow_commands

    add_flow_commands(sub, _common, _settings, _with_node, _print)
    from nodebase.system.cli import add_commands as add_system_commands

    add_system_commands(sub, _common, _settings, _with_node, _print)
    from nodebase.apps.chat.cli import add_commands as add_chat_commands

    add_chat_commands(sub, _common, _settings, _with_node, _print)
    from nodebase.secrets_cli import add_commands as add_secret_commands

    add_secret_commands(sub, _common, _settings)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.fn is None:  # no (sub)command: the help, on stdout, as a usage error
        args.help_of.print_help()
        return 2
    try:
        return int(args.fn(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
