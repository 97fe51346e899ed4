"""CORS over real HTTP: only configured origins get credentialed answers, on every path.

``/api/system/ping`` and entity CRUD are answered by the raw fast path
(``nodebase.kernel.asgi``); ``/api/auth/strategies`` and ``/api/system/info`` by Starlette.
Both must answer the same.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import httpx
import pytest

from tests.conftest import add_entity, admin_headers, unique

ALLOWED_BY_DEFAULT = [
    "http://localhost:5173", "http://localhost", "https://localhost:8443",
    "http://127.0.0.1:3000", "https://127.0.0.1", "http://[::1]:8080",
    "tauri://localhost", "http://tauri.localhost", "https://tauri.localhost",
]
REFUSED_BY_DEFAULT = [
    "http://evil.example", "null", "https://localhost.evil.example", "http://127.0.0.2:80",
    "http://localhost:5173/path", "file://", "tauri://evil", "http://tauri.localhost.evil.example",
]


def _paths(client: httpx.Client) -> list[str]:
    name = unique("cors")
    add_entity(client, name, {"title": {"type": "text"}})
    return ["/api/system/ping", f"/api/data/entity/{name}", "/api/auth/strategies", "/api/system/info"]


def test_default_allows_loopback_and_tauri_only(make_node: Any) -> None:
    node = make_node()
    with node.client(headers=admin_headers(node)) as c:
        paths = _paths(c)
        for path in paths:
            for origin in ALLOWED_BY_DEFAULT:
                r = c.get(path, headers={"Origin": origin})
                assert r.status_code == 200, (path, r.text)
                assert r.headers.get("access-control-allow-origin") == origin, (path, origin)
                assert r.headers.get("access-control-allow-credentials") == "true", (path, origin)
                assert "Origin" in r.headers.get("vary", ""), (path, origin)
            for origin in REFUSED_BY_DEFAULT:
                r = c.get(path, headers={"Origin": origin})
                assert r.status_code == 200, (path, r.text)  # the server answers; the browser hides it
                assert "access-control-allow-origin" not in r.headers, (path, origin)
                assert "access-control-allow-credentials" not in r.headers, (path, origin)


@pytest.mark.parametrize("path", ["/api/system/ping", "/api/auth/password/login"])
def test_preflight(make_node: Any, path: str) -> None:
    node = make_node()
    ask = {"Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "content-type, authorization"}
    with node.client() as c:
        ok = c.options(path, headers={"Origin": "http://localhost:5173", **ask})
        assert ok.status_code == 204, ok.text
        assert ok.headers["access-control-allow-origin"] == "http://localhost:5173"
        assert ok.headers["access-control-allow-credentials"] == "true"
        assert "POST" in ok.headers["access-control-allow-methods"]
        assert "Authorization" in ok.headers["access-control-allow-headers"]
        for origin in ("http://evil.example", "null"):
            bad = c.options(path, headers={"Origin": origin, **ask})
            assert bad.status_code == 403, bad.text
            assert bad.json()["type"] == "CorsException"
            assert bad.json()["context"] == {"origin": origin, "setting": "cors_origins"}
            assert "access-control-allow-origin" not in bad.headers


def test_configured_origins_replace_the_default(make_node: Any) -> None:
    node = make_node(env={"NODEBASE_CORS_ORIGINS": "https://app.example.com, http://dev.example.com:*"})
    with node.client(headers=admin_headers(node)) as c:
        paths = _paths(c)
        for path in paths:
            for origin in ("https://app.example.com", "http://dev.example.com:8080", "http://dev.example.com"):
                r = c.get(path, headers={"Origin": origin})
                assert r.headers.get("access-control-allow-origin") == origin, (path, origin)
            for origin in ("http://localhost:5173", "https://app.example.com:444", "http://app.example.com",
                           "null", "tauri://localhost"):
                r = c.get(path, headers={"Origin": origin})
                assert "access-control-allow-origin" not in r.headers, (path, origin)


def test_star_allows_any_origin_without_credentials(make_node: Any) -> None:
    node = make_node(env={"NODEBASE_CORS_ORIGINS": "https://app.example.com,*"})
    with node.client(headers=admin_headers(node)) as c:
        for path in _paths(c):
            r = c.get(path, headers={"Origin": "http://evil.example"})
            assert r.headers.get("access-control-allow-origin") == "*", path
            assert "access-control-allow-credentials" not in r.headers, path
            r = c.get(path, headers={"Origin": "https://app.example.com"})
            assert r.headers.get("access-control-allow-origin") == "https://app.example.com", path
            assert r.headers.get("access-control-allow-credentials") == "true", path


@pytest.mark.parametrize(("name", "value", "message"), [
    ("NODEBASE_CORS_ORIGINS", "app.example.com", "cors_origins: 'app.example.com' is not an origin"),
    ("NODEBASE_TRUSTED_PROXIES", "10.0.0.0/33", "trusted_proxies: '10.0.0.0/33' is not an IP"),
])
def test_a_malformed_setting_stops_serve_with_its_name(make_node: Any, name: str, value: str,
                                                       message: str) -> None:
    node = make_node(start=False, env={name: value})
    proc = subprocess.Popen([sys.executable, "-m", "nodebase", "serve", "--port", str(node.port)],
                            env=node.env(), cwd=node.project_dir, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=60)
    finally:  # if it served after all (the bug), stop it and its workers
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert proc.returncode == 2, stderr
    assert stderr.startswith("error: " + message), stderr
    assert "Traceback" not in stderr
