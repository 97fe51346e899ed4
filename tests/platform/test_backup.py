"""``nodebase backup`` of a running embedded node under a write load (SQLite's backup API),
the scheduled variant keeping the last N, and ``nodebase restore`` into a fresh node."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from tests.conftest import add_entity, admin_headers
from tests.nodeserver import NodeServer


def _rows(db: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return [(int(i), str(t)) for i, t in conn.execute('SELECT id, title FROM "logbook" ORDER BY id')]


def _consistent(rows: list[tuple[int, str]]) -> None:
    """Writes come in pairs (one bulk insert = one transaction): a consistent copy holds whole pairs."""
    assert len(rows) % 2 == 0, f"half a transaction in the copy: {len(rows)} rows"
    titles = [t for _, t in rows]
    assert titles == [f"w{n // 2}-{n % 2}" for n in range(len(rows))]


def test_online_backup_under_writes_scheduled_copies_and_restore(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    node = NodeServer(tmp_path / "a").start()
    stop = threading.Event()
    written = [0]
    errors: list[str] = []
    try:
        admin = admin_headers(node)
        with node.client(headers=admin) as api:
            add_entity(api, "logbook", {"title": {"type": "text"}})

        def write() -> None:
            with httpx.Client(base_url=node.url, headers=admin, timeout=30) as c:
                n = 0
                while not stop.is_set():
                    r = c.post("/api/data/entity/logbook", json=[{"title": f"w{n}-0"}, {"title": f"w{n}-1"}])
                    if r.status_code != 201:
                        errors.append(r.text)
                        return
                    n += 1
                    written[0] = n

        writer = threading.Thread(target=write)
        writer.start()
        try:
            while written[0] < 20:  # the load is running
                assert writer.is_alive(), errors
                writer.join(0.01)
            one = tmp_path / "one.db"
            out = json.loads(node.cli("backup", "--out", str(one)).stdout)
            assert out["backup"] == str(one)
            during = written[0]
            # the scheduled variant: a copy every 0.1 s, the last 2 kept
            copies = tmp_path / "copies"
            proc = subprocess.Popen([sys.executable, "-m", "nodebase", "backup", "--dir", str(copies),
                                     "--keep", "2", "--every", "0.1"], env=node.env(), cwd=node.project_dir,
                                    stdout=subprocess.PIPE, text=True)
            try:
                assert proc.stdout is not None
                made = []
                for line in proc.stdout:
                    if line.strip().startswith('"backup"'):
                        made.append(line.split('"')[3])
                    if len(made) == 4:
                        break
            finally:
                proc.terminate()
                proc.wait(timeout=30)
        finally:
            stop.set()
            writer.join(timeout=60)
        assert not errors, errors
        kept = sorted(copies.glob("nodebase-*.db"))
        assert [p.name for p in kept] == sorted(Path(m).name for m in made[-2:])
        for copy in kept:
            _consistent(_rows(copy))
        backed_up = _rows(one)
        _consistent(backed_up)
        assert 40 <= len(backed_up) <= 2 * (during + 1)
    finally:
        node.stop()
    assert len(_rows(node.data_dir / "data.db")) == 2 * written[0]

    # restore into a fresh node: exactly the rows of the copy
    (tmp_path / "b").mkdir()
    fresh = NodeServer(tmp_path / "b")
    assert json.loads(fresh.cli("restore", str(one)).stdout)["restored"].endswith("data.db")
    fresh.start()
    try:
        with fresh.client(headers=admin_headers(fresh)) as api:
            r = api.get("/api/data/entity/logbook", params={"sort": "id", "limit": 10000})
            assert r.status_code == 200
            assert [(row["id"], row["title"]) for row in r.json()["data"]] == backed_up
    finally:
        fresh.stop()
    bad = fresh.cli("restore", str(tmp_path / "missing.db"), check=False)
    assert bad.returncode == 1 and "no backup at" in bad.stderr
