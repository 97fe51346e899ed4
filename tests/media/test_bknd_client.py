"""bknd's own client (npm ``bknd@0.20.0``, ``Api`` from ``bknd/client``) against nodebase's media
routes: ``media.upload(file)``, ``getFile``, ``download``, ``listFiles``, ``uploadToEntity``
(with ``overwrite`` and an enforced ``max_items``) and ``deleteFile``, run with Node.

The client runs on the Node on the machine (20.x suffices: only bknd's server needs 22);
``tests/node`` holds its package.json, installed by scripts/test.sh or here when missing.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.media.conftest import MediaNode
from tests.media.helpers import create_row, entity_with_media, png

NODE_DIR = Path(__file__).resolve().parents[1] / "node"


@pytest.fixture(scope="session")
def bknd_client() -> Path:
    node = shutil.which("node")
    assert node, "node is not installed"
    if not (NODE_DIR / "node_modules" / "bknd" / "package.json").is_file():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=NODE_DIR, check=True, timeout=600, capture_output=True)
    return NODE_DIR / "media_client.mjs"


def test_bknd_client_media_calls(media_node: MediaNode, admin: httpx.Client, bknd_client: Path) -> None:
    entity, field = entity_with_media(admin, max_items=1)
    pid = create_row(admin, entity)
    token = admin.headers["authorization"].removeprefix("Bearer ")
    env = {**os.environ, "NB_URL": media_node.url, "NB_TOKEN": token, "NB_ENTITY": entity,
           "NB_ID": str(pid), "NB_FIELD": field, "NB_PNG_B64": base64.b64encode(png(16, 9)).decode()}
    run = subprocess.run(["node", str(bknd_client)], cwd=NODE_DIR, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])

    assert out["upload"]["ok"] and out["upload"]["status"] == 201
    assert out["upload"]["name"] == "bknd-client.txt" == out["upload"]["path"]
    assert out["upload"]["meta"]["type"] == "text/plain"
    assert out["getFile"] == {"ok": True, "status": 200, "body": out["expected"]}
    assert out["uploadBinary"]["ok"] and out["uploadBinary"]["name"] == "bytes.bin"
    assert out["download"] == out["downloadExpected"]
    assert out["listFiles"]["ok"] and "bknd-client.txt" in out["listFiles"]["keys"]

    attached = out["uploadToEntity"]
    assert attached["ok"] and attached["status"] == 201
    assert attached["result"]["reference"] == f"{entity}.{field}"
    assert attached["result"]["entity_id"] == str(pid)
    assert attached["result"]["metadata"] == {"width": 16, "height": 9}
    assert out["overwrite"]["ok"] and out["overwrite"]["status"] == 201
    assert out["overMax"] == {"ok": False, "status": 400}  # max_items 1 holds
    assert out["readWith"] == [out["overwrite"]["name"]]

    assert out["deleteFile"]["ok"] and out["deleteFile"]["body"] == {"message": "File deleted"}
    assert out["afterDelete"] == {"ok": False, "status": 404}
