"""The secret provider: data-dir files, environment, an external agent command; rotation of
the signing key on a real server; and a load with debug logging on that must not leak any
secret into a log line or a response."""

from __future__ import annotations

import base64
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from nodebase.kernel.secrets import (
    CommandSecrets,
    FileSecrets,
    SecretError,
    Secrets,
    open_secrets,
)
from tests.conftest import add_entity, admin_headers, unique
from tests.flows.helpers import Receiver, put_flow
from tests.nodeserver import NodeServer
from tests.support.services import PostgresServer

AGENT = Path(__file__).with_name("secrets_agent.py")
PASSWORD = "correct horse battery"


def agent_env(tmp: Path) -> dict[str, str]:
    return {"NODEBASE_SECRETS_COMMAND": f"{sys.executable} {AGENT}",
            "SECRETS_AGENT_STORE": str(tmp / "agent-store.json"),
            "SECRETS_AGENT_CALLS": str(tmp / "agent-calls.txt")}


def test_file_store_keeps_the_legacy_names_and_mode(tmp_path: Path) -> None:
    s = Secrets(FileSecrets(tmp_path), env={})
    key = s.key("auth_signing_key")
    assert (tmp_path / "auth_secret").read_bytes() == key and len(key) == 64
    assert (tmp_path / "auth_secret").stat().st_mode & 0o777 == 0o600
    assert s.key("auth_signing_key") == key  # read back, not regenerated
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "llm_api_key").write_text("sk-from-file\n")
    assert s.text("llm_api_key") == "sk-from-file"
    assert s.get("broker_url") is None


def test_environment_beats_the_store_and_is_never_written(tmp_path: Path) -> None:
    env = {"NODEBASE_SECRET_AUTH_SIGNING_KEY": "e" * 40, "NODEBASE_SECRET_LLM_API_KEY": "sk-env"}
    s = Secrets(FileSecrets(tmp_path), env=env)
    assert s.key("auth_signing_key") == b"e" * 40
    assert s.text("llm_api_key") == "sk-env"
    assert not (tmp_path / "auth_secret").exists()
    assert Secrets(FileSecrets(tmp_path), env={"NODEBASE_AUTH_SECRET": "l" * 40}).key("auth_signing_key") == b"l" * 40
    with pytest.raises(SecretError, match="shorter than 32"):
        Secrets(FileSecrets(tmp_path), env={"NODEBASE_SECRET_AUTH_SIGNING_KEY": "short"}).key("auth_signing_key")
    with pytest.raises(SecretError, match="environment"):
        Secrets(FileSecrets(tmp_path), env=env).rotate("auth_signing_key")


def test_command_store_speaks_the_protocol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = agent_env(tmp_path)
    for k, v in env.items():
        monkeypatch.setenv(k, v)  # the agent process reads its store paths from its environment
    s = open_secrets(tmp_path / "data", env=env)
    assert s.kind == "command"
    assert s.get("database_url") is None  # exit 3: unknown
    key = s.key("media_signing_key")
    stored = json.loads((tmp_path / "agent-store.json").read_text())
    assert bytes.fromhex(stored["media_signing_key"]) == key
    assert not (tmp_path / "data").exists()  # nothing written to the data dir
    calls = (tmp_path / "agent-calls.txt").read_text().split("\n")
    assert calls[:3] == ["get database_url", "get media_signing_key", "put media_signing_key"]
    broken = CommandSecrets(f"{sys.executable} -c 'import sys; sys.exit(5)'")
    with pytest.raises(SecretError, match="exited 5 for get x") as exc:
        broken.get("x")
    assert exc.value is not None
    with pytest.raises(SecretError, match="invalid secret name"):
        s.get("../etc/passwd")


