"""studio.md route by route, with two users, on SQLite and PostgreSQL: bodies, status codes,
error cases, and another user's id answering 404 on every route."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.apps.studio.conftest import chat_stream, register, text_session, wait_source
from tests.knowledge.pdfs import make_pdf
from tests.nodeserver import NodeServer

PANDAS = ("Giant pandas eat bamboo for most of the day. They live in the mountains of central "
          "China. A newborn panda weighs about one hundred grams. ") * 4
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
SESSION_KEYS = {"id", "title", "description", "created_at", "updated_at", "source_count", "note_count"}
NOTE_KEYS = {"id", "session_id", "kind", "title", "content", "created_at", "updated_at"}


def error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    body: dict[str, Any] = r.json()
    assert set(body) >= {"error", "type", "context"} and body["error"]
    return body


def test_account_routes(node: NodeServer) -> None:
    email = "acct@studio.test"
    r = httpx.post(node.url + "/api/auth/register", json={"email": email, "password": "Secret-pass-1"})
    assert r.status_code == 201 and r.json()["user"]["email"] == email
    error(httpx.post(node.url + "/api/auth/register", json={"email": email, "password": "Secret-pass-1"}), 409)
    r = httpx.post(node.url + "/api/auth/login", json={"email": email, "password": "Secret-pass-1"})
    assert r.status_code == 200 and set(r.json()) == {"user", "token"}
    token = r.json()["token"]
    error(httpx.post(node.url + "/api/auth/login", json={"email": email, "password": "wrong-pass-1"}), 401)
    r = httpx.post(node.url + "/api/auth/logout", headers={"Authorization": f"Bearer {token}"},
                   json={})
    assert r.status_code == 200 and r.json() == {"ok": True}
    # bknd's own route keeps bknd's status
    r = httpx.post(node.url + "/api/auth/password/register",
                   json={"email": "bknd@studio.test", "password": "Secret-pass-1"})
    assert r.status_code == 200 and "token" in r.json()
    # the same users as the rest of nodebase: a studio login works for /api/auth/me
    assert httpx.get(node.url + "/api/auth/me", headers={"Authorization": f"Bearer {token}"}).json()["user"][
        "email"] == email


def test_signed_out_callers_get_401(node: NodeServer) -> None:
    for method, path in [("GET", "/api/user/profile"), ("POST", "/api/user/check-in"),
                         ("GET", "/api/user/settings"), ("GET", "/api/sessions"),
                         ("POST", "/api/sessions/from-text"), ("POST", "/api/chat/completions")]:
        error(httpx.request(method, node.url + path, json={"text": "x"}), 401)
    assert httpx.get(node.url + "/health").status_code == 200


def test_profile(alice: httpx.Client) -> None:
    p = alice.get("/api/user/profile").json()["data"]
    assert set(p) == {"id", "email", "username", "avatar", "bio", "created_at"}
    assert p["username"] == "alice" and ISO_Z.match(p["created_at"])
    r = alice.patch("/api/user/profile", json={"bio": "reads papers", "avatar": "a.png"})
    assert r.status_code == 200 and r.json()["data"]["bio"] == "reads papers"
    assert alice.get("/api/user/profile").json()["data"]["avatar"] == "a.png"
    for field in ("email", "role", "password"):
        assert field in error(alice.patch("/api/user/profile", json={field: "x"}), 400)["context"]["fields"]
    error(alice.patch("/api/user/profile", json={"bio": 5}), 400)


def test_check_in(bob: httpx.Client, node: NodeServer) -> None:
    c = register(node)
    r = c.post("/api/user/check-in")
    assert r.status_code == 201
    first = r.json()["data"]
    assert first["streak"] == 1 and first["total"] == 1 and re.match(r"^\d{4}-\d\d-\d\d$", first["date"])
    error(c.post("/api/user/check-in"), 409)
    s = c.get("/api/user/check-in/stats").json()["data"]
    assert s == {"total": 1, "streak": 1, "longest_streak": 1, "last_date": first["date"],
                 "month": [first["date"]]}
    # the other user's check-ins are their own
    assert bob.get("/api/user/check-in/stats").json()["data"]["total"] == 0


def test_settings(alice: httpx.Client, bob: httpx.Client) -> None:
    d = alice.get("/api/user/settings").json()["data"]
    assert set(d) >= {"language", "theme", "chat_model", "answer_length"}
    doc = {"language": "zh", "theme": "dark", "chat_model": "x", "answer_length": "short", "extra": [1, 2]}
    r = alice.put("/api/user/settings", json=doc)
    assert r.status_code == 200 and r.json()["data"] == doc
    assert alice.get("/api/user/settings").json()["data"] == doc
    assert bob.get("/api/user/settings").json()["data"]["language"] == "en"
    assert error(alice.put("/api/user/settings", json={"theme": 1}), 422)["context"]["fields"] == ["theme"]
    error(alice.put("/api/user/settings", json={"blob": "x" * 17000}), 413)
    error(alice.put("/api/user/settings", json=[1]), 400)
    assert alice.get("/api/user/settings").json()["data"] == doc


def test_text_session_notes_chat_and_isolation(alice: httpx.Client, bob: httpx.Client) -> None:
    sid, src = text_session(alice, PANDAS, "Pandas")
    st = wait_source(alice, src)
    assert st["status"] == "ready" and st["progress"] == 1.0 and st["chunk_count"] >= 1
    s = alice.get(f"/api/sessions/{sid}").json()["data"]
    assert set(s) == SESSION_KEYS | {"sources", "notes"} and s["source_count"] == 1
    assert all(ISO_Z.match(s[k]) for k in ("created_at", "updated_at"))
    (source,) = s["sources"]
    assert source["id"] == src and source["kind"] == "text" and source["status"] == "ready"
    assert source["session_id"] == sid and source["char_count"] == len(PANDAS)

    # notes: plain, generated summary, generated mind map
    r = alice.post(f"/api/sessions/{sid}/notes", json={"kind": "note", "title": "mine", "content": "hello"})
    assert r.status_code == 201
    note = r.json()["data"]
    assert set(note) == NOTE_KEYS and note["content"] == "hello" and note["session_id"] == sid
    summary = alice.post(f"/api/sessions/{sid}/notes", json={"kind": "summary"}).json()["data"]
    assert summary["kind"] == "summary" and "bamboo" in summary["content"]
    mindmap = alice.post(f"/api/sessions/{sid}/notes", json={"kind": "mindmap"}).json()["data"]
    lines = [ln for ln in mindmap["content"].splitlines() if ln.strip()]
    levels = [len(ln) - len(ln.lstrip("#")) for ln in lines if ln.startswith("#")]
    assert lines[0].startswith("# ") and levels.count(1) == 1 and max(levels) <= 3
    assert all(b <= a + 1 for a, b in zip(levels, levels[1:], strict=False))
    error(alice.post(f"/api/sessions/{sid}/notes", json={"kind": "mindmap", "content": "## no root"}), 400)
    error(alice.post(f"/api/sessions/{sid}/notes", json={"kind": "poem"}), 400)
    assert alice.get(f"/api/sessions/{sid}").json()["data"]["note_count"] == 3

    # chat, streaming: SSE frames, exactly one citations frame before [DONE]
    body = {"session_id": sid, "messages": [{"role": "user", "content": "What do pandas eat?"}]}
    text, frames, raw = chat_stream(alice, body)
    assert raw[-1] == "[DONE]"
    with_cites = [f for f in frames if "citations" in f]
    assert len(with_cites) == 1 and frames[-1] is with_cites[0]
    cites = with_cites[0]["citations"]
    assert "bamboo" in text
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", text)}
    assert markers and markers <= {c["index"] for c in cites}
    for c in cites:
        assert set(c) == {"index", "source_id", "chunk_id", "title", "text", "score"}
        assert c["source_id"] == src and c["text"] in PANDAS
    assert all(f["object"] == "chat.completion.chunk" for f in frames)
    # non-streaming
    r = alice.post("/api/chat/completions", json={**body, "stream": False})
    assert r.status_code == 200
    obj = r.json()
    assert obj["object"] == "chat.completion" and "bamboo" in obj["choices"][0]["message"]["content"]
    assert obj["citations"] and obj["citations"][0]["source_id"] == src

    # another user: 404 on every route naming alice's ids, and nothing of hers listed
    assert bob.get("/api/sessions").json()["meta"]["total"] == 0
    error(bob.get(f"/api/sessions/{sid}"), 404)
    error(bob.patch(f"/api/sessions/{sid}", json={"title": "mine now"}), 404)
    error(bob.post(f"/api/sessions/{sid}/sources", json={"kind": "text", "text": "x"}), 404)
    error(bob.post(f"/api/sessions/{sid}/notes", json={"kind": "note", "content": "x"}), 404)
    error(bob.post(f"/api/sessions/{sid}/notes", json={"kind": "summary"}), 404)
    error(bob.get(f"/api/sources/{src}/rag-status"), 404)
    error(bob.delete(f"/api/sources/{src}"), 404)
    error(bob.delete(f"/api/sessions/notes/{note['id']}"), 404)
    error(bob.post("/api/chat/completions", json=body), 404)
    error(bob.post("/api/chat/completions", json={**body, "stream": False}), 404)
    error(bob.delete(f"/api/sessions/{sid}"), 404)
    # bob's own session cannot name alice's source either
    bsid, bsrc = text_session(bob, "Koalas sleep most of the day in eucalyptus trees. " * 5)
    wait_source(bob, bsrc)
    error(bob.post("/api/chat/completions", json={"session_id": bsid, "source_ids": [src],
                                                  "messages": body["messages"]}), 404)
    error(alice.get(f"/api/sources/{bsrc}/rag-status"), 404)
    # ... and alice's things are untouched
    assert alice.get(f"/api/sessions/{sid}").json()["data"]["title"] == "Pandas"

    # patch, delete a note, delete the session (cascade)
    r = alice.patch(f"/api/sessions/{sid}", json={"title": "Giant pandas", "description": "d"})
    assert r.status_code == 200 and r.json()["data"]["title"] == "Giant pandas"
    assert set(r.json()["data"]) == SESSION_KEYS
    assert alice.delete(f"/api/sessions/notes/{note['id']}").json() == {"ok": True}
    error(alice.delete(f"/api/sessions/notes/{note['id']}"), 404)
    assert alice.delete(f"/api/sessions/{sid}").json() == {"ok": True}
    error(alice.get(f"/api/sessions/{sid}"), 404)
    error(alice.get(f"/api/sources/{src}/rag-status"), 404)
    error(alice.delete(f"/api/sessions/notes/{summary['id']}"), 404)


def test_sources_of_every_kind_and_their_deletion(alice: httpx.Client, page_server: Any) -> None:
    base, pages = page_server
    pages["/studio-page"] = ("text/html", b"<html><head><title>Red pandas</title></head><body><article>"
                             + b"<p>Red pandas are small mammals that eat bamboo leaves and fruit.</p>" * 6
                             + b"</article></body></html>")
    r = alice.post("/api/sessions/from-url", json={"url": base + "/studio-page"})
    assert r.status_code == 202, r.text
    sid = r.json()["data"]["session"]["id"]
    url_src = r.json()["data"]["source"]
    assert url_src["kind"] == "url" and url_src["url"] == base + "/studio-page"
    assert url_src["status"] in ("pending", "processing", "ready")
    assert wait_source(alice, url_src["id"])["status"] == "ready"
    pdf = make_pdf(["Snow leopards live in the high mountains of Asia."] * 2, title="Leopards")
    r = alice.post(f"/api/sessions/{sid}/sources", files={"file": ("leopards.pdf", pdf, "application/pdf")},
                   data={"kind": "pdf"})
    assert r.status_code == 202, r.text
    pdf_src = r.json()["data"]
    assert pdf_src["kind"] == "pdf" and pdf_src["session_id"] == sid
    r = alice.post(f"/api/sessions/{sid}/sources", json={"kind": "text", "text": "Otters hold hands. " * 10})
    assert r.status_code == 202
    text_src = r.json()["data"]
    assert wait_source(alice, pdf_src["id"])["status"] == "ready"
    assert wait_source(alice, text_src["id"])["status"] == "ready"
    assert alice.get(f"/api/sessions/{sid}").json()["data"]["source_count"] == 3
    # chat restricted to one source cites only it
    r = alice.post("/api/chat/completions", json={
        "session_id": sid, "stream": False, "source_ids": [pdf_src["id"]],
        "messages": [{"role": "user", "content": "Where do snow leopards live?"}]})
    assert r.status_code == 200, r.text
    assert {c["source_id"] for c in r.json()["citations"]} == {pdf_src["id"]}
    # deleting a source removes it from the session and from retrieval
    assert alice.delete(f"/api/sources/{pdf_src['id']}").json() == {"ok": True}
    error(alice.get(f"/api/sources/{pdf_src['id']}/rag-status"), 404)
    ids = {s["id"] for s in alice.get(f"/api/sessions/{sid}").json()["data"]["sources"]}
    assert ids == {url_src["id"], text_src["id"]}
    r = alice.post("/api/chat/completions", json={
        "session_id": sid, "stream": False,
        "messages": [{"role": "user", "content": "Where do snow leopards live?"}]})
    assert pdf_src["id"] not in {c["source_id"] for c in r.json()["citations"]}
    # a PDF session by multipart
    r = alice.post("/api/sessions/from-pdf", files={"file": ("l.pdf", pdf, "application/pdf")},
                   data={"title": "Leopard paper"})
    assert r.status_code == 202 and r.json()["data"]["session"]["title"] == "Leopard paper"
    assert wait_source(alice, r.json()["data"]["source"]["id"])["status"] == "ready"
    alice.delete(f"/api/sessions/{sid}")
    alice.delete(f"/api/sessions/{r.json()['data']['session']['id']}")


def test_bad_input(alice: httpx.Client) -> None:
    error(alice.post("/api/sessions/from-text", json={"text": ""}), 400)
    error(alice.post("/api/sessions/from-text", json={"text": "x" * 2_000_001}), 413)
    error(alice.post("/api/sessions/from-url", json={"url": "ftp://example.org/x"}), 400)
    error(alice.post("/api/sessions/from-pdf", json={}), 400)
    error(alice.post("/api/sessions/from-pdf", files={"file": ("x.pdf", b"not a pdf", "application/pdf")}), 400)
    error(alice.post("/api/sessions/from-pdf", json={"object_key": "nobody-uploaded.pdf"}), 404)
    error(alice.get("/api/sessions/not-a-number"), 404)
    error(alice.get("/api/sessions?limit=x"), 400)
    error(alice.post("/api/chat/completions", json={"session_id": "1", "messages": "hi"}), 404)
    # failed inputs leave no half-made session behind
    assert alice.get("/api/sessions").json()["meta"]["total"] == 0


def test_chat_needs_a_ready_source(alice: httpx.Client, page_server: Any) -> None:
    base, pages = page_server
    pages["/empty-page"] = ("text/html", b"<html><body></body></html>")
    r = alice.post("/api/sessions/from-url", json={"url": base + "/empty-page"})
    sid, src = r.json()["data"]["session"]["id"], r.json()["data"]["source"]["id"]
    st = wait_source(alice, src)
    assert st["status"] == "failed" and st["error"]
    msgs = [{"role": "user", "content": "anything?"}]
    assert "ready" in error(alice.post("/api/chat/completions", json={"session_id": sid, "messages": msgs}), 409)[
        "error"]
    error(alice.post(f"/api/sessions/{sid}/notes", json={"kind": "summary"}), 409)
    error(alice.post("/api/chat/completions", json={"session_id": sid, "messages": []}), 400)
    alice.delete(f"/api/sessions/{sid}")


def test_sessions_list_pages_newest_first(node: NodeServer) -> None:
    c = register(node)
    ids = [text_session(c, f"Session number {i} talks about rivers and lakes.", f"s{i}")[0] for i in range(3)]
    r = c.get("/api/sessions", params={"limit": 2, "offset": 0}).json()
    assert [s["id"] for s in r["data"]] == ids[::-1][:2] and r["meta"] == {"total": 3, "limit": 2, "offset": 0}
    r = c.get("/api/sessions", params={"limit": 2, "offset": 2}).json()
    assert [s["id"] for s in r["data"]] == [ids[0]]
    assert all(set(s) == SESSION_KEYS for s in r["data"])


def test_health_routes(node: NodeServer, backend: str, alice: httpx.Client) -> None:
    assert httpx.get(node.url + "/health").status_code == 200
    error(httpx.get(node.url + "/db-test"), 401)
    error(httpx.get(node.url + "/qdrant-test"), 401)
    r = alice.get("/db-test").json()
    assert r["ok"] is True and r["database"] == ("postgresql" if backend == "postgres" else "sqlite")
    assert r["latency_ms"] >= 0
    r = alice.get("/qdrant-test").json()
    assert r["ok"] is True and r["vector_store"] == "embedded" and isinstance(r["vectors"], int)
