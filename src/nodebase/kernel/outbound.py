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
Pools are per event loop, bounded (:data:`MAX_ROUTES` routes, LRU; idle connections close
after :data:`KEEPALIVE_SECONDS`), and closed by :func:`close_pools` at shutdown.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from nodebase.kernel.errors import NodebaseError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_REDIRECTS = {301, 302, 303, 307, 308}
#: headers that must not follow a redirect to another origin
_CREDENTIAL_HEADERS = {"authorization", "cookie", "proxy-authorization", "x-api-key"}


class OutboundRefused(NodebaseError):
    """An outbound request was not made or not completed; ``reason`` says why.

    Reasons: ``scheme``, ``url``, ``address`` (loopback/private/... — the kind is in the
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
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in out:
            out.append(ip)
    return out


def _allow_private_default() -> bool:
    from nodebase.kernel.config import load_settings

    return load_settings().fetch_allow_private


async def _checked_target(url: str, allow_private: bool) -> tuple[str, str, str, IPAddress]:
    """Validate ``url`` and pick the address to connect to.

    Returns (url rewritten to the IP, Host header value, host name, address).
    """
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
    try:
        addresses = await resolve(host, port)
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
    ip = addresses[0]
    ip_host = f"[{ip}]" if ip.version == 6 else str(ip)
    default_port = 443 if scheme == "https" else 80
    netloc = ip_host if port == default_port else f"{ip_host}:{port}"
    host_header = parts.netloc.rsplit("@", 1)[-1]
    target = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
    return target, host_header, host, ip


def _origin(url: str) -> tuple[str, str, int | None]:
    p = urlsplit(url)
    return p.scheme.lower(), (p.hostname or ""), p.port


async def _one_hop(method: str, url: str, headers: dict[str, str], body: bytes | None,
                   max_bytes: int, allow_private: bool, timeout: float,
                   ) -> tuple[int, httpx.Headers, bytes]:
    target, host_header, host, ip = await _checked_target(url, allow_private)
    scheme = urlsplit(target).scheme
    port = urlsplit(target).port or (443 if scheme == "https" else 80)
    hop_headers = {k: v for k, v in headers.items() if k.lower() != "host"}
    hop_headers["Host"] = host_header
    extensions: dict[str, Any] = {}
    sni = None
    if scheme == "https":
        sni = host
        extensions["sni_hostname"] = host
    route = _pools().acquire((scheme, str(ip), port, sni))
    try:
        return await _exchange(route.client, method, target, hop_headers, body, extensions,
                               max_bytes, timeout, url, host)
    finally:
        route.active -= 1


async def _exchange(client: httpx.AsyncClient, method: str, target: str, hop_headers: dict[str, str],
                    body: bytes | None, extensions: dict[str, Any], max_bytes: int, timeout: float,
                    url: str, host: str) -> tuple[int, httpx.Headers, bytes]:
    request = client.build_request(method, target, headers=hop_headers, content=body,
                                   extensions=extensions, timeout=httpx.Timeout(timeout))
    try:
        response = await client.send(request, stream=True)
    except httpx.TimeoutException:
        raise
    except httpx.HTTPError as exc:
        raise OutboundRefused(f"cannot reach {host!r}: {type(exc).__name__}", reason="unreachable",
                              context={"url": url}) from None
    try:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise OutboundRefused(f"the response is larger than {max_bytes} bytes",
                                  reason="too_large", status=413,
                                  context={"url": url, "max_bytes": max_bytes})
        chunks: list[bytes] = []
        size = 0
        if response.status_code not in _REDIRECTS:
            try:
                async for chunk in response.aiter_raw():
                    size += len(chunk)
                    if size > max_bytes:
                        raise OutboundRefused(f"the response is larger than {max_bytes} bytes",
                                              reason="too_large", status=413,
                                              context={"url": url, "max_bytes": max_bytes})
                    chunks.append(chunk)
            except httpx.TimeoutException:
                raise
            except httpx.HTTPError as exc:
                raise OutboundRefused(f"reading the response from {host!r} failed: {type(exc).__name__}",
                                      reason="unreachable", context={"url": url}) from None
        return response.status_code, response.headers, b"".join(chunks)
    finally:
        await response.aclose()


_ssl_context: ssl.SSLContext | None = None


def _tls() -> ssl.SSLContext:
    """One verifying TLS context for every fetch: building one loads the CA bundle, which
    costs ~100 ms of event-loop time (measured on the target box) per client otherwise."""
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = httpx.create_ssl_context()  # the same CA bundle httpx would load
    return _ssl_context


#: routes (scheme, IP, port, TLS name) with a connection pool kept, per event loop
MAX_ROUTES = 64
#: connections per route, all of them kept alive when idle (a smaller keep-alive limit than
#: the connection limit made the pool close and reopen connections under a burst of webhook
#: deliveries — the flows runner executes up to 32 runs at once — measured with bench/flows.py),
#: and how long an idle one is kept
ROUTE_CONNECTIONS = 32
KEEPALIVE_SECONDS = 5.0


class _Route:
    """The connection pool of one checked address (and TLS name): an httpx client that is
    only ever given URLs rewritten to that address."""

    __slots__ = ("client", "active")

    def __init__(self) -> None:
        self.client = httpx.AsyncClient(
            trust_env=False, follow_redirects=False, verify=_tls(),
            limits=httpx.Limits(max_connections=ROUTE_CONNECTIONS,
                                max_keepalive_connections=ROUTE_CONNECTIONS,
                                keepalive_expiry=KEEPALIVE_SECONDS))
        #: requests in flight on this route (an evicted route is closed only when idle)
        self.active = 0


class _Pools:
    def __init__(self) -> None:
        self.routes: OrderedDict[tuple[str, str, int, str | None], _Route] = OrderedDict()
        self.closing: set[asyncio.Task[None]] = set()

    def acquire(self, key: tuple[str, str, int, str | None]) -> _Route:
        route = self.routes.get(key)
        if route is None:
            route = self.routes[key] = _Route()
            self._evict()
        else:
            self.routes.move_to_end(key)
        route.active += 1
        return route

    def _evict(self) -> None:
        if len(self.routes) <= MAX_ROUTES:
            return
        for key, route in list(self.routes.items()):
            if len(self.routes) <= MAX_ROUTES:
                break
            if route.active == 0:  # least recently used first; busy ones stay until idle
                del self.routes[key]
                task = asyncio.get_running_loop().create_task(route.client.aclose())
                self.closing.add(task)
                task.add_done_callback(self.closing.discard)

    async def aclose(self) -> None:
        routes, self.routes = list(self.routes.values()), OrderedDict()
        for route in routes:
            await route.client.aclose()
        if self.closing:
            await asyncio.gather(*self.closing, return_exceptions=True)


_pools_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pools] = weakref.WeakKeyDictionary()


def _pools() -> _Pools:
    loop = asyncio.get_running_loop()
    pools = _pools_by_loop.get(loop)
    if pools is None:
        pools = _pools_by_loop[loop] = _Pools()
    return pools


async def close_pools() -> None:
    """Close every kept-alive outbound connection of the running event loop (node shutdown)."""
    pools = _pools_by_loop.pop(asyncio.get_running_loop(), None)
    if pools is not None:
        await pools.aclose()


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
                    method, current_url, current_headers, current_body, max_bytes,
                    allow_private, timeout)
                location = resp_headers.get("location")
                if status not in _REDIRECTS or not location:
                    return OutboundResponse(status=status, headers=dict(resp_headers),
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
    except (TimeoutError, httpx.TimeoutException):
        raise OutboundRefused(f"no complete answer within {timeout:g} s", reason="timeout",
                              status=408, context={"url": url, "timeout": timeout}) from None
