"""kernel.outbound.fetch against real HTTP servers on 127.0.0.x."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from nodebase.kernel import outbound
from nodebase.kernel.outbound import OutboundRefused, address_refusal, fetch


class _Handler(BaseHTTPRequestHandler):
    server: Any
    protocol_version = "HTTP/1.1"  # keep-alive, so that connection reuse can be seen

    def log_message(self, *args: Any) -> None:
        pass

    def setup(self) -> None:  # once per accepted TCP connection
        super().setup()
        with self.server.lock:
            self.server.connections += 1

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
        elif self.path == "/until-close":  # no length, no chunks: the body ends with the connection
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"all of it")
            self.close_connection = True
        elif self.path == "/silent-close":  # keep-alive answer, then the server drops the connection
            self._send(200, b"bye", "text/plain")
            self.close_connection = True
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

    def do_HEAD(self) -> None:
        self.server.seen.append((self.command, self.path, dict(self.headers)))
        self.send_response(200)
        self.send_header("Content-Length", "11")
        self.end_headers()

    do_GET = _route
    do_POST = _route


def _serve(host: str, port: int = 0, tls: ssl.SSLContext | None = None) -> Iterator[Any]:
    srv = ThreadingHTTPServer((host, port), _Handler)
    if tls is not None:
        srv.socket = tls.wrap_socket(srv.socket, server_side=True)
    srv.daemon_threads = True
    srv.lock = threading.Lock()
    srv.connections = 0
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


# -- connection reuse -------------------------------------------------------------------------


def _resolving(monkeypatch: pytest.MonkeyPatch, *answers: str) -> list[str]:
    """Make every name resolve to the next of ``answers`` (the last one repeats); returns the
    names asked for."""
    asked: list[str] = []

    async def fake_resolve(host: str, p: int) -> list[Any]:
        asked.append(host)
        return [ipaddress.ip_address(answers[min(len(asked), len(answers)) - 1])]

    monkeypatch.setattr(outbound, "resolve", fake_resolve)
    return asked


def test_deliveries_reuse_one_connection(server: Any) -> None:
    async def many() -> list[int]:
        statuses = [(await fetch("POST", _url(server, "/echo"), body=b"x%d" % i,
                                 allow_private=True)).status for i in range(10)]
        await outbound.close_pools()
        return statuses

    assert run(many()) == [200] * 10
    assert len(server.seen) == 10
    assert server.connections == 1


def test_each_fetch_is_still_resolved_and_checked(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kept-alive connection does not skip the check: a name whose DNS answer turns private
    (rebinding) after a first, allowed fetch is refused, and nothing more reaches the server."""
    _pretend_public(monkeypatch, "127.0.0.1")
    asked = _resolving(monkeypatch, "127.0.0.1", "10.0.0.7")
    port = server.server_address[1]

    async def twice() -> None:
        try:
            first = await fetch("GET", f"http://rebind.test:{port}/hello", allow_private=False)
            assert first.body == b"hello world"
            with pytest.raises(OutboundRefused) as exc:
                await fetch("GET", f"http://rebind.test:{port}/hello", allow_private=False)
            assert exc.value.reason == "address"
            assert exc.value.context["address"] == "10.0.0.7"
        finally:
            await outbound.close_pools()

    run(twice())
    assert asked == ["rebind.test", "rebind.test"]
    assert len(server.seen) == 1


@pytest.fixture
def same_port_server(server: Any) -> Iterator[Any]:
    """A second server on 127.0.0.2 with the same port as ``server``."""
    yield from _serve("127.0.0.2", server.server_address[1])


def test_a_new_answer_gets_its_own_connection(server: Any, same_port_server: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Pools are per checked address: when a name's answer moves (127.0.0.1 → 127.0.0.2), the
    request goes to the new address, not over the connection kept to the old one."""
    _resolving(monkeypatch, "127.0.0.1", "127.0.0.2", "127.0.0.1")
    port = server.server_address[1]

    async def three() -> None:
        try:
            for _ in range(3):
                assert (await fetch("GET", f"http://moving.test:{port}/hello",
                                    allow_private=True)).status == 200
        finally:
            await outbound.close_pools()

    run(three())
    assert len(server.seen) == 2
    assert len(same_port_server.seen) == 1
    assert server.connections == 1  # the first connection was reused for the third fetch
    assert same_port_server.connections == 1
    assert [h["Host"] for _m, _p, h in server.seen + same_port_server.seen] == [f"moving.test:{port}"] * 3


def _certificates(tmp: Path, names: list[str]) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for ``names``: (CA file, cert file, key file)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nodebase test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem"
    files[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return files


def test_tls_connections_are_kept_per_server_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two names on one address and port: each gets its own TLS connection (SNI and the
    certificate check are for that name), and each connection is reused for its own name."""
    ca_file, cert_file, key_file = _certificates(tmp_path, ["a.test", "b.test"])
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_file, key_file)
    sni_seen: list[str | None] = []
    server_tls.sni_callback = lambda sock, name, ctx: sni_seen.append(name)  # type: ignore[assignment,misc,return-value]
    monkeypatch.setattr(outbound, "_ssl_context", ssl.create_default_context(cafile=str(ca_file)))
    _resolving(monkeypatch, "127.0.0.1")
    with contextmanager(_serve)("127.0.0.1", tls=server_tls) as srv:
        port = srv.server_address[1]

        async def four() -> None:
            try:
                for name in ("a.test", "b.test", "a.test", "b.test"):
                    r = await fetch("GET", f"https://{name}:{port}/hello", allow_private=True)
                    assert r.body == b"hello world"
            finally:
                await outbound.close_pools()

        run(four())
        assert sni_seen == ["a.test", "b.test"]
        assert srv.connections == 2
        assert [h["Host"] for _m, _p, h in srv.seen] == [f"{n}:{port}" for n in ("a.test", "b.test") * 2]


