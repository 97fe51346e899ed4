"""StudioService: sessions, sources, notes, check-ins, settings and profiles of one user.

Ownership: every Data row carries ``owner_id``; every read and write is filtered by the
signed-in user's id, so another user's id is simply not found (404). Sources are Knowledge
documents in the session's collection; Knowledge is called with the user as owner and
only ever with collection/document ids this service has checked belong to that user.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from nodebase.apps.studio import entities as E
from nodebase.apps.studio.outline import is_outline
from nodebase.apps.studio.streaks import stats
from nodebase.kernel.caller import SYSTEM, Caller
from nodebase.kernel.errors import (
    BadRequest,
    Conflict,
    NodebaseError,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    ValidationFailed,
)
from nodebase.kernel.outbound import address_refusal, resolve
from nodebase.knowledge.models import AnswerEvent, Document, DocumentState

DEFAULT_SETTINGS: dict[str, Any] = {"language": "en", "theme": "system", "chat_model": "default",
                                    "answer_length": "medium"}
SETTINGS_TYPES: dict[str, type] = {k: str for k in DEFAULT_SETTINGS}
MAX_SETTINGS_BYTES = 16 * 1024
MAX_TEXT_BYTES = 2_000_000
PROFILE_FIELDS = ("username", "avatar", "bio")
NOTE_KINDS = ("note", "summary", "mindmap")


def iso(ts: float | datetime | None = None) -> str:
    d = ts if isinstance(ts, datetime) else datetime.fromtimestamp(ts if ts is not None else time.time(), UTC)
    return d.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _str(body: dict[str, Any], key: str, limit: int, default: str = "") -> str:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string", context={"field": key})
    if len(value) > limit:
        raise BadRequest(f"{key} is longer than {limit} characters", context={"field": key, "max": limit})
    return value


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", context={})
    return body


class StudioService:
    def __init__(self, data: Any, auth: Any, media: Any, knowledge: Any, *, allow_private: bool,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.data = data          # DataService
        self.auth = auth          # AuthService
        self.media = media        # MediaService
        self.kb = knowledge       # KnowledgeService
        self.allow_private = allow_private
        self.clock = clock

    # -- who ---------------------------------------------------------------------------------
    @staticmethod
    def owner(caller: Caller) -> str:
        if caller.id is None:
            raise Unauthorized("Sign in to use Nano Studio", context={})
        return str(caller.id)

    @staticmethod
    def kcaller(caller: Caller) -> Caller:
        """The user as owner for Knowledge and Media calls: the app has checked ownership."""
        return Caller(user=caller.user, role=SYSTEM.role, via="system")

    # -- Data helpers --------------------------------------------------------------------------
    async def _rows(self, entity: str, where: dict[str, Any], **query: Any) -> tuple[list[dict[str, Any]], int]:
        rows, meta = await self.data.read_many(entity, {"where": where, "count": True, **query}, SYSTEM)
        return [dict(r) for r in rows], int(meta.get("count", len(rows)))

    async def _one(self, entity: str, where: dict[str, Any]) -> dict[str, Any] | None:
        rows, _ = await self._rows(entity, where, limit=1)
        return rows[0] if rows else None

    # -- profile -------------------------------------------------------------------------------
    async def ensure_profile(self, user_id: str, username: str = "") -> dict[str, Any]:
        row = await self._one(E.PROFILES, {"owner_id": user_id})
        if row is None:
            try:
                row = dict(await self.data.create(E.PROFILES, {
                    "owner_id": user_id, "username": username, "avatar": "", "bio": "",
                    "created_at": iso(self.clock())}, SYSTEM))
            except NodebaseError:  # created concurrently
                row = await self._one(E.PROFILES, {"owner_id": user_id})
                assert row is not None
        return row

    async def profile(self, caller: Caller) -> dict[str, Any]:
        uid = self.owner(caller)
        row = await self.ensure_profile(uid)
        user = await self.auth.user_view(caller.id) or {}
        return {"id": caller.id, "email": user.get("email"), "username": row.get("username") or "",
                "avatar": row.get("avatar") or "", "bio": row.get("bio") or "",
                "created_at": row.get("created_at")}

    async def update_profile(self, caller: Caller, body: Any) -> dict[str, Any]:
        uid = self.owner(caller)
        body = _object(body)
        refused = sorted(set(body) - set(PROFILE_FIELDS))
        if refused:
            raise BadRequest(f"these fields cannot be changed here: {', '.join(refused)}",
                             context={"fields": refused, "allowed": list(PROFILE_FIELDS)})
        changes = {k: _str(body, k, 2000) for k in PROFILE_FIELDS if k in body}
        row = await self.ensure_profile(uid)
        if changes:
            await self.data.update_one(E.PROFILES, row["id"], changes, SYSTEM)
        return await self.profile(caller)

    # -- check-ins -----------------------------------------------------------------------------
    async def _dates(self, uid: str) -> list[date]:
        rows, _ = await self._rows(E.CHECKINS, {"owner_id": uid}, limit=10000, select=["date"])
        return [date.fromisoformat(r["date"]) for r in rows]

    async def check_in(self, caller: Caller) -> dict[str, Any]:
        uid = self.owner(caller)
        today = self.clock().astimezone(UTC).date()
        key = f"{uid}:{today.isoformat()}"
        if await self._one(E.CHECKINS, {"day_key": key}) is not None:
            raise Conflict("already checked in today (UTC)", context={"date": today.isoformat()})
        try:
            await self.data.create(E.CHECKINS, {"owner_id": uid, "date": today.isoformat(), "day_key": key},
                                   SYSTEM)
        except NodebaseError as exc:
            if exc.status == 409:
                raise Conflict("already checked in today (UTC)", context={"date": today.isoformat()}) from None
            raise
        s = stats(await self._dates(uid), today)
        return {"date": today.isoformat(), "streak": s.streak, "total": s.total}

    async def check_in_stats(self, caller: Caller) -> dict[str, Any]:
        uid = self.owner(caller)
        s = stats(await self._dates(uid), self.clock().astimezone(UTC).date())
        return {"total": s.total, "streak": s.streak, "longest_streak": s.longest_streak,
                "last_date": s.last_date.isoformat() if s.last_date else None,
                "month": [d.isoformat() for d in s.month]}

    # -- settings ------------------------------------------------------------------------------
    async def settings(self, caller: Caller) -> dict[str, Any]:
        row = await self._one(E.SETTINGS, {"owner_id": self.owner(caller)})
        return dict(row["doc"]) if row and isinstance(row.get("doc"), dict) else dict(DEFAULT_SETTINGS)

    async def put_settings(self, caller: Caller, raw: bytes) -> dict[str, Any]:
        uid = self.owner(caller)
        if len(raw) > MAX_SETTINGS_BYTES:
            raise PayloadTooLarge(f"settings are limited to {MAX_SETTINGS_BYTES} bytes",
                                  context={"max": MAX_SETTINGS_BYTES, "size": len(raw)})
        try:
            doc = json.loads(raw)
        except ValueError:
            raise BadRequest("the body must be JSON", context={}) from None
        doc = _object(doc)
        wrong = [k for k, t in SETTINGS_TYPES.items() if k in doc and not isinstance(doc[k], t)]
        if wrong:
            raise ValidationFailed(f"wrong type for {', '.join(wrong)}: a string is expected",
                                   context={"fields": wrong})
        row = await self._one(E.SETTINGS, {"owner_id": uid})
        if row is None:
            await self.data.create(E.SETTINGS, {"owner_id": uid, "doc": doc}, SYSTEM)
        else:
            await self.data.update_one(E.SETTINGS, row["id"], {"doc": doc}, SYSTEM)
        return doc

    # -- sessions ------------------------------------------------------------------------------
    async def _session_row(self, caller: Caller, session_id: Any) -> dict[str, Any]:
        uid = self.owner(caller)
        row = None
        if isinstance(session_id, (str, int)) and str(session_id).isdigit():
            row = await self._one(E.SESSIONS, {"id": int(session_id), "owner_id": uid})
        if row is None:
            raise NotFound("Session not found", context={"session_id": session_id})
        return row

    async def _session_view(self, caller: Caller, row: dict[str, Any]) -> dict[str, Any]:
        col = await self.kb.get_collection(self.kcaller(caller), row["collection_id"])
        _, notes = await self._rows(E.NOTES, {"session_id": str(row["id"]), "owner_id": row["owner_id"]},
                                    limit=0)
        return {"id": str(row["id"]), "title": row["title"] or "", "description": row["description"] or "",
                "created_at": row["created_at"], "updated_at": row["updated_at"],
                "source_count": col.document_count, "note_count": notes}

    async def list_sessions(self, caller: Caller, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        uid = self.owner(caller)
        rows, total = await self._rows(E.SESSIONS, {"owner_id": uid}, sort="-id", limit=limit, offset=offset)
        return [await self._session_view(caller, r) for r in rows], total

    async def get_session(self, caller: Caller, session_id: Any) -> dict[str, Any]:
        row = await self._session_row(caller, session_id)
        view = await self._session_view(caller, row)
        view["sources"] = await self.sources_of(caller, row)
        notes, _ = await self._rows(E.NOTES, {"session_id": str(row["id"]), "owner_id": row["owner_id"]},
                                    sort="id", limit=1000)
        view["notes"] = [self._note_view(n) for n in notes]
        return view

    async def create_session(self, caller: Caller, title: str, description: str = "") -> dict[str, Any]:
        uid = self.owner(caller)
        col = await self.kb.create_collection(self.kcaller(caller), (title or "Untitled")[:200], "Nano Studio session")
        now = iso(self.clock())
        return dict(await self.data.create(E.SESSIONS, {
            "owner_id": uid, "title": title, "description": description, "collection_id": col.id,
            "created_at": now, "updated_at": now}, SYSTEM))

    async def update_session(self, caller: Caller, session_id: Any, body: Any) -> dict[str, Any]:
        row = await self._session_row(caller, session_id)
        body = _object(body)
        changes = {k: _str(body, k, 2000 if k == "description" else 300) for k in ("title", "description")
                   if k in body}
        changes["updated_at"] = iso(self.clock())
        row = dict(await self.data.update_one(E.SESSIONS, row["id"], changes, SYSTEM))
        return await self._session_view(caller, row)

    async def delete_session(self, caller: Caller, session_id: Any) -> None:
        row = await self._session_row(caller, session_id)
        kc = self.kcaller(caller)
        docs = await self.kb.list_documents(kc, row["collection_id"])
        await self.kb.delete_collection(kc, row["collection_id"])  # chunks, vectors, stored files
        await self._forget_uploads(row["owner_id"], [d.id for d in docs], delete_files=True)
        await self.data.delete_many(E.NOTES, {"session_id": str(row["id"]), "owner_id": row["owner_id"]}, SYSTEM)
        await self.data.delete_one(E.SESSIONS, row["id"], SYSTEM)

    # -- sources -------------------------------------------------------------------------------
    async def _object_keys(self, uid: str, doc_ids: list[str]) -> dict[str, str]:
        if not doc_ids:
            return {}
        rows, _ = await self._rows(E.UPLOADS, {"owner_id": uid, "document_id": {"$in": doc_ids}}, limit=1000)
        return {r["document_id"]: r["object_key"] for r in rows}

    def _source_view(self, d: Document, session_id: str, object_key: str | None) -> dict[str, Any]:
        kind = "url" if d.kind == "url" else "text" if d.kind == "text" else "pdf"
        out: dict[str, Any] = {"id": d.id, "session_id": session_id, "kind": kind, "title": d.title,
                               "status": str(d.state), "chunk_count": d.chunk_count,
                               "char_count": d.char_count, "created_at": iso(d.created_at)}
        if kind == "url":
            out["url"] = d.source
        if object_key:
            out["object_key"] = object_key
        if d.error:
            out["error"] = d.error
        return out

    async def sources_of(self, caller: Caller, row: dict[str, Any]) -> list[dict[str, Any]]:
        docs = await self.kb.list_documents(self.kcaller(caller), row["collection_id"])
        keys = await self._object_keys(row["owner_id"], [d.id for d in docs])
        return [self._source_view(d, str(row["id"]), keys.get(d.id)) for d in docs]

    async def _source(self, caller: Caller, source_id: Any) -> tuple[Document, dict[str, Any]]:
        uid = self.owner(caller)
        try:
            d = await self.kb.get_document(self.kcaller(caller), source_id)
        except (NotFound, BadRequest):
            raise NotFound("Source not found", context={"source_id": source_id}) from None
        row = await self._one(E.SESSIONS, {"collection_id": d.collection_id, "owner_id": uid})
        if d.owner_id != uid or row is None:
            raise NotFound("Source not found", context={"source_id": source_id})
        return d, row

    async def _check_url(self, url: Any) -> str:
        if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
            raise BadRequest("url must be an http(s) URL", context={"field": "url"})
        parts = urlsplit(url)
        if not parts.hostname:
            raise BadRequest("url has no host", context={"field": "url"})
        if not self.allow_private:
            try:
                addresses = await resolve(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
            except NodebaseError as exc:
                raise BadRequest(f"the URL's host cannot be resolved: {exc.message}", context={"field": "url"}) from None
            for ip in addresses:
                reason = address_refusal(ip)
                if reason:
                    raise BadRequest(f"refusing to fetch {parts.hostname!r}: it resolves to {reason} "
                                     "(NODEBASE_FETCH_ALLOW_PRIVATE=true allows it)",
                                     context={"field": "url", "host": parts.hostname})
        return url

    async def add_source(self, caller: Caller, row: dict[str, Any], kind: Any, body: dict[str, Any],
                         file: tuple[bytes, str, str] | None = None) -> dict[str, Any]:
        """``file``: (bytes, filename, content type) of a multipart PDF."""
        kc = self.kcaller(caller)
        col = row["collection_id"]
        title = _str(body, "title", 300)
        object_key = None
        if kind == "text":
            text = body.get("text")
            if not isinstance(text, str) or not text.strip():
                raise BadRequest("text must be a non-empty string", context={"field": "text"})
            if len(text.encode()) > MAX_TEXT_BYTES:
                raise PayloadTooLarge(f"text is limited to {MAX_TEXT_BYTES} bytes",
                                      context={"field": "text", "max": MAX_TEXT_BYTES})
            d = await self.kb.add_text(kc, col, text, title=title or text.strip().splitlines()[0][:80])
        elif kind == "url":
            url = await self._check_url(body.get("url"))
            d = await self.kb.add_url(kc, col, url, title=title)
        elif kind == "pdf":
            if file is not None:
                data, filename, ctype = file
                if not data.startswith(b"%PDF"):
                    raise BadRequest("file must be a PDF", context={"field": "file", "filename": filename})
                d = await self.kb.add_file(kc, col, data, filename=filename or "upload.pdf",
                                           content_type="application/pdf", title=title or filename)
            else:
                object_key = body.get("object_key")
                if not isinstance(object_key, str) or not object_key:
                    raise BadRequest("a PDF needs a multipart file or an object_key from "
                                     "POST /api/upload/presigned-url", context={"field": "object_key"})
                upload = await self._one(E.UPLOADS, {"object_key": object_key, "owner_id": row["owner_id"]})
                if upload is None or upload.get("document_id"):
                    raise NotFound("Upload not found", context={"object_key": object_key})
                await self._complete_upload(object_key)
                d = await self.kb.add_media(kc, col, object_key, title=title or object_key.split("-", 1)[-1])
                await self.data.update_one(E.UPLOADS, upload["id"], {"document_id": d.id}, SYSTEM)
        else:
            raise BadRequest('kind must be "url", "text" or "pdf"', context={"field": "kind", "kind": kind})
        await self.data.update_one(E.SESSIONS, row["id"], {"updated_at": iso(self.clock())}, SYSTEM)
        return self._source_view(d, str(row["id"]), object_key)

    async def _complete_upload(self, key: str) -> None:
        """Record the Media row of an upload (S3: the bytes went straight to the bucket; the
        call is idempotent, and on local storage the signed PUT already recorded it)."""
        try:
            await self.media.complete_upload(SYSTEM, key)
        except NotFound:
            raise NotFound("The upload has not arrived", context={"object_key": key}) from None

    async def presign_upload(self, caller: Caller, body: Any, base_url: str) -> dict[str, Any]:
        uid = self.owner(caller)
        body = _object(body)
        filename = body.get("filename", body.get("fileName"))
        ctype = body.get("contentType", "application/pdf")
        answer: dict[str, Any] = await self.media.presign_upload(SYSTEM, filename, ctype, body.get("expiresIn"),
                                                                 base_url)
        await self.data.create(E.UPLOADS, {"owner_id": uid, "object_key": answer["objectKey"]}, SYSTEM)
        return answer

    async def _forget_uploads(self, uid: str, doc_ids: list[str], *, delete_files: bool) -> None:
        keys = await self._object_keys(uid, doc_ids)
        for key in keys.values():
            if delete_files:
                with contextlib.suppress(NotFound):
                    await self.media.delete_file(SYSTEM, key)
        if keys:
            await self.data.delete_many(E.UPLOADS, {"owner_id": uid, "document_id": {"$in": list(keys)}}, SYSTEM)

    async def delete_source(self, caller: Caller, source_id: Any) -> None:
        d, row = await self._source(caller, source_id)
        await self.kb.delete_document(self.kcaller(caller), d.id)
        await self._forget_uploads(row["owner_id"], [d.id], delete_files=True)

    async def rag_status(self, caller: Caller, source_id: Any) -> dict[str, Any]:
        d, _ = await self._source(caller, source_id)
        out: dict[str, Any] = {"id": d.id, "status": str(d.state),
                               "progress": 1.0 if d.state == DocumentState.READY else round(float(d.progress), 3),
                               "chunk_count": d.chunk_count}
        if d.error:
            out["error"] = d.error
        return out

    # -- notes ---------------------------------------------------------------------------------
    @staticmethod
    def _note_view(n: dict[str, Any]) -> dict[str, Any]:
        return {"id": str(n["id"]), "session_id": n["session_id"], "kind": n["kind"], "title": n["title"] or "",
                "content": n["content"] or "", "created_at": n["created_at"], "updated_at": n["updated_at"]}

    async def _require_ready(self, caller: Caller, row: dict[str, Any],
                             source_ids: list[str] | None = None) -> list[Document]:
        docs = await self.kb.list_documents(self.kcaller(caller), row["collection_id"])
        if source_ids is not None:
            ids = {d.id for d in docs}
            missing = [s for s in source_ids if s not in ids]
            if missing:
                raise NotFound("Source not found in this session", context={"source_ids": missing})
            docs = [d for d in docs if d.id in set(source_ids)]
        ready = [d for d in docs if d.state == DocumentState.READY]
        if not ready:
            raise Conflict("the session has no ready source yet: wait for rag-status to be ready",
                           context={"session_id": str(row["id"]),
                                    "sources": {d.id: str(d.state) for d in docs}})
        return ready

    async def create_note(self, caller: Caller, session_id: Any, body: Any) -> dict[str, Any]:
        row = await self._session_row(caller, session_id)
        body = _object(body)
        kind = body.get("kind", "note")
        if kind not in NOTE_KINDS:
            raise BadRequest('kind must be "note", "summary" or "mindmap"', context={"field": "kind", "kind": kind})
        title = _str(body, "title", 300)
        content = body.get("content")
        if content is not None and not isinstance(content, str):
            raise BadRequest("content must be a string", context={"field": "content"})
        if content is None and kind == "note":
            raise BadRequest("a note needs content", context={"field": "content"})
        if content is None:
            await self._require_ready(caller, row)
            kc = self.kcaller(caller)
            if kind == "summary":
                content = await self._collect(await self.kb.summary(kc, row["collection_id"]))
                title = title or "Summary"
            else:
                content = await self.kb.mind_map(kc, row["collection_id"])
                if not is_outline(content):
                    content = await self.kb.mind_map(kc, row["collection_id"], extractive=True)
                title = title or "Mind map"
        if kind == "mindmap" and not is_outline(content):
            raise BadRequest("a mind map is a Markdown heading outline: one # root first, then ## "
                             "and ### headings, no level skipped", context={"field": "content"})
        if len(content) > 1_000_000:
            raise PayloadTooLarge("content is limited to 1,000,000 characters", context={"field": "content"})
        now = iso(self.clock())
        note = await self.data.create(E.NOTES, {
            "owner_id": row["owner_id"], "session_id": str(row["id"]), "kind": kind, "title": title,
            "content": content, "created_at": now, "updated_at": now}, SYSTEM)
        return self._note_view(dict(note))

    @staticmethod
    async def _collect(events: AsyncIterator[AnswerEvent]) -> str:
        parts: list[str] = []
        async for e in events:
            if e.type == "token":
                parts.append(e.text or "")
            elif e.type == "error":
                raise BadRequest(f"generating the note failed: {e.text}", context={})
        return "".join(parts).strip()

    async def delete_note(self, caller: Caller, note_id: Any) -> None:
        uid = self.owner(caller)
        note = None
        if isinstance(note_id, str) and note_id.isdigit():
            note = await self._one(E.NOTES, {"id": int(note_id), "owner_id": uid})
        if note is None:
            raise NotFound("Note not found", context={"note_id": note_id})
        await self.data.delete_one(E.NOTES, note["id"], SYSTEM)

    # -- chat ----------------------------------------------------------------------------------
    async def chat(self, caller: Caller, body: Any) -> tuple[AsyncIterator[AnswerEvent], bool]:
        """Validated and ready to stream → (Knowledge answer events, stream?)."""
        body = _object(body)
        row = await self._session_row(caller, body.get("session_id"))
        messages = body.get("messages")
        if (not isinstance(messages, list) or not messages
                or not all(isinstance(m, dict) and isinstance(m.get("role"), str)
                           and isinstance(m.get("content"), str) for m in messages)):
            raise BadRequest('messages must be a non-empty list of {"role", "content"} strings',
                             context={"field": "messages"})
        users = [m for m in messages if m["role"] == "user"]
        if not users or not users[-1]["content"].strip():
            raise BadRequest("messages must end with a user question", context={"field": "messages"})
        stream = body.get("stream", True)
        if not isinstance(stream, bool):
            raise BadRequest("stream must be true or false", context={"field": "stream"})
        source_ids = body.get("source_ids")
        if source_ids is not None and (not isinstance(source_ids, list)
                                       or not all(isinstance(s, str) for s in source_ids)):
            raise BadRequest("source_ids must be a list of source ids", context={"field": "source_ids"})
        ready = await self._require_ready(caller, row, source_ids)
        question = users[-1]["content"]
        last = len(messages) - 1 - messages[::-1].index(users[-1])
        history = [{"role": m["role"], "content": m["content"]} for m in messages[:last]
                   if m["role"] in ("user", "assistant")]
        events = await self.kb.ask(self.kcaller(caller), question, collection_ids=[row["collection_id"]],
                                   document_ids=[d.id for d in ready], history=history)
        return events, stream

    # -- health --------------------------------------------------------------------------------
    async def vector_check(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        count = await self.kb.vectors.count()
        return {"vector_store": str(self.kb.vectors.describe().get("type", "")), "vectors": count,
                "latency_ms": round((time.perf_counter() - t0) * 1000, 3)}

    async def db_check(self) -> float:
        t0 = time.perf_counter()
        await self.data.count(E.SESSIONS, None, SYSTEM)
        return round((time.perf_counter() - t0) * 1000, 3)
