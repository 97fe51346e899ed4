"""What each client call sends and how its answer is read, shared by the sync and async
clients (which only differ in how they send)."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from nodebase.client.errors import error_for


@dataclass
class Call:
    method: str
    path: str
    json: Any = None
    params: dict[str, Any] | None = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: what to return: "json" (the whole document), "data" (its ``data``), "bytes", "none"
    read: str = "data"
    #: applied to the result (e.g. keep the token of a login)
    then: Callable[[Any], Any] | None = None


def seg(value: Any) -> str:
    return quote(str(value), safe="")


def query_body(where: Any = None, sort: Any = None, limit: int | None = None, offset: int | None = None,
               select: list[str] | None = None, with_: Any = None, join: list[str] | None = None,
               count: bool | None = None) -> dict[str, Any]:
    """The JSON body of ``POST /api/data/entity/:e/query`` (docs/data.md "Query parameters")."""
    body: dict[str, Any] = {}
    for key, value in (("where", where), ("sort", sort), ("limit", limit), ("offset", offset),
                       ("select", select), ("with", with_), ("join", join), ("count", count)):
        if value is not None:
            body[key] = value
    return body


def result(call: Call, resp: httpx.Response) -> Any:
    value = _read(call, resp)
    return call.then(value) if call.then is not None else value


def _read(call: Call, resp: httpx.Response) -> Any:
    if resp.status_code >= 400:
        raise error_for(resp)
    if call.read == "bytes":
        return resp.content
    if call.read == "none" or not resp.content:
        return None
    doc = resp.json()
    if call.read == "data" and isinstance(doc, dict) and "data" in doc:
        return doc["data"]
    return doc


@dataclass
class Page:
    """A list answer: the rows and bknd's ``meta`` (``items``, ``count``, ``total``, ``time``)."""

    data: list[dict[str, Any]]
    meta: dict[str, Any]

    def __iter__(self) -> Any:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def page(doc: Any) -> Page:
    return Page(list(doc.get("data") or []), dict(doc.get("meta") or {}))


class Calls:
    """Every call of the API surface the client covers, as :class:`Call` values."""

    # -- auth ---------------------------------------------------------------------------
    @staticmethod
    def login(email: str, password: str) -> Call:
        return Call("POST", "/api/auth/password/login", json={"email": email, "password": password}, read="json")

    @staticmethod
    def register(email: str, password: str, extra: dict[str, Any]) -> Call:
        return Call("POST", "/api/auth/password/register",
                    json={"email": email, "password": password, **extra}, read="json")

    @staticmethod
    def me() -> Call:
        return Call("GET", "/api/auth/me", read="json")

    # -- data ---------------------------------------------------------------------------
    @staticmethod
    def query(entity: str, body: dict[str, Any]) -> Call:
        return Call("POST", f"/api/data/entity/{seg(entity)}/query", json=body, read="json", then=page)

    @staticmethod
    def read(entity: str, id: Any, with_: Any = None) -> Call:
        params = None if with_ is None else {"with": with_ if isinstance(with_, str) else jsonlib.dumps(with_)}
        return Call("GET", f"/api/data/entity/{seg(entity)}/{seg(id)}", params=params)

    @staticmethod
    def create(entity: str, row: Any) -> Call:
        return Call("POST", f"/api/data/entity/{seg(entity)}", json=row)

    @staticmethod
    def update(entity: str, id: Any, changes: dict[str, Any]) -> Call:
        return Call("PATCH", f"/api/data/entity/{seg(entity)}/{seg(id)}", json=changes)

    @staticmethod
    def update_where(entity: str, where: dict[str, Any], changes: dict[str, Any]) -> Call:
        return Call("PATCH", f"/api/data/entity/{seg(entity)}", json={"update": changes, "where": where})

    @staticmethod
    def delete(entity: str, id: Any) -> Call:
        return Call("DELETE", f"/api/data/entity/{seg(entity)}/{seg(id)}")

    @staticmethod
    def delete_where(entity: str, where: dict[str, Any]) -> Call:
        return Call("DELETE", f"/api/data/entity/{seg(entity)}", json=where)

    @staticmethod
    def count(entity: str, where: dict[str, Any] | None) -> Call:
        return Call("POST", f"/api/data/entity/{seg(entity)}/fn/count", json=where or {}, read="json",
                    then=lambda doc: int(doc["count"]))

    @staticmethod
    def types() -> Call:
        return Call("GET", "/api/data/types", read="bytes", then=lambda raw: raw.decode())

    # -- media --------------------------------------------------------------------------
    @staticmethod
    def upload(name: str, content: bytes, content_type: str, overwrite: bool) -> Call:
        return Call("POST", f"/api/media/upload/{quote(name)}", content=content,
                    headers={"Content-Type": content_type},
                    params={"overwrite": "true"} if overwrite else None, read="json")

    @staticmethod
    def download(name: str) -> Call:
        return Call("GET", f"/api/media/file/{quote(name)}", read="bytes")

    @staticmethod
    def delete_file(name: str) -> Call:
        return Call("DELETE", f"/api/media/file/{quote(name)}", read="json")