def test_tls_name_is_checked_on_the_reused_address(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A name the certificate does not cover is refused even though a verified connection to
    the same address and port is kept alive for another name."""
    ca_file, cert_file, key_file = _certificates(tmp_path, ["a.test"])
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_file, key_file)
    monkeypatch.setattr(outbound, "_ssl_context", ssl.create_default_context(cafile=str(ca_file)))
    _resolving(monkeypatch, "127.0.0.1")
    with contextmanager(_serve)("127.0.0.1", tls=server_tls) as srv:
        port = srv.server_address[1]

        async def two() -> None:
            try:
                assert (await fetch("GET", f"https://a.test:{port}/hello", allow_private=True)).status == 200
                with pytest.raises(OutboundRefused) as exc:
                    await fetch("GET", f"https://evil.test:{port}/hello", allow_private=True)
                assert exc.value.reason == "unreachable"
            finally:
                await outbound.close_pools()

        run(two())
        assert len(srv.seen) == 1


# -- the HTTP/1.1 client ----------------------------------------------------------------------


def test_a_body_delimited_by_the_connection_end(server: Any) -> None:
    r = run(fetch("GET", _url(server, "/until-close"), allow_private=True))
    assert (r.status, r.body) == (200, b"all of it")


def test_head_answers_no_body_and_the_next_request_works(server: Any) -> None:
    async def two() -> tuple[Any, Any]:
        try:
            head = await fetch("HEAD", _url(server, "/hello"), allow_private=True)
            get = await fetch("GET", _url(server, "/hello"), allow_private=True)
            return head, get
        finally:
            await outbound.close_pools()

    head, get = run(two())
    assert (head.status, head.body, head.headers["content-length"]) == (200, b"", "11")
    assert get.body == b"hello world"


def test_a_connection_the_server_dropped_is_not_reused(server: Any) -> None:
    """Whether the server's close reaches the client before the second request or not (then the
    request is sent once more on a new connection), the second fetch gets its answer."""
    async def two() -> list[bytes]:
        try:
            first = await fetch("GET", _url(server, "/silent-close"), allow_private=True)
            second = await fetch("GET", _url(server, "/hello"), allow_private=True)
            return [first.body, second.body]
        finally:
            await outbound.close_pools()

    assert run(two()) == [b"bye", b"hello world"]
    assert server.connections == 2


@pytest.mark.parametrize("headers", [{"X-A": "1\r\nX-Injected: 2"}, {"X-A": "1\nGET / HTTP/1.1"},
                                     {"Bad Name": "1"}, {"X-A\r\nX-B": "1"}])
def test_header_line_breaks_are_refused(server: Any, headers: dict[str, str]) -> None:
    with pytest.raises(OutboundRefused) as exc:
        run(fetch("POST", _url(server, "/echo"), headers=headers, body=b"x", allow_private=True))
    assert exc.value.reason == "headers"
    assert exc.value.status == 400
    assert server.seen == []


def test_path_and_query_are_percent_encoded_and_headers_sent(server: Any) -> None:
    run(fetch("GET", _url(server, "/a b/é?q=x y&r=%20"), headers={"X-Token": "t 1"}, allow_private=True))
    method, path, headers = server.seen[0]
    assert (method, path) == ("GET", "/a%20b/%C3%A9?q=x%20y&r=%20")
    assert headers["X-Token"] == "t 1"
    assert headers["Accept"] == "*/*"


def test_framing_headers_come_from_the_request_itself(server: Any) -> None:
    r = run(fetch("POST", _url(server, "/echo"), body=b"hello",
                  headers={"Content-Length": "1", "Transfer-Encoding": "chunked"}, allow_private=True))
    assert r.body == b"hello"
    assert server.seen[0][2]["Content-Length"] == "5"
    assert "Transfer-Encoding" not in server.seen[0][2]
