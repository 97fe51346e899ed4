"""Helpers for the auth tests: unique accounts, sign-in, reading the server's secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
from typing import Any
from urllib.parse import quote, unquote

import httpx

from tests.nodeserver import NodeServer

PASSWORD = "correct horse battery"
JSON_HEADERS = {"Accept": "application/json"}
_n = itertools.count(1)


def email(prefix: str = "user") -> str:
    return f"{prefix}{next(_n)}-{os.getpid()}@example.com"


def register(client: httpx.Client, address: str | None = None, password: str = PASSWORD,
             **extra: Any) -> tuple[dict[str, Any], str]:
    address = address or email()
    r = client.post("/api/auth/password/register", json={"email": address, "password": password, **extra})
    assert r.status_code == 200, r.text
    return r.json()["user"], r.json()["token"]


def login(client: httpx.Client, address: str, password: str = PASSWORD) -> httpx.Response:
    return client.post("/api/auth/password/login", json={"email": address, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def secret(node: NodeServer) -> bytes:
    return (node.data_dir / "auth_secret").read_bytes().strip()


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def cookie_value(set_cookie: str) -> str:
    """The raw (URL-encoded) value of ``auth=...`` in a Set-Cookie header."""
    first = set_cookie.split(";")[0]
    name, _, value = first.partition("=")
    assert name == "auth", set_cookie
    return value


def bknd_cookie(secret_key: bytes, token: str) -> str:
    """bknd/Hono's signed cookie value, computed independently of nodebase's code."""
    sig = base64.b64encode(hmac.new(secret_key, token.encode(), hashlib.sha256).digest()).decode()
    return quote(f"{token}.{sig}", safe="")  # what encodeURIComponent gives for these characters


def unsign(value: str) -> str:
    return unquote(value).rsplit(".", 1)[0]


def set_auth_config(client: httpx.Client, patch: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/api/system/config/set/auth", json=patch)
    assert r.status_code == 202, r.text
    return dict(r.json()["config"])