def _me(node: NodeServer, token: str) -> int:
    return httpx.get(node.url + "/api/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code


def _login(node: NodeServer, email: str) -> httpx.Response:
    r = httpx.post(node.url + "/api/auth/password/login", json={"email": email, "password": PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    return r


def test_rotation_keeps_tokens_of_the_previous_key_valid(tmp_path: Path) -> None:
    node = NodeServer(tmp_path / "data").start()
    try:
        email = f"rot-{secrets.token_hex(4)}@example.com"
        r = httpx.post(node.url + "/api/auth/password/register", json={"email": email, "password": PASSWORD},
                       timeout=30)
        assert r.status_code == 200, r.text
        first = r.json()["token"]
        first_cookie = r.cookies["auth"]
        key1 = (node.data_dir / "auth_secret").read_bytes()
        node.stop()
        out = node.cli("secrets", "rotate", "auth_signing_key")
        assert "rotated auth_signing_key" in out.stdout and key1.decode() not in out.stdout + out.stderr
        key2 = (node.data_dir / "auth_secret").read_bytes()
        assert key2 != key1 and (node.data_dir / "secrets" / "auth_signing_key_previous").read_bytes() == key1
        node.start()
        assert _me(node, first) == 200  # signed by the previous key: still valid
        cookie_me = httpx.get(node.url + "/api/auth/me", cookies={"auth": first_cookie}, timeout=30)
        assert cookie_me.status_code == 200, cookie_me.text
        second = _login(node, email).json()["token"]
        jwt.decode(second, key2, algorithms=["HS256"])  # only the current key signs
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(second, key1, algorithms=["HS256"])
        forged = jwt.encode({"id": 1, "iat": int(time.time()), "exp": int(time.time()) + 60, "tv": 0},
                            secrets.token_hex(32), algorithm="HS256")
        assert _me(node, forged) == 403  # bknd: an unusable token is a 403
        node.stop()
        node.cli("secrets", "rotate", "auth_signing_key")  # key1 retires for good
        node.start()
        assert _me(node, first) == 403
        assert _me(node, second) == 200
    finally:
        node.stop()


def _encodings(value: bytes) -> set[str]:
    out = {value.hex(), base64.b64encode(value).decode(), base64.urlsafe_b64encode(value).decode().rstrip("=")}
    try:
        text = value.decode()
    except UnicodeDecodeError:
        pass
    else:
        out.add(text)
    return {e for e in out if len(e) >= 8}


def test_no_secret_reaches_a_log_line_or_a_response(tmp_path: Path, postgres: PostgresServer) -> None:
    """Debug logging on; the agent holds the database URL (with its password), the signing
    keys and a webhook secret; an environment variable holds the LLM key."""
    env = agent_env(tmp_path)
    db_url = postgres.create_database(f"leak_{secrets.token_hex(4)}")
    hook_secret = "whsec_" + secrets.token_hex(16)
    llm_key = "sk-" + secrets.token_hex(16)
    (tmp_path / "agent-store.json").write_text(json.dumps(
        {"database_url": db_url.encode().hex(), "hook_secret": hook_secret.encode().hex()}))
    env.update({"NODEBASE_SECRET_LLM_API_KEY": llm_key, "NODEBASE_LOG_LEVEL": "debug",
                "NODEBASE_DEBUG": "true", "NODEBASE_FETCH_ALLOW_PRIVATE": "true"})
    node = NodeServer(tmp_path / "data", env=env).start()
    receiver = Receiver().start()
    seen: list[str] = []

    def keep(r: httpx.Response) -> httpx.Response:
        seen.append(f"{r.status_code} {r.headers} {r.text}")
        return r

    try:
        with node.client(headers=admin_headers(node)) as admin:
            assert keep(admin.get("/api/system/info")).status_code == 200
            entity = unique("leak")
            add_entity(admin, entity, {"title": {"type": "text"}})
            put_flow(admin, unique("hook"), {
                "trigger": {"type": "event", "config": {"event": "data.create.after", "entity": entity}},
                "tasks": {"hook": {"type": "webhook", "params": {"url": receiver.url + "/hook",
                                                                  "secret": "$secret:hook_secret"}}},
                "start_task": "hook"})
            for path in ("/api/system/config", "/api/system/config/flows", "/api/flows"):
                keep(admin.get(path, params={"secrets": 1}))
            keep(admin.post("/api/media/upload/leak.txt", content=b"hello", headers={"Content-Type": "text/plain"}))
            keep(admin.post("/api/upload/presigned-url", json={"fileName": "p.txt", "contentType": "text/plain"}))
            with node.client() as anon:
                for i in range(10):  # the load: register, log in (good and bad), write, read
                    email = f"leak{i}-{secrets.token_hex(3)}@example.com"
                    keep(anon.post("/api/auth/password/register", json={"email": email, "password": PASSWORD}))
                    keep(anon.post("/api/auth/password/login", json={"email": email, "password": "wrong password"}))
                    token = keep(anon.post("/api/auth/password/login",
                                           json={"email": email, "password": PASSWORD})).json()["token"]
                    keep(anon.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}))
                    row = keep(admin.post(f"/api/data/entity/{entity}", json={"title": f"t{i}"})).json()["data"]
                    keep(admin.get(f"/api/data/entity/{entity}/{row['id']}"))
                    keep(admin.get(f"/api/data/entity/{entity}", params={"where": json.dumps({"title": f"t{i}"})}))
                    keep(anon.get(f"/api/data/entity/{entity}/nope"))
        hooks = receiver.wait_for(10, path="/hook")
        # the webhook secret came from the agent: the receiver can verify it
        sig = hooks[0].headers["x-nodebase-signature"]
        t, v1 = (part.split("=", 1)[1] for part in sig.split(","))
        import hmac as _hmac

        assert _hmac.new(hook_secret.encode(), f"{t}.".encode() + hooks[0].body, "sha256").hexdigest() == v1
    finally:
        receiver.stop()
        node.stop()
    store = json.loads((tmp_path / "agent-store.json").read_text())
    assert {"auth_signing_key", "media_signing_key"} <= set(store)  # generated into the agent
    assert not (node.data_dir / "auth_secret").exists() and not (node.data_dir / ".media-signing.key").exists()
    values: dict[str, bytes] = {k: bytes.fromhex(v) for k, v in store.items()}
    values["llm_api_key"] = llm_key.encode()
    values["database password"] = postgres.password.encode()
    log = node.log.read_text(errors="replace")
    assert "DEBUG" in log or "debug" in log.lower()  # debug logging was on and wrote lines
    lines = log.splitlines() + seen
    assert len(lines) > 100
    leaks: list[Any] = [(name, line[:120]) for name, value in values.items()
                        for enc in _encodings(value) for line in lines if enc in line]
    assert not leaks


def test_a_webhook_secret_reference_names_a_provider_secret(tmp_path: Path) -> None:
    from nodebase.flows.runner import Services
    from nodebase.flows.tasks.base import TaskFailed

    services = Services(None, False, {})  # type: ignore[arg-type]  # the data service is not used here
    services.secrets = Secrets(FileSecrets(tmp_path), env={"NODEBASE_SECRET_ORDERS_HOOK": "whsec_from_env"})
    assert services.secret("$secret:orders_hook") == "whsec_from_env"
    assert services.secret("plain-secret") == "plain-secret"
    with pytest.raises(TaskFailed, match="the secret missing_hook is not set") as exc:
        services.secret("$secret:missing_hook")
    assert exc.value.error["type"] == "webhook"
