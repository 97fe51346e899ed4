"""Safe outbound HTTP: what every module that fetches a user-given URL goes through.

:func:`fetch` refuses, with :class:`OutboundRefused` naming why:

* a scheme other than ``http``/``https``, or a URL without a host;
* a host any of whose DNS answers is loopback, private, link-local, multicast, reserved,
  unspecified or otherwise not globally routable (IPv4-mapped IPv6 included) — unless
  private addresses are allowed (``allow_private=True``, or ``NODEBASE_FETCH_ALLOW_PRIVATE``);
* the same on every redirect hop (at most ``max_redirects``);
* a body larger than ``max_bytes`` (by ``Content-Length`` or while reading);
* a whole exchange (DNS, connect, redirects, body) longer than ``timeout`` seconds;
* a host that does not resolve or does not answer.

The connection goes to the address that was checked: the URL is rewritten to the IP, the
original ``Host`` header is kept, and for HTTPS the TLS server name (SNI and certificate
check) stays the original host name. A DNS answer that changes between the check and the
connection (DNS rebinding) cannot redirect the request. Proxies from the environment are
ignored for the same reason.

Connections are reused. Every request is still resolved and checked first; it then takes a
connection from the pool of its *route* — (scheme, checked IP, port, TLS server name) — so a
kept-alive connection only ever carries requests that were checked to go to that very address
and, for HTTPS, whose certificate was verified for that very name. A name that resolves
elsewhere later (rebinding) gets another route, or is refused before any pool is touched.
Pools are per event loop, bounded (``outbound_connections.MAX_ROUTES`` routes, LRU; idle
connections close after ``KEEPALIVE_SECONDS``), and closed by :func:`close_pools` at shutdown.
The HTTP/1.1 client itself is :mod:`nodebase.kernel.outbound_connections` (imported on the
first fetch; no HTTP library is imported with this module).

A header name or value with a CR, LF or NUL is refused (reason ``headers``).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import socket
import ssl
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from nodebase.kernel.errors import NodebaseError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_REDIRECTS = {301, 302, 303, 307, 308}
#: headers that must not follow a redirect to another origin
_CREDENTIAL_HEADERS = {"authorization", "cookie", "proxy-authorization", "x-api-key"}


class OutboundRefused(NodebaseError):
    """An outbound request was not made or not completed; ``reason`` says why.

    Reasons: ``scheme``, ``url``, ``headers``, ``address`` (loopback/private/... — the kind is in the
    context), ``redirects``, ``too_large``, ``timeout``, ``unreachable``.
    """

    status = 400
    type = "OutboundRefusedException"

    def __init__(self, message: str, *, reason: str, status: int | None = None,
                 context: dict[str, Any] | None = None) -> None:
        super().__init__(message, status=status, context={"reason": reason, **(context or {})})
        self.reason = reason


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes
    #: the final URL, after redirects
    url: str
    #: every URL visited before the final one
    history: tuple[str, ...] = field(default=())

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def text(self) -> str:
        charset = "utf-8"
        for part in self.headers.get("content-type", "").split(";")[1:]:
            k, _, v = part.strip().partition("=")
            if k.lower() == "charset" and v:
                charset = v.strip('"')
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")


def address_refusal(ip: IPAddress) -> str | None:
    """Why ``ip`` may not be fetched without ``allow_private`` (``None`` when it may)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return address_refusal(ip.ipv4_mapped)
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "not globally routable"
    return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in out:
            out.append(ip)
    return out


@functools.lru_cache(maxsize=512)
def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _allow_private_default() -> bool:
    from nodebase.kernel.config import load_settings

    return load_settings().fetch_allow_private


@dataclass(frozen=True)
class _Target:
    """What a URL asks for, before any address is picked (parsed once per URL, see :func:`_parse`)."""

    scheme: str
    host: str
    port: int
    #: the Host header (IDNA for a non-ASCII name)
    host_header: str
    #: path and query, percent-encoded where they were not
    request_target: str


@functools.lru_cache(maxsize=512)
def _parse(url: str) -> _Target:
    """``url`` parsed and checked for scheme and host (a refusal is raised, and not cached)."""
    from nodebase.kernel.outbound_connections import target_path

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise OutboundRefused(f"only http and https URLs can be fetched, not {scheme or 'no scheme'!r}",
                              reason="scheme", context={"url": url})
    try:
        host = parts.hostname
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise OutboundRefused(f"malformed URL: {exc}", reason="url", context={"url": url}) from None
    if not host:
        raise OutboundRefused("the URL has no host", reason="url", context={"url": url})
    return _Target(scheme, host, port, _ascii_host(parts.netloc.rsplit("@", 1)[-1]),
                   target_path(parts.path, parts.query))


async def _checked_target(url: str, allow_private: bool) -> tuple[_Target, IPAddress]:
    """Validate ``url`` and pick the address to connect to: every DNS answer is checked, on
    every call (a kept-alive connection never skips it)."""
    t = _parse(url)
    host = t.host
    try:
        addresses = await resolve(host, t.port)
    except (OSError, UnicodeError) as exc:
        raise OutboundRefused(f"cannot resolve {host!r}", reason="unreachable",
                              context={"url": url, "detail": str(exc)}) from None
    if not addresses:
        raise OutboundRefused(f"cannot resolve {host!r}", reason="unreachable", context={"url": url})
    if not allow_private:
        for ip in addresses:
            why = address_refusal(ip)
            if why:
                raise OutboundRefused(
                    f"refusing to fetch {host!r}: it resolves to a {why} address ({ip})",
                    reason="address", status=403,
                    context={"url": url, "address": str(ip), "kind": why},
                )
    return t, addresses[0]


