"""Which address is the client: X-Forwarded-For read from the right, only via trusted proxies."""

from __future__ import annotations

import pytest

from nodebase.kernel.forwarded import ClientAddress, TrustedProxiesInvalid


def scope(peer: str | None, *forwarded: str) -> dict[str, object]:
    return {"client": (peer, 5000) if peer else None,
            "headers": [(b"x-forwarded-for", f.encode()) for f in forwarded]}


@pytest.mark.parametrize(("trusted", "peer", "forwarded", "client"), [
    ((), "203.0.113.1", ["198.51.100.1"], "203.0.113.1"),  # no setting: the header is ignored
    (("10.0.0.0/8",), "203.0.113.1", ["198.51.100.1"], "203.0.113.1"),  # untrusted peer
    (("10.0.0.0/8",), "10.0.0.5", ["198.51.100.1"], "198.51.100.1"),
    (("10.0.0.0/8",), "10.0.0.5", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),  # left part forged
    (("10.0.0.0/8",), "10.0.0.5", ["6.6.6.6, 198.51.100.1, 10.2.2.2"], "198.51.100.1"),
    (("10.0.0.0/8",), "10.0.0.5", ["6.6.6.6", "198.51.100.1"], "198.51.100.1"),  # two headers
    (("10.0.0.0/8",), "10.0.0.5", ["10.3.3.3, 10.2.2.2"], "10.3.3.3"),  # all trusted: left-most
    (("10.0.0.0/8",), "10.0.0.5", ["198.51.100.1, garbage"], "10.0.0.5"),  # stop at a bad hop
    (("10.0.0.0/8",), "10.0.0.5", [], "10.0.0.5"),
    (("10.0.0.0/8",), "10.0.0.5", ["198.51.100.1:4711"], "198.51.100.1"),
    (("::1", "fd00::/8"), "::1", ["[2001:db8::7]:443, fd00::3"], "2001:db8::7"),
    (("127.0.0.1",), "::ffff:127.0.0.1", ["198.51.100.1"], "198.51.100.1"),
    (("127.0.0.1",), None, ["198.51.100.1"], "unknown"),
])
def test_client_address(trusted: tuple[str, ...], peer: str | None, forwarded: list[str],
                        client: str) -> None:
    assert ClientAddress(trusted).of(scope(peer, *forwarded)) == client


def test_a_bad_entry_is_named() -> None:
    with pytest.raises(TrustedProxiesInvalid, match="'10.0.0.0/33'"):
        ClientAddress(["10.0.0.0/33"])
