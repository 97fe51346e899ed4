"""The model path: a local process speaking OpenAI's streaming Chat Completions protocol
(tests/knowledge/llm_stub.py; no model can run here) writes answers and notes. This node also
runs with private fetches refused (the default)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import httpx
import pytest
from httpx_sse import connect_sse

from tests.apps.studio.conftest import chat_stream, register, studio_node, text_session, wait_source
from tests.knowledge.conftest import Stub
from tests.nodeserver import NodeServer

KEY = "sk-studio-test-key"
TEXT = ("Giant pandas eat bamboo. Rivers are long and flow to the sea. Pandas sleep a lot. ") * 5


@pytest.fixture(scope="module")
def llm_node(llm_stub: Stub, request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeServer]:
    server = studio_node(tmp_path_factory.mktemp("studio-llm"), "sqlite", request, env={
        "NODEBASE_LLM_URL": llm_stub.url + "/v1", "NODEBASE_LLM_MODEL": "cite", "NODEBASE_LLM_API_KEY": KEY,
        "NODEBASE_FETCH_ALLOW_PRIVATE": "false"})
    try:
        yield server
    finally:
        server.stop()
        assert not server.server_errors()


@pytest.fixture(scope="module")
def session(llm_node: NodeServer) -> tuple[httpx.Client, str, str]:
    client = register(llm_node)
    sid, src = text_session(client, TEXT, "Animals and rivers")
    assert wait_source(client, src)["status"] == "ready"
    return client, sid, src


def test_model_writes_the_answer_streamed_with_citations(session: tuple[httpx.Client, str, str],
                                                         llm_stub: Stub) -> None:
    client, sid, src = session
    llm_stub.mode("cite")
    text, frames, raw = chat_stream(client, {"session_id": sid, "messages": [
        {"role": "user", "content": "What do pandas eat?"}]})
    # the model's text reaches the client as the model wrote it
    assert text.startswith("Pandas eat bamboo [1]. Rivers are long [2]. Unknown claim [99].")
    assert raw[-1] == "[DONE]"
    (cited,) = [f for f in frames if "citations" in f]
    indexes = {c["index"] for c in cited["citations"]}
    n_passages = int(re.search(r"I saw (\d+) sources", text).group(1))  # type: ignore[union-attr]
    assert 99 not in indexes and indexes == {1, 2} & set(range(1, n_passages + 1))
    assert all(c["source_id"] == src for c in cited["citations"])
    stats = llm_stub.stats()
    assert stats["auth"] == f"Bearer {KEY}" and stats["last"]["stream"] is True
    assert "What do pandas eat?" in json.dumps(stats["last"]["messages"])


def test_model_error_ends_the_stream_with_an_error_frame(session: tuple[httpx.Client, str, str],
                                                         llm_stub: Stub) -> None:
    client, sid, _ = session
    llm_stub.mode("error")
    body = {"session_id": sid, "messages": [{"role": "user", "content": "pandas?"}]}
    _, frames, raw = chat_stream(client, body)
    assert raw[-1] == "[DONE]" and "error" in frames[-1] and not any("citations" in f for f in frames)
    r = client.post("/api/chat/completions", json={**body, "stream": False})
    assert r.status_code == 502 and r.json()["type"] == "AnswerFailed"


def test_client_going_away_stops_the_model(session: tuple[httpx.Client, str, str], llm_stub: Stub) -> None:
    client, sid, _ = session
    llm_stub.mode("endless")
    before = llm_stub.stats()["client_gone"].get("endless", 0)
    with connect_sse(client, "POST", "/api/chat/completions", json={
            "session_id": sid, "messages": [{"role": "user", "content": "pandas?"}]}) as source:
        for i, _event in enumerate(source.iter_sse()):
            if i == 5:
                break
    deadline = time.monotonic() + 30  # an upper bound only
    while ((stats := llm_stub.stats())["client_gone"].get("endless", 0) == before
           or stats["open"]["endless"] != 0):
        assert time.monotonic() < deadline, stats
        time.sleep(0.05)


def test_model_writes_the_mind_map(session: tuple[httpx.Client, str, str], llm_stub: Stub) -> None:
    client, sid, _ = session
    llm_stub.mode("outline")
    r = client.post(f"/api/sessions/{sid}/notes", json={"kind": "mindmap"})
    assert r.status_code == 201, r.text
    assert r.json()["data"]["content"].startswith("# Topics\n## Animals [1]\n### Bamboo diet [1]")


def test_private_urls_are_refused_by_default(llm_node: NodeServer, page_server: tuple[str, dict]) -> None:
    client = register(llm_node)
    r = client.post("/api/sessions/from-url", json={"url": page_server[0] + "/x"})
    assert r.status_code == 400 and "NODEBASE_FETCH_ALLOW_PRIVATE" in r.json()["error"]
    assert client.get("/api/sessions").json()["meta"]["total"] == 0