def _origin(url: str) -> tuple[str, str, int | None]:
    p = urlsplit(url)
    return p.scheme.lower(), (p.hostname or ""), p.port


async def _one_hop(method: str, url: str, headers: dict[str, str], body: bytes | None,
                   max_bytes: int, allow_private: bool) -> tuple[int, dict[str, str], bytes]:
    from nodebase.kernel.outbound_connections import ExchangeFailed, request_head

    t, ip = await _checked_target(url, allow_private)
    host = t.host
    sni = host if t.scheme == "https" else None
    try:
        data = request_head(method, t.request_target, t.host_header, headers, body)
    except ExchangeFailed as exc:
        raise OutboundRefused(exc.message, reason=exc.reason, status=exc.status,
                              context={"url": url, **exc.context}) from None
    if body:
        data += body
    pools = _pools()
    route = pools.acquire((t.scheme, str(ip), t.port, sni), _tls() if t.scheme == "https" else None)
    try:
        return await route.exchange(data, head=method == "HEAD", max_bytes=max_bytes)
    except ExchangeFailed as exc:
        if exc.reason == "unreachable":
            raise OutboundRefused(f"cannot reach {host!r}: {exc.message}", reason="unreachable",
                                  context={"url": url}) from None
        raise OutboundRefused(exc.message, reason=exc.reason, status=exc.status,
                              context={"url": url, **exc.context}) from None
    finally:
        pools.release(route)


def _ascii_host(host_header: str) -> str:
    if host_header.isascii():
        return host_header
    name, sep, port = host_header.rpartition(":") if not host_header.endswith("]") else (host_header, "", "")
    if not sep or not port.isdigit():
        name, sep, port = host_header, "", ""
    return name.encode("idna").decode("ascii") + sep + port


_ssl_context: ssl.SSLContext | None = None


def _tls() -> ssl.SSLContext:
    """One verifying TLS context for every fetch (building one loads the CA bundle, ~100 ms of
    event-loop time on the target box): ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` if set, else
    certifi's bundle, as httpx would load."""
    global _ssl_context
    if _ssl_context is None:
        if os.environ.get("SSL_CERT_FILE"):
            ctx = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
        elif os.environ.get("SSL_CERT_DIR"):
            ctx = ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
        else:
            import certifi

            ctx = ssl.create_default_context(cafile=certifi.where())
        ctx.set_alpn_protocols(["http/1.1"])
        _ssl_context = ctx
    return _ssl_context


_pools_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def _pools() -> Any:
    loop = asyncio.get_running_loop()
    pools = _pools_by_loop.get(loop)
    if pools is None:
        from nodebase.kernel.outbound_connections import Pools

        pools = _pools_by_loop[loop] = Pools()
    return pools


async def close_pools() -> None:
    """Close every kept-alive outbound connection of the running event loop (node shutdown)."""
    pools = _pools_by_loop.pop(asyncio.get_running_loop(), None)
    if pools is not None:
        pools.close()
        await asyncio.sleep(0)  # let the transports finish closing


async def fetch(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
    max_bytes: int = 10_000_000,
    allow_private: bool | None = None,
    max_redirects: int = 5,
) -> OutboundResponse:
    """Make one HTTP request to a URL a user gave, following redirects safely.

    The body is returned as sent (no content decoding: ``Accept-Encoding: identity`` is sent
    unless ``headers`` set it, so ``max_bytes`` bounds what is held in memory).
    """
    if allow_private is None:
        allow_private = _allow_private_default()
    method = method.upper()
    current_headers = {"Accept-Encoding": "identity", "User-Agent": "nodebase"}
    current_headers.update(headers or {})
    current_body = body
    current_url = url
    history: list[str] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                status, resp_headers, content = await _one_hop(
                    method, current_url, current_headers, current_body, max_bytes, allow_private)
                location = resp_headers.get("location")
                if status not in _REDIRECTS or not location:
                    return OutboundResponse(status=status, headers=resp_headers,
                                            body=content, url=current_url,
                                            history=tuple(history))
                if len(history) >= max_redirects:
                    raise OutboundRefused(f"more than {max_redirects} redirects",
                                          reason="redirects",
                                          context={"url": url, "max_redirects": max_redirects})
                next_url = urljoin(current_url, location)
                history.append(current_url)
                if status == 303 or (status in (301, 302) and method == "POST"):
                    method = "GET" if method != "HEAD" else "HEAD"
                    current_body = None
                    current_headers = {k: v for k, v in current_headers.items()
                                       if k.lower() not in ("content-type", "content-length")}
                if _origin(next_url) != _origin(current_url):
                    current_headers = {k: v for k, v in current_headers.items()
                                       if k.lower() not in _CREDENTIAL_HEADERS}
                current_url = next_url
    except TimeoutError:
        raise OutboundRefused(f"no complete answer within {timeout:g} s", reason="timeout",
                              status=408, context={"url": url, "timeout": timeout}) from None
