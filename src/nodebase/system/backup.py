"""``nodebase backup``: a consistent online copy of an embedded (SQLite) node's database,
taken with SQLite's backup API while the node keeps serving, and the scheduled variant that
keeps the last N copies. ``nodebase restore``: put a copy back (node stopped).

The backup runs in one step (``pages=-1``) inside one read transaction of its own connection,
so the copy is the database as of one commit, whatever the node writes meanwhile (WAL mode:
writers do not wait for it). Media files are not part of it (``--with-media`` copies the local
media directory next to it; see docs/system.md, "Backups").
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from nodebase.kernel.errors import BadRequest

PREFIX = "nodebase-"
SUFFIX = ".db"


def backup_sqlite(source: Path, target: Path) -> Path:
    """Copy the live database ``source`` into ``target`` (written to a temp name, then renamed)."""
    if not source.exists():
        raise BadRequest(f"no database at {source}", context={"file": str(source)})
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst, pages=-1)
            check = dst.execute("PRAGMA integrity_check").fetchone()
            if not check or check[0] != "ok":
                raise BadRequest("the backup copy failed its integrity check", context={"file": str(target)})
        finally:
            dst.close()
    finally:
        src.close()
    partial.replace(target)
    return target


def backup_name(now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now or time.time()))
    return f"{PREFIX}{stamp}-{int((now or time.time()) * 1000) % 1000:03d}Z{SUFFIX}"


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups in ``directory``; returns the deleted ones."""
    backups = sorted(p for p in directory.glob(f"{PREFIX}*{SUFFIX}") if p.is_file())
    gone = backups[:-keep] if keep > 0 else []
    for p in gone:
        p.unlink()
        media = p.with_suffix(".media")
        if media.is_dir():
            shutil.rmtree(media)
    return gone


def backup_into(source: Path, directory: Path, keep: int, media_dir: Path | None = None) -> Path:
    """One scheduled round: a new timestamped copy in ``directory``, then keep the last ``keep``."""
    target = backup_sqlite(source, directory / backup_name())
    if media_dir is not None and media_dir.is_dir():
        shutil.copytree(media_dir, target.with_suffix(".media"))
    prune(directory, keep)
    return target


def restore_sqlite(backup: Path, target: Path) -> None:
    """Replace the (stopped) node's database ``target`` with the copy ``backup``."""
    if not backup.is_file():
        raise BadRequest(f"no backup at {backup}", context={"file": str(backup)})
    src = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        check = src.execute("PRAGMA integrity_check").fetchone()
        if not check or check[0] != "ok":
            raise BadRequest(f"{backup} is not an intact SQLite database", context={"file": str(backup)})
        target.parent.mkdir(parents=True, exist_ok=True)
        for extra in ("-wal", "-shm"):
            Path(str(target) + extra).unlink(missing_ok=True)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst, pages=-1)
        finally:
            dst.close()
    finally:
        src.close()
