"""``nodebase export``, ``import``, ``backup`` and ``restore`` (docs/system.md)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from nodebase.kernel.errors import NodebaseError


def _fail(exc: NodebaseError) -> int:
    sys.stderr.write(f"error: {exc.message}\n")
    return 1


def add_commands(sub: Any, common: Any, settings_of: Any, with_node: Any, print_: Any) -> None:
    def cmd_export(args: argparse.Namespace) -> int:
        from nodebase.system.archive import export_archive

        async def run(nb: Any) -> Any:
            return await export_archive(nb, Path(args.out), with_secrets=args.with_secrets,
                                        media=not args.no_media)

        try:
            print_(asyncio.run(with_node(settings_of(args), run)))
        except NodebaseError as exc:
            return _fail(exc)
        return 0

    def cmd_import(args: argparse.Namespace) -> int:
        from nodebase.system.archive import import_archive

        async def run(nb: Any) -> Any:
            return await import_archive(nb, Path(args.file))

        try:
            print_(asyncio.run(with_node(settings_of(args), run)))
        except NodebaseError as exc:
            return _fail(exc)
        return 0

    def _sqlite_file(args: argparse.Namespace) -> tuple[Path, Path] | None:
        from nodebase.kernel.database.sqlite import sqlite_path

        settings = settings_of(args)
        url = settings.resolved_database_url
        if not url.startswith(("sqlite:", "file:")) and "://" in url:
            sys.stderr.write("error: backup/restore work on the embedded SQLite database; "
                             "for PostgreSQL use pg_dump, or nodebase export\n")
            return None
        return Path(sqlite_path(url)), settings.resolved_data_dir / "media"

    def cmd_backup(args: argparse.Namespace) -> int:
        from nodebase.system.backup import backup_into, backup_sqlite

        paths = _sqlite_file(args)
        if paths is None:
            return 2
        db, media = paths
        try:
            if args.out:
                print_({"backup": str(backup_sqlite(db, Path(args.out)))})
                return 0
            if not args.dir:
                sys.stderr.write("error: give --out FILE, or --dir DIR (with --keep N, --every S)\n")
                return 2
            while True:
                made = backup_into(db, Path(args.dir), args.keep, media if args.with_media else None)
                print_({"backup": str(made)})
                sys.stdout.flush()
                if not args.every:
                    return 0
                time.sleep(args.every)
        except NodebaseError as exc:
            return _fail(exc)

    def cmd_restore(args: argparse.Namespace) -> int:
        from nodebase.system.backup import restore_sqlite

        paths = _sqlite_file(args)
        if paths is None:
            return 2
        try:
            restore_sqlite(Path(args.file), paths[0])
        except NodebaseError as exc:
            return _fail(exc)
        print_({"restored": str(paths[0])})
        return 0

    p = sub.add_parser("export", help="write config, rows, users and media into one archive")
    common(p)
    p.add_argument("--out", required=True, help="archive to write (tar.gz)")
    p.add_argument("--with-secrets", action="store_true", help="keep secret config values")
    p.add_argument("--no-media", action="store_true", help="leave the media files out")
    p.set_defaults(fn=cmd_export)

    p = sub.add_parser("import", help="restore an export archive into an empty node")
    common(p)
    p.add_argument("file", help="archive written by nodebase export")
    p.set_defaults(fn=cmd_import)

    p = sub.add_parser("backup", help="online backup of the embedded SQLite database")
    common(p)
    p.add_argument("--out", help="write one copy to this file")
    p.add_argument("--dir", help="write timestamped copies into this directory")
    p.add_argument("--keep", type=int, default=7, help="with --dir: copies kept (default 7)")
    p.add_argument("--every", type=float, metavar="S", help="with --dir: repeat every S seconds")
    p.add_argument("--with-media", action="store_true", help="with --dir: copy the local media directory too")
    p.set_defaults(fn=cmd_backup)

    p = sub.add_parser("restore", help="put a backup copy back (the node must be stopped)")
    common(p)
    p.add_argument("file", help="a copy written by nodebase backup")
    p.set_defaults(fn=cmd_restore)
