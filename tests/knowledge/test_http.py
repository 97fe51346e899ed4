"""/api/knowledge over HTTP against a real server with the real default embedder (WordLlama),
the guard of the Auth module, a local page server and a local OpenAI-protocol chat stub."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import admin_headers
from tests.knowledge.conftest import Stub, member, sse_events, start_node, wait_ready
from tests.knowledge.pdfs import make_pdf
from tests.nodeserver import NodeServer

PANDAS = ("Giant pandas live in the mountain forests of Sichuan. They eat bamboo for most of the "
          "day, up to fourteen kilograms of it. 大熊猫生活在四川的山区森林里，主要以竹子为食。")
RIVER = ("The Yangtze is the longest river in Asia and flows into the East China Sea. "
         "长江是亚洲最长的河流，最终流入东海。")
HTML = b"""<html><head><title>Tea in Yunnan</title><meta name="author" content="Li Wei"></head>
<body><nav>Home | About | Shop now!</nav><article><h1>Tea in Yunnan</h1>
<p>Pu-erh tea is fermented and aged in Yunnan province for many years before it is sold.</p>
<p>The old tea trees of Xishuangbanna are hundreds of years old and still picked by hand.</p>
<p>\xe6\x99\xae\xe6\xb4\xb1\xe8\x8c\xb6\xe4\xba\xa7\xe8\x87\xaa\xe4\xba\x91\xe5\x8d\x97\xe3\x80\x82</p>
</article><footer>Copyright footer text that should go away</footer></body></html>"""


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, llm_stub: Stub) -> Iterator[NodeServer]:
    server = start_node(tmp_path_factory.mktemp("kn-http"), env={
        "NODEBASE_LLM_URL": llm_stub.url + "/v1", "NODEBASE_LLM_MODEL": "cite",
        "NODEBASE_LLM_API_KEY": "sk-test-secret", "NODEBASE_LLM_TIMEOUT": "2",
        "NODEBASE_FETCH_ALLOW_PRIVATE": "true"})
    yield server
    server.stop()
    errors = server.server_errors()
    assert not errors, f"the server logged unhandled errors:\n{errors}"


@pytest.fixture(scope="module")
def alice(node: NodeServer) -> Iterator[httpx.Client]:
    with member(node) as c:
        yield c


@pytest.fixture(scope="module")
def bob(node: NodeServer) -> Iterator[httpx.Client]:
    with member(node) as c:
        yield c


def _collection(client: httpx.Client, name: str = "c") -> str:
    r = client.post("/api/knowledge/collections", json={"name": name})
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["id"])


def _text(client: httpx.Client, cid: str, text: str, title: str = "") -> dict[str, Any]:
    r = client.post(f"/api/knowledge/collections/{cid}/documents", json={"text": text, "title": title})
    assert r.status_code == 202, r.text
    assert r.json()["data"]["state"] == "pending"
    return wait_ready(client, r.json()["data"]["id"])


def _error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert set(body) >= {"error", "type", "context"}
    return body


def test_info_names_the_real_default_embedder(alice: httpx.Client) -> None:
    r = alice.get("/api/knowledge")
    assert r.json()["data"]["embedder"] == "wordllama-l2-supercat-256"
    assert r.json()["data"]["vector_store"]["type"] == "embedded"
    assert r.json()["data"]["answerer"] == "llm:cite"


def test_collection_document_search_flow(alice: httpx.Client) -> None:
    cid = _collection(alice, "animals")
    doc = _text(alice, cid, PANDAS, "Pandas")
    assert doc["state"] == "ready" and doc["chunk_count"] == 1 and doc["char_count"] == len(PANDAS)
    river = _text(alice, cid, RIVER, "Rivers")
    listed = alice.get(f"/api/knowledge/collections/{cid}/documents").json()["data"]
    assert [d["id"] for d in listed] == [doc["id"], river["id"]]
    got = alice.get(f"/api/knowledge/collections/{cid}").json()["data"]
    assert got["document_count"] == 2 and got["chunk_count"] == 2
    for q, want in (("what do pandas eat", doc["id"]), ("熊猫吃什么", doc["id"]),
                    ("长江", river["id"]), ("longest river", river["id"])):
        hits = alice.get("/api/knowledge/search", params={"q": q, "collection": cid}).json()["data"]
        assert hits[0]["document_id"] == want, q
        assert set(hits[0]) >= {"chunk_id", "text", "start", "end", "page", "score", "document_title"}
    # semantic: no shared word with the pandas text, the vector list still finds it
    hits = alice.get("/api/knowledge/search", params={"q": "animal diet", "mode": "vector"}).json()["data"]
    assert hits and hits[0]["ranks"] == {"vector": 1}
    r = alice.patch(f"/api/knowledge/collections/{cid}", json={"name": "Animals & rivers"})
    assert r.json()["data"]["name"] == "Animals & rivers"
    assert alice.delete(f"/api/knowledge/documents/{river['id']}").status_code == 200
    _error(alice.get(f"/api/knowledge/documents/{river['id']}"), 404)
    assert alice.delete(f"/api/knowledge/collections/{cid}").status_code == 200
    _error(alice.get(f"/api/knowledge/collections/{cid}"), 404)
    _error(alice.get("/api/knowledge/search", params={"q": "pandas", "collection": cid}), 404)


def test_bad_requests_are_4xx_json(alice: httpx.Client) -> None:
    cid = _collection(alice)
    base = f"/api/knowledge/collections/{cid}/documents"
    _error(alice.post("/api/knowledge/collections", json={"name": ""}), 400)
    _error(alice.post("/api/knowledge/collections", content=b"{nope", headers={"Content-Type": "application/json"}), 400)
    _error(alice.post(base, json={"text": "a", "url": "http://x"}), 400)
    _error(alice.post(base, json={"url": "file:///etc/passwd"}), 400)
    _error(alice.post(base, json={"text": 5}), 400)
    _error(alice.post(base, content=b"data", headers={"Content-Type": "application/pdf"}), 400)
    _error(alice.post(base + "?filename=x.bin", content=b"\x00\x01", headers={"Content-Type": "application/octet-stream"}), 400)
    _error(alice.get("/api/knowledge/search"), 400)
    _error(alice.get("/api/knowledge/search", params={"q": "x", "k": "many"}), 400)
    _error(alice.get("/api/knowledge/search", params={"q": "x", "k": "500"}), 400)
    _error(alice.get("/api/knowledge/search", params={"q": "x", "mode": "psychic"}), 400)
    _error(alice.post("/api/knowledge/ask", json={"question": ""}), 400)
    _error(alice.post("/api/knowledge/ask", json={"question": "x", "history": "no"}), 400)
    _error(alice.post("/api/knowledge/ask", json={"question": "x", "collection_ids": [1]}), 400)
    _error(alice.post("/api/knowledge/documents/nope/retry"), 404)


def test_pdf_upload_multipart_and_raw(alice: httpx.Client) -> None:
    cid = _collection(alice, "pdfs")
    pdf = make_pdf(["第一页：大熊猫以竹子为食。Pandas eat bamboo.", "Page two is about the Yangtze river."],
                   title="Animals and rivers")
    r = alice.post(f"/api/knowledge/collections/{cid}/documents",
                   files={"file": ("animals.pdf", pdf, "application/pdf")})
    assert r.status_code == 202, r.text
    doc = wait_ready(alice, r.json()["data"]["id"])
    assert doc["state"] == "ready" and doc["page_count"] == 2 and doc["title"] == "Animals and rivers"
    r = alice.post(f"/api/knowledge/collections/{cid}/documents?filename=raw.pdf", content=pdf,
                   headers={"Content-Type": "application/pdf"})
    raw = wait_ready(alice, r.json()["data"]["id"])
    assert raw["state"] == "ready"
    hits = alice.get("/api/knowledge/search", params={"q": "Yangtze", "mode": "keyword",
                                                       "document": doc["id"]}).json()["data"]
    # both short pages fit in one chunk: a passage names the page it starts on
    assert [h["page"] for h in hits] == [1] and doc["chunk_count"] == 1
    r = alice.post(f"/api/knowledge/collections/{cid}/documents",
                   files={"file": ("bad.pdf", b"%PDF-1.7 not really", "application/pdf")})
    bad = wait_ready(alice, r.json()["data"]["id"])
    assert bad["state"] == "failed" and "damaged" in bad["error"]


def test_url_ingestion_from_a_local_page(alice: httpx.Client, page_server: Any) -> None:
    base, pages = page_server
    pages["/tea.html"] = ("text/html; charset=utf-8", HTML)
    pages["/doc.pdf"] = ("application/pdf", make_pdf(["A PDF served over HTTP about kites."]))
    cid = _collection(alice, "web")
    r = alice.post(f"/api/knowledge/collections/{cid}/documents", json={"url": base + "/tea.html"})
    doc = wait_ready(alice, r.json()["data"]["id"])
    assert doc["state"] == "ready", doc["error"]
    assert doc["title"] == "Tea in Yunnan"
    assert doc["metadata"]["author"] == "Li Wei"
    hits = alice.get("/api/knowledge/search", params={"q": "普洱茶", "collection": cid}).json()["data"]
    assert hits and "Pu-erh" in hits[0]["text"]
    assert "footer" not in hits[0]["text"] and "Shop now" not in hits[0]["text"]
    r = alice.post(f"/api/knowledge/collections/{cid}/documents", json={"url": base + "/doc.pdf"})
    assert wait_ready(alice, r.json()["data"]["id"])["page_count"] == 1
    r = alice.post(f"/api/knowledge/collections/{cid}/documents", json={"url": base + "/missing"})
    missing = wait_ready(alice, r.json()["data"]["id"])
    assert missing["state"] == "failed" and missing["error"] == "the URL answered HTTP 404"


def test_private_urls_are_refused_by_default(tmp_path: Path, page_server: Any) -> None:
    base, pages = page_server
    pages["/tea.html"] = ("text/html; charset=utf-8", HTML)
    server = start_node(tmp_path, env={"NODEBASE_EMBEDDING_URL": "hashing:64"})
    try:
        with member(server) as c:
            cid = _collection(c)
            r = c.post(f"/api/knowledge/collections/{cid}/documents", json={"url": base + "/tea.html"})
            doc = wait_ready(c, r.json()["data"]["id"])
            assert doc["state"] == "failed"
            assert "loopback" in doc["error"] and "refused" in doc["error"]
    finally:
        server.stop()


def test_users_never_see_each_others_data_over_http(alice: httpx.Client, bob: httpx.Client,
                                                    node: NodeServer) -> None:
    ca = _collection(alice, "alice private")
    da = _text(alice, ca, "Alice's secret: the vault code is 4711. 金库密码是四七一一。")
    cb = _collection(bob, "bob's")
    db_ = _text(bob, cb, "Bob's note: the vault is painted blue. 金库是蓝色的。")
    assert ca not in [c["id"] for c in bob.get("/api/knowledge/collections").json()["data"]]
    for q in ("vault code", "金库密码", "4711"):
        for mode in ("hybrid", "keyword", "vector"):
            hits = bob.get("/api/knowledge/search", params={"q": q, "mode": mode}).json()["data"]
            assert {h["document_id"] for h in hits} <= {db_["id"]}, (q, mode)
    for r in (bob.get(f"/api/knowledge/collections/{ca}"),
              bob.get(f"/api/knowledge/collections/{ca}/documents"),
              bob.patch(f"/api/knowledge/collections/{ca}", json={"name": "mine"}),
              bob.delete(f"/api/knowledge/collections/{ca}"),
              bob.post(f"/api/knowledge/collections/{ca}/documents", json={"text": "intrusion here"}),
              bob.get(f"/api/knowledge/collections/{ca}/summary"),
              bob.get(f"/api/knowledge/collections/{ca}/mindmap"),
              bob.get(f"/api/knowledge/documents/{da['id']}"),
              bob.delete(f"/api/knowledge/documents/{da['id']}"),
              bob.post(f"/api/knowledge/documents/{da['id']}/retry"),
              bob.get("/api/knowledge/search", params={"q": "vault", "collection": ca}),
              bob.get("/api/knowledge/search", params={"q": "vault", "document": da["id"]}),
              bob.post("/api/knowledge/ask", json={"question": "vault code", "collection_ids": [ca]}),
              bob.post("/api/knowledge/ask", json={"question": "vault code", "document_ids": [da["id"]]})):
        _error(r, 404)
    r = bob.post("/api/knowledge/ask", json={"question": "what is the vault code?", "extractive": True})
    assert r.status_code == 200 and r.text.startswith("event: passages"), (r.status_code, r.text[:300])
    events = sse_events(r)
    assert {p["document_id"] for p in events[0]["passages"]} == {db_["id"]}
    assert "4711" not in r.text
    # alice's data is intact
    assert alice.get(f"/api/knowledge/documents/{da['id']}").json()["data"]["state"] == "ready"
    # an admin sees both
    with node.client(headers=admin_headers(node)) as admin:
        ids = {c["id"] for c in admin.get("/api/knowledge/collections").json()["data"]}
        assert {ca, cb} <= ids


def test_permissions_come_from_the_guard(node: NodeServer) -> None:
    with node.client() as anonymous:
        body = _error(anonymous.get("/api/knowledge/collections"), 403)
        assert body["permission"] == "knowledge.read"
        _error(anonymous.post("/api/knowledge/collections", json={"name": "x"}), 403)
        _error(anonymous.get("/api/knowledge/search", params={"q": "x"}), 403)
        _error(anonymous.post("/api/knowledge/ask", json={"question": "x"}), 403)
    with member(node, "kreader", ["knowledge.read"]) as reader:
        assert reader.get("/api/knowledge/collections").json()["data"] == []
        assert _error(reader.post("/api/knowledge/collections", json={"name": "x"}), 403)["permission"] == "knowledge.write"


def test_ask_extractive_streams_tokens_and_real_citations(alice: httpx.Client) -> None:
    cid = _collection(alice, "ask")
    _text(alice, cid, PANDAS, "Pandas")
    _text(alice, cid, RIVER, "Rivers")
    r = alice.post("/api/knowledge/ask", json={"question": "How much bamboo do pandas eat?",
                                               "collection_ids": [cid], "extractive": True})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r)
    assert events[0]["type"] == "passages" and events[-1]["type"] == "done"
    tokens = [e["text"] for e in events if e["type"] == "token"]
    assert len(tokens) > 3
    answer = "".join(tokens)
    assert "fourteen kilograms" in answer and "[1]" in answer
    passages = {p["n"]: p for p in events[0]["passages"]}
    (cites,) = [e["citations"] for e in events if e["type"] == "citations"]
    assert cites and all(c["chunk_id"] == passages[c["n"]]["chunk_id"] for c in cites)


def test_ask_with_the_chat_model_cites_only_retrieved_passages(alice: httpx.Client, llm_stub: Stub) -> None:
    llm_stub.mode("cite")
    cid = _collection(alice, "llm")
    _text(alice, cid, PANDAS, "Pandas")
    _text(alice, cid, RIVER, "Rivers")
    r = alice.post("/api/knowledge/ask", json={"question": "Tell me about pandas and rivers",
                                               "collection_ids": [cid]})
    events = sse_events(r)
    passages = events[0]["passages"]
    assert len(passages) == 2
    answer = "".join(e["text"] for e in events if e["type"] == "token")
    assert answer == "Pandas eat bamboo [1]. Rivers are long [2]. Unknown claim [99]. I saw 2 sources."
    (cites,) = [e["citations"] for e in events if e["type"] == "citations"]
    assert [c["n"] for c in cites] == [1, 2]  # [99] is not a retrieved passage: not a citation
    assert [c["chunk_id"] for c in cites] == [p["chunk_id"] for p in passages]
    stats = llm_stub.stats()
    assert stats["auth"] == "Bearer sk-test-secret"
    system = stats["last"]["messages"][0]["content"]
    assert "[1] " in system and "[2] " in system and "fourteen kilograms" in system
    assert stats["last"]["messages"][-1] == {"role": "user", "content": "Tell me about pandas and rivers"}
    assert "sk-test-secret" not in r.text


@pytest.mark.parametrize(("mode", "message"), [
    ("error", "the chat model answered 500"),
    ("midstream", "the chat model"),
    ("stall", "the chat model sent nothing for 2 s"),
])
def test_chat_model_failures_end_with_an_error_event(alice: httpx.Client, llm_stub: Stub,
                                                     mode: str, message: str) -> None:
    llm_stub.mode(mode)
    cid = _collection(alice, f"fail-{mode}")
    _text(alice, cid, PANDAS)
    t = time.monotonic()
    r = alice.post("/api/knowledge/ask", json={"question": "pandas?", "collection_ids": [cid]})
    events = sse_events(r)
    assert events[0]["type"] == "passages"
    assert events[-1]["type"] == "error" and events[-1]["text"].startswith(message), events[-1]
    assert not any(e["type"] in ("citations", "done") for e in events)
    assert time.monotonic() - t < 20


def test_client_disconnect_stops_the_generation(alice: httpx.Client, llm_stub: Stub) -> None:
    llm_stub.mode("endless")
    cid = _collection(alice, "endless")
    _text(alice, cid, PANDAS)
    before = llm_stub.stats()["client_gone"].get("endless", 0)
    with alice.stream("POST", "/api/knowledge/ask", json={"question": "pandas?", "collection_ids": [cid]}) as r:
        got = 0
        for line in r.iter_lines():
            if line.startswith("event: token"):
                got += 1
                if got == 5:
                    break
    # the node closes its stream to the model: the stub sees the client go away
    deadline = time.monotonic() + 15
    while ((stats := llm_stub.stats())["client_gone"].get("endless", 0) == before
           or stats["open"]["endless"] != 0):
        assert time.monotonic() < deadline, "the model kept generating after the client left"
        time.sleep(0.05)


def test_summary_and_mind_map(alice: httpx.Client, llm_stub: Stub) -> None:
    cid = _collection(alice, "Study notes")
    _text(alice, cid, PANDAS, "Pandas")
    _text(alice, cid, RIVER, "Rivers")
    events = sse_events(alice.get(f"/api/knowledge/collections/{cid}/summary", params={"extractive": "true"}))
    (cites,) = [e["citations"] for e in events if e["type"] == "citations"]
    assert {c["document_title"] for c in cites} == {"Pandas", "Rivers"}
    md = alice.get(f"/api/knowledge/collections/{cid}/mindmap", params={"extractive": "true"}).json()["data"]["markdown"]
    lines = md.splitlines()
    assert lines[0] == "# Study notes"
    assert [ln for ln in lines if ln.startswith("## ")] == ["## Pandas", "## Rivers"]
    llm_stub.mode("outline")
    md = alice.get(f"/api/knowledge/collections/{cid}/mindmap").json()["data"]["markdown"]
    assert md == "# Topics\n## Animals [1]\n### Bamboo diet [1]"
    llm_stub.mode("cite")  # no headings at all: the extractive outline is used instead
    md = alice.get(f"/api/knowledge/collections/{cid}/mindmap").json()["data"]["markdown"]
    assert md.splitlines()[0] == "# Study notes"


def test_a_file_already_in_media(node: NodeServer, alice: httpx.Client) -> None:
    with node.client(headers=admin_headers(node)) as admin:
        r = admin.post("/api/media/upload/kites.txt", content="Kites were flown in ancient China. 风筝起源于中国。".encode(),
                       headers={"Content-Type": "text/plain"})
        assert r.status_code in (200, 201), r.text
        name = r.json()["name"]
        cid = admin.post("/api/knowledge/collections", json={"name": "from media"}).json()["data"]["id"]
        r = admin.post(f"/api/knowledge/collections/{cid}/documents", json={"media": name})
        assert r.status_code == 202, r.text
        doc = wait_ready(admin, r.json()["data"]["id"])
        assert doc["state"] == "ready" and doc["source"] == name, doc
        hits = admin.get("/api/knowledge/search", params={"q": "风筝", "collection": cid}).json()["data"]
        assert hits and hits[0]["document_id"] == doc["id"]
    # a member without media.file.read cannot pull Media files into a collection
    mine = _collection(alice, "mine")
    body = _error(alice.post(f"/api/knowledge/collections/{mine}/documents", json={"media": name}), 403)
    assert body["permission"] == "media.file.read"
