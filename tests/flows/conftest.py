"""Flows fixtures: one server per backend for the package (flows use unique names), started
with private outbound addresses allowed (the receivers listen on 127.0.0.1), a controllable
scheduler clock and a Python module of flow functions in its project directory."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import _database_url, admin_headers
from tests.flows.helpers import Receiver
from tests.nodeserver import NodeServer

FUNCS = Path(__file__).with_name("flowfuncs_src.py")
MODULE = "nb_test_flowfuncs"


def flows_env(project: Path) -> dict[str, str]:
    return {"NODEBASE_FETCH_ALLOW_PRIVATE": "true",
            "NODEBASE_FLOWS_CLOCK_FILE": str(project / "clock.txt"), "NODEBASE_TESTING": "true"}


def prepare_project(project: Path) -> Path:
    project.mkdir(parents=True, exist_ok=True)
    shutil.copy(FUNCS, project / f"{MODULE}.py")
    return project


@pytest.fixture(scope="package")
def fnode(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[NodeServer]:
    project = prepare_project(tmp_path_factory.mktemp(f"flows-{backend}"))
    server = NodeServer(project / "data", database_url=_database_url(backend, request),
                        project_dir=project, env=flows_env(project)).start()
    with httpx.Client(base_url=server.url, headers=admin_headers(server), timeout=30) as c:
        r = c.post("/api/system/config/set/flows", json={"python_modules": [MODULE]})
        assert r.status_code == 202, r.text
    yield server
    server.stop()
    errors = server.server_errors()
    assert not errors, f"the server logged unhandled errors:\n{errors}"


@pytest.fixture
def fapi(fnode: NodeServer) -> Iterator[httpx.Client]:
    with fnode.client(headers=admin_headers(fnode)) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


class Clock:
    """The scheduler clock of a server (``NODEBASE_FLOWS_CLOCK_FILE``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def set(self, ts: float) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(repr(ts))
        tmp.replace(self.path)

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)


@pytest.fixture
def clock(fnode: NodeServer) -> Iterator[Clock]:
    c = Clock(fnode.project_dir / "clock.txt")
    c.set(time.time())
    yield c
    c.reset()
