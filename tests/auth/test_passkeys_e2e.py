"""Passkeys end to end in real headless Chromium (Debian's, driven by Playwright) with a CDP
virtual authenticator, against the built-in page ``/auth/passkeys`` (shared/reference/anchors.md §D).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.auth.helpers import PASSWORD, email, register, set_auth_config
from tests.conftest import admin_headers
from tests.nodeserver import NodeServer

AUTHENTICATOR = {
    "protocol": "ctap2",
    "ctap2Version": "ctap2_1",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}


class Browser:
    def __init__(self, page: Any, cdp: Any, authenticator: str) -> None:
        self.page, self.cdp, self.authenticator = page, cdp, authenticator

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    def credentials(self) -> list[dict[str, Any]]:
        return list(self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.authenticator})["credentials"])

    def user_verified(self, value: bool) -> None:
        self.cdp.send("WebAuthn.setUserVerified", {"authenticatorId": self.authenticator, "isUserVerified": value})


@pytest.fixture
def browser(node: NodeServer, chromium: Any) -> Iterator[Browser]:
    context = chromium.new_context()
    try:
        page = context.new_page()
        # localhost is a secure context and a valid RP id (an IP address is not)
        page.goto(f"http://localhost:{node.port}/auth/passkeys")
        assert "supports passkeys" in page.inner_text("#support")
        cdp = context.new_cdp_session(page)
        cdp.send("WebAuthn.enable", {"enableUI": False})
        added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
        yield Browser(page, cdp, added["authenticatorId"])
    finally:
        context.close()


def test_passkeys_end_to_end(node: NodeServer, browser: Browser) -> None:
    b = browser
    address, other = email("pk"), email("pk-other")
    with node.client() as c:
        register(c, address)
        _, other_token = register(c, other)

    # nobody signed in: no registration
    assert b.js("nb.registerPasskey('x')")["status"] == 401

    # register a passkey for the signed-in user
    assert b.js("([e, p]) => nb.login(e, p)", [address, PASSWORD])["status"] == 200
    r = b.js("nb.registerPasskey('laptop')")
    assert r["status"] == 201, r
    assert r["body"]["data"]["name"] == "laptop"
    creds = b.credentials()
    assert len(creds) == 1 and creds[0]["isResidentCredential"] is True
    # the registration response cannot be replayed (single-use challenge)
    again = b.js("nb.lastRegistration && fetch('/api/auth/passkey/register/verify', {method: 'POST', "
                 "headers: {'Content-Type': 'application/json', 'Authorization': 'Bearer ' + nb.token}, "
                 "body: JSON.stringify({credential: nb.lastRegistration})}).then(r => r.status)")
    assert again == 400
    # the same authenticator cannot register the same account twice (excludeCredentials)
    dup = b.js("nb.registerPasskey('twice')")
    assert dup.get("error") == "InvalidStateError", dup
    b.js("nb.logout()")

    # sign in by e-mail (allowCredentials)
    r = b.js("e => nb.loginPasskey(e)", address)
    assert r["status"] == 200, r
    assert r["body"]["user"]["email"] == address and r["body"]["token"]
    # the same assertion again: refused, the challenge was used
    replay = b.js("nb.replayLastAssertion()")
    assert replay["status"] == 400 and "challenge" in replay["body"]["error"]

    # sign in without a user name (discoverable credential)
    b.js("nb.logout()")
    r = b.js("nb.loginPasskey(null)")
    assert r["status"] == 200, r
    assert r["body"]["user"]["email"] == address

    # another account's e-mail with this (discoverable) passkey: refused
    r = b.js("e => nb.loginPasskey(e)", other)
    assert r["status"] == 401 and "another account" in r["body"]["error"], r

    # list and rename; the counter went up with every sign-in
    listed = b.js("nb.listPasskeys()")["body"]["data"]
    assert len(listed) == 1 and listed[0]["sign_count"] >= 2 and listed[0]["last_used_at"]
    pk_id = listed[0]["id"]
    assert b.js("([i, n]) => nb.renamePasskey(i, n)", [pk_id, "work laptop"])["body"]["data"]["name"] == "work laptop"

    # other users cannot touch someone's passkeys: the real id, another user's token
    with node.client(headers={"Authorization": f"Bearer {other_token}"}) as intruder:
        renamed = intruder.patch(f"/api/auth/passkeys/{pk_id}", json={"name": "stolen"})
        deleted = intruder.delete(f"/api/auth/passkeys/{pk_id}")
        assert intruder.get("/api/auth/passkeys").json() == {"data": []}
    for r in (renamed, deleted):  # the same answer as for an id that does not exist
        assert r.status_code == 404, r.text
        assert r.json() == {"error": f"No passkey with id {pk_id!r}", "type": "NotFoundException",
                            "context": {"id": pk_id}}
    after = b.js("nb.listPasskeys()")["body"]["data"]
    assert [(p["id"], p["name"]) for p in after] == [(pk_id, "work laptop")]

    # user verification: required by the server; with UV off the browser refuses...
    b.user_verified(False)
    r = b.js("e => nb.loginPasskey(e)", address)
    assert r.get("error") == "NotAllowedError", r
    # ...and a client that asks the authenticator not to verify is refused by the server
    r = b.js("e => nb.loginPasskey(e, {userVerification: 'discouraged'})", address)
    assert r["status"] == 401 and "verif" in r["body"]["error"].lower(), r
    b.user_verified(True)

    # a cloned authenticator (signature counter going backwards) is refused
    cred = b.credentials()[0]
    stored = b.js("nb.listPasskeys()")["body"]["data"][0]["sign_count"]
    b.cdp.send("WebAuthn.removeCredential", {"authenticatorId": b.authenticator, "credentialId": cred["credentialId"]})
    b.cdp.send("WebAuthn.addCredential", {"authenticatorId": b.authenticator, "credential": {**cred, "signCount": 0}})
    r = b.js("e => nb.loginPasskey(e)", address)
    assert r["status"] == 401 and "sign count" in r["body"]["error"], r
    b.cdp.send("WebAuthn.removeCredential", {"authenticatorId": b.authenticator, "credentialId": cred["credentialId"]})
    b.cdp.send("WebAuthn.addCredential",
               {"authenticatorId": b.authenticator, "credential": {**cred, "signCount": stored + 10}})
    assert b.js("e => nb.loginPasskey(e)", address)["status"] == 200

    # a wrong origin is refused (the server only accepts its configured origins)
    with node.client(headers=admin_headers(node)) as admin:
        set_auth_config(admin, {"strategies": {"passkey": {"config": {"origins": ["http://localhost:1"]}}}})
        try:
            r = b.js("e => nb.loginPasskey(e)", address)
            assert r["status"] == 401 and "origin" in r["body"]["error"].lower(), r
        finally:
            set_auth_config(admin, {"strategies": {"passkey": {"config": {"origins": []}}}})
    assert b.js("e => nb.loginPasskey(e)", address)["status"] == 200

    # delete it: the authenticator still has it, the server refuses it
    assert b.js("i => nb.deletePasskey(i)", pk_id)["status"] == 200
    assert b.js("nb.listPasskeys()")["body"]["data"] == []
    assert len(b.credentials()) == 1
    r = b.js("nb.loginPasskey(null)")
    assert r["status"] == 401 and "not registered" in r["body"]["error"], r
    assert b.js("i => nb.deletePasskey(i)", pk_id)["status"] == 404  # already gone
