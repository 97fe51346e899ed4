"""The client's address: the socket peer, or — behind proxies you trust — the address they saw.

``X-Forwarded-For`` is believed only when the direct peer is in the ``trusted_proxies``
setting (IPs or CIDRs, env ``NODEBASE_TRUSTED_PROXIES``). The header is then read from the
right: each hop a trusted proxy appended is skipped, and the first address that is not a
trusted proxy is the client (anything to its left was written by the client itself and can be
forged). A malformed hop ends the walk at the last address known to be good.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TrustedProxiesInvalid(ValueError):
    pass


def _address(text: str) -> Address | None:
    """An IP from a header hop or a socket peer (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``)."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


class ClientAddress:
    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        self.networks: list[Network] = []
        for entry in trusted_proxies:
            try:
                self.networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise TrustedProxiesInvalid(
                    f"trusted_proxies: {entry!r} is not an IP address or CIDR (e.g. 10.0.0.0/8)"
                ) from None

    def trusted(self, ip: Address) -> bool:
        return any(ip in net for net in self.networks)

    def of(self, scope: Any) -> str:
        """The client's address for this ASGI scope, as a string ("unknown" without a peer)."""
        client = scope.get("client")
        peer = _address(str(client[0])) if client else None
        if peer is None:
            return str(client[0]) if client else "unknown"
        if not self.networks or not self.trusted(peer):
            return str(peer)
        hops: list[str] = []
        for name, value in scope.get("headers", ()):
            if name == b"x-forwarded-for":
                hops += value.decode("latin-1").split(",")
        current = peer
        for hop in reversed(hops):
            ip = _address(hop)
            if ip is None:
                break
            current = ip
            if not self.trusted(ip):
                break
        return str(current)
