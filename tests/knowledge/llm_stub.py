"""A local process speaking the OpenAI Chat Completions streaming protocol (SSE of
``chat.completion.chunk`` objects, then ``data: [DONE]``), for the Knowledge tests — no real
model can run here. Run: ``python llm_stub.py <port>``.

The requested ``model`` (or the mode last set with ``POST /mode {"mode": ...}``) picks the
behaviour:

* ``cite`` — answers citing the first two numbered sources (``[1]``, ``[2]``) and a source
  that does not exist (``[99]``), a few characters per chunk;
* ``outline`` — a Markdown outline citing ``[1]``;
* ``error`` — HTTP 500; ``midstream`` — two chunks, then the connection is cut;
* ``stall`` — headers, one chunk, then nothing (the client's read timeout must fire);
* ``endless`` — a chunk every 20 ms until the client goes away.

``GET /stats`` tells what happened: requests seen, the last request's body and whether it
carried the bearer key, streams still open and streams ended by the client going away (both per mode).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STATS: dict[str, Any] = {"requests": 0, "open": {}, "client_gone": {}, "last": None, "auth": None}
LOCK = threading.Lock()


def _chunk(content: str, model: str) -> bytes:
    body = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        with LOCK:
            body = json.dumps(STATS).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        req = json.loads(self.rfile.read(length))
        if self.path == "/mode":  # the tests switch behaviour without restarting the node
            with LOCK:
                STATS["mode"] = req["mode"]
            self._plain(200, b"{}")
            return
        model = STATS.get("mode") or req.get("model", "")
        with LOCK:
            STATS["requests"] += 1
            STATS["last"] = req
            STATS["auth"] = self.headers.get("authorization")
        if self.path != "/v1/chat/completions" or not req.get("stream"):
            self._plain(404, b'{"error": {"message": "not here"}}')
            return
        if model == "error":
            self._plain(500, b'{"error": {"message": "the stub model failed"}}')
            return
        system = req["messages"][0]["content"]
        n_sources = len(re.findall(r"^\[(\d+)\]", system, re.M))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        with LOCK:
            STATS["open"][model] = STATS["open"].get(model, 0) + 1
        try:
            if model == "cite":
                text = (f"Pandas eat bamboo [1]. Rivers are long [2]. Unknown claim [99]. "
                        f"I saw {n_sources} sources.")
                for i in range(0, len(text), 5):
                    self._send(_chunk(text[i:i + 5], model))
                self._send(b"data: [DONE]\n\n")
            elif model == "outline":
                for line in ("# Topics\n", "## Animals [1]\n", "### Bamboo diet [1]\n"):
                    self._send(_chunk(line, model))
                self._send(b"data: [DONE]\n\n")
            elif model == "midstream":
                self._send(_chunk("Half an ", model))
                self._send(_chunk("answer", model))
                self.wfile.write(b"data: {\"choi")  # cut inside an event
                self.wfile.flush()
                self.connection.shutdown(2)
            elif model == "stall":
                self._send(_chunk("Thinking", model))
                time.sleep(30)
            elif model == "endless":
                while True:
                    self._send(_chunk("more ", model))
                    time.sleep(0.02)
        except (BrokenPipeError, ConnectionResetError):
            with LOCK:
                STATS["client_gone"][model] = STATS["client_gone"].get(model, 0) + 1
        finally:
            with LOCK:
                STATS["open"][model] -= 1

    def _send(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def _plain(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()
