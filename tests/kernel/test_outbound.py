"""kernel.outbound.fetch against real HTTP servers on 127.0.0.x."""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from nodebase.kernel import outbound
from nodebase.kernel.outbound import OutboundRefused, address_refusal, fetch


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *args: Any) -> None:
        pass

    def _route(self) -> None:
        srv = self.server
        srv.seen.append((self.command, self.path, dict(self.headers)))
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/hello":
            self._send(200, b"hello world", "text/plain; charset=utf-8")
        elif self.path == "/echo":
            self._send(200, body or b"-", "application/octet-stream")
        elif self.path.startswith("/redirect?to="):
            self.send_response(int(srv.redirect_status))
            self.send_header("Location", self.path.split("=", 1)[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/big":
            self._send(200, b"x" * 5000, "text/plain")
        elif self.path == "/big-chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(5):
                self.wfile.write(b"3e8\r\n" + b"y" * 1000 + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/stall":
            srv.release.wait(30)
            self._send(200, b"late", "text/plain")
        else:
            self._send(404, b"nope", "text/plain")

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _route
    do_POST = _route


def _serve(host: str) -> Iterator[Any]:
    srv = ThreadingHTTPServer((host, 0), _Handler)
    srv.daemon_threads = True
    srv.seen = []
    srv.release = threading.Event()
    srv.redirect_status = 302
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.release.set()
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def server() -> Iterator[Any]:
    yield from _serve("127.0.0.1")


@pytest.fixture
def other_server() -> Iterator[Any]:
    yield from _serve("127.0.0.2")


def _url(srv: Any, path: str) -> str:
    host, port = srv.server_address[:2]
    return f"http://{host}:{port}{path}"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_allowed_with_allow_private(server: Any) -> None:
    r = run(fetch("GET", _url(server, "/hello"), allow_private=True))
    assert r.status == 200
    assert r.body == b"hello world"
    assert r.text() == "hello world"
    assert r.content_type == "text/plain"
    assert r.url == _url(server, "/hello")


def test_loopback_refused_by_default(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NODEBASE_FETCH_ALLOW_PRIVATE", raising=False)
    with pytest.raises(OutboundRefused) as exc:
        run(fetch("GET", _url(server, "/hello")))
    assert exc.value.reason == "address"
    assert exc.value.status == 403
    assert exc.value.context["kind"] == "loopback"
    assert server.seen == []  # nothing was sent


def test_setting_allows_private(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODEBASE_FETCH_ALLOW_PRIVATE", "true")
    assert run(fetch("GET", _url(server, "/hello"))).body == b"hello world"
    monkeypatch.setenv("NODEBASE_FETCH_ALLOW_PRIVATE", "false")
    with pytest.raises(OutboundRefused):
        run(fetch("GET", _url(server, "/hello")))


def test_localhost_name_refused(server: Any) -> None:
    port = server.server_address[1]
    with pytest.raises(OutboundRefused) as exc:
        run(fetch("GET", f"http://localhost:{port}/hello", allow_private=False))
    assert exc.value.context["kind"] == "loopback"


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "private"),
        ("100.64.0.1", "not globally routable"),
        ("::ffff:127.0.0.1", "loopback"),
        ("fc00::1", "private"),
    ],
)
def test_address_kinds(address: str, kind: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::6810:84e5", "8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://a/b",
                                 "javascript:alert(1)", "/relative"])
def test_scheme_refused(url: str) -> None:
    with pytest.raises(OutboundRefused) as exc:
        run(fetch("GET", url, allow_private=True))
    assert exc.value.reason == "scheme"
    assert exc.value.status == 400


def test_no_host_refused() -> None:
    with pytest.raises(OutboundRefused) as exc:
        run(fetch("GET", "http:///path", allow_private=True))
    assert exc.value.reason == "url"


def _pretend_public(monkeypatch: pytest.MonkeyPatch, *public: str) -> None:
    """Treat the given loopback addresses as public ones (as if they were on the internet)."""
    real = outbound.address_refusal

    def fake(ip: Any) -> str | None:
        return None if str(ip) in public else real(ip)

    monkeypatch.setattr(outbound, "address_refusal", fake)


def test_redirect_from_allowed_to_private_refused(server: Any, other_server: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _pretend_public(monkeypatch, "127.0.0.1")
    # the allowed server itself works
    assert run(fetch("GET", _url(server, "/hello"), allow_private=False)).status == 200
    target = _url(other_server, "/hello")
    with pytest.raises(OutboundRefused) as exc:
        run(fetch("GET", _url(server, f"/redirect?to={target}"), allow_private=False))
    assert exc.value.reason == "address"
    assert exc.value.context["address"] == "127.0.0.2"
    assert other_server.seen == []


def test_redirect_followed_when_allowed(server: Any, other_server: Any) -> None:
    target = _url(other_server, "/hello")
    r = run(fetch("GET", _url(server, f"/redirect?to={target}"), allow_private=True))
    assert r.status == 200
    assert r.body == b"hello world"
    assert r.url == target
    assert r.history == (_url(server, f"/redirect?to={target}"),)


def test_redirect_drops_credentials_across_origins(server: Any, other_server: Any) -> None:
    target = _url(other_server, "/hello")
    run(fetch("GET", _url(server, f"/redirect?to={target}"),
              headers={"Authorization": "Bearer secret", "X-Keep": "1"}, allow_private=True))
    first = server.seen[0][2]
    second = other_server.seen[0][2]
    assert first["Authorization"] == "Bearer secret"
    assert "Authorization" not in second
    assert second["X-Keep"] == "1"


def test_303_turns_post_into_get_and_307_keeps_it(server: Any) -> None:
    server.redirect_status = 303
    r = run(fetch("POST", _url(server, "/redirect?to=/echo"), body=b"payload", allow_private=True))
    assert server.seen[-1][0] == "GET"
    assert r.body == b"-"
    server.redirect_status = 307
    r = run(fetch("POST", _url(server, "/redirect?to=/echo"), body=b"payload", allow_private=True))
    assert server.seen[-1][0] == "POST"
    assert r.body == b"payload"


def test_too_many_redirects(server: Any) -> None:
    with pytest.raises(OutboundRefused) as exc:
        run(fetch("GET", _url(server, "/loop"), allow_private=True, max_redirects=3))
    assert exc.value.reason == "redirects"
    assert len(server.seen) == 4


def test_too_large_by_length(server: Any) -> None:
    with pytest.raises(OutboundRefused) as exc:
        run(fetch("GET", _url(server, "/big"), allow_private=True, max_bytes=1000))
    assert exc.value.reason == "too_large"
    assert exc.value.status == 413
    assert len(run(fetch("GET", _url(server, "/big"), allow_private=True, max_bytes=5000)).body) == 5000


def test_too_large_while_streaming(server: Any) -> None:
    with pytest.raises(OutboundRefused) as exc:
        run(fetch("GET", _url(server, "/big-chunked"), allow_private=True, max_bytes=2500))
    assert exc.value.reason == "too_large"
    assert len(run(fetch("GET", _url(server, "/big-chunked"), allow_private=True)).body) == 5000


def test_timeout(server: Any) -> None:
    with pytest.raises(OutboundRefused) as exc:
        run(fetch("GET", _url(server, "/stall"), allow_private=True, timeout=0.3))
    assert exc.value.reason == "timeout"
    assert 400 <= exc.value.status < 500


def test_unreachable() -> None:
    with pytest.raises(OutboundRefused) as exc:
        run(fetch("GET", "http://nonexistent.invalid/", allow_private=True, timeout=5))
    assert exc.value.reason == "unreachable"


def test_connects_to_the_checked_address(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The name is resolved once; the request goes to that address with the original Host."""
    port = server.server_address[1]
    calls: list[str] = []

    async def fake_resolve(host: str, p: int) -> list[Any]:
        calls.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(outbound, "resolve", fake_resolve)
    r = run(fetch("GET", f"http://site.test:{port}/hello", allow_private=True))
    assert r.body == b"hello world"
    assert calls == ["site.test"]
    assert server.seen[0][2]["Host"] == f"site.test:{port}"


def test_any_private_dns_answer_refuses(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A name with one public and one private answer is refused (no answer is tried)."""
    _pretend_public(monkeypatch, "127.0.0.1")

    async def fake_resolve(host: str, p: int) -> list[Any]:
        return [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("10.0.0.7")]

    monkeypatch.setattr(outbound, "resolve", fake_resolve)
    port = server.server_address[1]
    with pytest.raises(OutboundRefused) as exc:
        run(fetch("GET", f"http://rebind.test:{port}/hello", allow_private=False))
    assert exc.value.context["address"] == "10.0.0.7"
    assert server.seen == []
