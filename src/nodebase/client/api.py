"""The client's surface — ``client.auth``, ``client.data``, ``client.media`` — written once for
both clients: each method returns what the client's ``_send`` returns (the value for
:class:`~nodebase.client.Client`, an awaitable of it for :class:`~nodebase.client.AsyncClient`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from nodebase.client.requests import Call, Calls, query_body

R = TypeVar("R")


class _Part(Generic[R]):
    def __init__(self, send: Callable[[Call], R], owner: Any) -> None:
        self._send = send
        self._owner = owner


class AuthApi(_Part[R]):
    def _keep(self, doc: Any) -> Any:
        self._owner.token = doc.get("token")
        return doc

    def login(self, email: str, password: str) -> R:
        """Sign in with a password; later calls carry the token. Returns ``{"user", "token"}``."""
        call = Calls.login(email, password)
        call.then = self._keep
        return self._send(call)

    def register(self, email: str, password: str, **extra: Any) -> R:
        """Create an account (where the auth config allows it) and sign in as it."""
        call = Calls.register(email, password, extra)
        call.then = self._keep
        return self._send(call)

    def me(self) -> R:
        """``{"user": ...}`` of the caller (``{"user": null}``-style answers are the server's)."""
        return self._send(Calls.me())

    def logout(self) -> None:
        """Forget the token (tokens are stateless: it stays valid until it expires)."""
        self._owner.token = None


class DataApi(_Part[R]):
    def query(self, entity: str, *, where: Any = None, sort: Any = None, limit: int | None = None,
              offset: int | None = None, select: list[str] | None = None, with_: Any = None,
              join: list[str] | None = None, count: bool | None = None) -> R:
        """Rows matching the query language (docs/data.md): a :class:`Page` (rows + meta)."""
        return self._send(Calls.query(entity, query_body(where, sort, limit, offset, select, with_, join, count)))

    def read(self, entity: str, id: Any, *, with_: Any = None) -> R:
        """One row (``NotFound`` if there is none)."""
        return self._send(Calls.read(entity, id, with_))

    def create(self, entity: str, row: dict[str, Any]) -> R:
        return self._send(Calls.create(entity, row))

    def create_many(self, entity: str, rows: list[dict[str, Any]]) -> R:
        """Several rows in one transaction."""
        return self._send(Calls.create(entity, rows))

    def update(self, entity: str, id: Any, changes: dict[str, Any]) -> R:
        return self._send(Calls.update(entity, id, changes))

    def update_where(self, entity: str, where: dict[str, Any], changes: dict[str, Any]) -> R:
        return self._send(Calls.update_where(entity, where, changes))

    def delete(self, entity: str, id: Any) -> R:
        return self._send(Calls.delete(entity, id))

    def delete_where(self, entity: str, where: dict[str, Any]) -> R:
        return self._send(Calls.delete_where(entity, where))

    def count(self, entity: str, where: dict[str, Any] | None = None) -> R:
        return self._send(Calls.count(entity, where))

    def types(self) -> R:
        """The TypeScript declarations of the schema (``GET /api/data/types``)."""
        return self._send(Calls.types())


class MediaApi(_Part[R]):
    def upload(self, name: str, content: bytes, content_type: str = "application/octet-stream", *,
               overwrite: bool = False) -> R:
        """Store a file; returns bknd's upload answer (``{"data": row, "name", "meta", ...}``)."""
        return self._send(Calls.upload(name, content, content_type, overwrite))

    def download(self, name: str) -> R:
        """The file's bytes."""
        return self._send(Calls.download(name))

    def delete(self, name: str) -> R:
        return self._send(Calls.delete_file(name))
