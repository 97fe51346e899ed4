"""OAuth / OpenID Connect sign-in end to end: Debian's headless Chromium (Playwright) signs in
to nodebase through a REAL OpenID Provider running locally, panva's certified
``oidc-provider`` (tests/node/oidc_provider.mjs; it requires PKCE S256).

The provider's login page takes a login name ``v:<e-mail>`` (a verified e-mail) or
``u:<e-mail>`` (not verified); the subject is the login name.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from tests.auth.helpers import PASSWORD, email, login, register, set_auth_config
from tests.conftest import admin_headers
from tests.nodeserver import NodeServer
from tests.support.services import free_port

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
CLIENT_ID = "nodebase-test"


@dataclass
class Provider:
    issuer: str
    secret: str
    proc: subprocess.Popen[str]


@pytest.fixture(scope="module")
def oidc_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeServer]:
    server = NodeServer(tmp_path_factory.mktemp("node-oidc"),
                        env={"NODEBASE_FETCH_ALLOW_PRIVATE": "1"}).start()
    yield server
    server.stop()
    errors = server.server_errors()
    assert not errors, f"the server logged unhandled errors:\n{errors}"


@pytest.fixture(scope="module")
def provider(oidc_node: NodeServer) -> Iterator[Provider]:
    assert shutil.which("node"), "node is not installed"
    if not (NODE_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=NODE_DIR, check=True, timeout=600, capture_output=True)
    port, secret = free_port(), secrets.token_urlsafe(24)
    redirects = [f"http://{host}:{oidc_node.port}/api/auth/oidc/{end}"
                 for host in ("localhost", "127.0.0.1") for end in ("callback", "token")]
    env = {**os.environ, "OP_PORT": str(port), "OP_CLIENT_ID": CLIENT_ID, "OP_CLIENT_SECRET": secret,
           "OP_REDIRECT_URIS": ",".join(redirects)}
    proc = subprocess.Popen(["node", str(NODE_DIR / "oidc_provider.mjs")], cwd=NODE_DIR, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the provider listens (or exits)
        assert line.startswith("ready "), f"oidc-provider did not start: {line!r}"
        yield Provider(line.split()[1], secret, proc)
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        if proc.poll() is None:
            proc.kill()


@pytest.fixture(scope="module")
def configured(oidc_node: NodeServer, provider: Provider) -> NodeServer:
    with oidc_node.client(headers=admin_headers(oidc_node)) as admin:
        cfg = set_auth_config(admin, {
            "roles": {"member": {"permissions": ["data.entity.read"]}},
            "strategies": {"oidc": {"type": "custom_oauth", "config": {
                "issuer": provider.issuer, "default_role": "member",
                "return_urls": ["https://app.example.com/signed-in"],
                "client": {"client_id": CLIENT_ID, "client_secret": provider.secret}}}}})
    assert cfg["strategies"]["oidc"]["config"]["client"] == {
        "client_id": CLIENT_ID, "token_endpoint_auth_method": "client_secret_basic"}
    return oidc_node


def _with_param(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


@dataclass
class Outcome:
    status: int
    body: Any
    callback_url: str
    context: Any

    def cookie(self, name: str) -> str | None:
        return next((c["value"] for c in self.context.cookies() if c["name"] == name), None)


class Flow:
    """One sign-in in a fresh browser context (its own provider session)."""

    def __init__(self, browser: Any, node: NodeServer) -> None:
        self.browser, self.node = browser, node
        self.base = f"http://localhost:{node.port}"

    def begin(self, redirect: str = "/api/auth/me") -> tuple[str, str]:
        """Start a browser-flow sign-in outside the browser: (provider URL, _challenge cookie)."""
        with httpx.Client(base_url=self.base, timeout=30) as c:
            r = c.post("/api/auth/oidc/login", params={"redirect": redirect})
        assert r.status_code == 302, r.text
        cookie = r.headers["set-cookie"].split(";")[0].partition("=")[2]
        return r.headers["location"], cookie

    def context(self, challenge: str | None = None) -> Any:
        context = self.browser.new_context()
        if challenge is not None:
            context.add_cookies([{"name": "_challenge", "value": challenge, "domain": "localhost",
                                  "path": "/api/auth/oidc", "httpOnly": True, "sameSite": "Lax"}])
        return context

    def sign_in(self, login_name: str, *, tamper: Callable[[str], str] | None = None,
                redirect: str = "/api/auth/me") -> Outcome:
        """Sign in at the provider as ``login_name``. With ``tamper``, the provider URL nodebase
        redirects to is rewritten (an attacker changing state or nonce) before the browser
        goes there, with the state cookie nodebase set."""
        if tamper is None:
            context = self.context()
            page = context.new_page()
            page.goto(f"{self.base}/api/auth/oidc/login?redirect={redirect}")
        else:
            url, challenge = self.begin(redirect)
            context = self.context(challenge)
            page = context.new_page()
            page.goto(tamper(url))
        page.fill("input[name=login]", login_name)
        page.fill("input[name=password]", "anything")
        page.click("button[type=submit]")
        page.wait_for_selector("button:has-text('Continue')")
        with page.expect_response(re.compile(r"/api/auth/oidc/callback\?")) as info:
            page.click("button:has-text('Continue')")
        response = info.value
        if response.status == 302:
            page.wait_for_url(f"**{redirect}")
        page.wait_for_load_state()
        return Outcome(response.status, _json_body(page.inner_text("body")), response.url, context)


def _json_body(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


@pytest.fixture
def flow(chromium: Any, configured: NodeServer) -> Iterator[Flow]:
    f = Flow(chromium, configured)
    yield f


def _users(node: NodeServer, address: str) -> list[dict[str, Any]]:
    with node.client(headers=admin_headers(node)) as admin:
        r = admin.get("/api/data/entity/users", params={"where": f'{{"email":"{address}"}}'})
        assert r.status_code == 200, r.text
        return list(r.json()["data"])


def test_strategy_is_listed_without_secrets(configured: NodeServer, provider: Provider) -> None:
    with configured.client() as c:
        listed = c.get("/api/auth/strategies").json()["strategies"]
    assert listed["oidc"] == {"enabled": True, "type": "custom_oauth", "config": {"name": "oidc", "type": "oidc"}}
    with configured.client(headers=admin_headers(configured)) as admin:
        raw = admin.get("/api/system/config/auth", params={"secrets": "1"}).text
    assert provider.secret not in raw
    assert provider.secret not in configured.log.read_text()


def test_first_sign_in_creates_the_user_then_signs_in_again(flow: Flow) -> None:
    address = email("oidc-new")
    first = flow.sign_in(f"v:{address}")
    assert first.status == 302
    user = first.body["user"]
    assert user["email"] == address and user["role"] == "member" and user["strategy"] == "oidc"
    assert first.cookie("auth") and first.cookie("_challenge") is None
    assert [u["id"] for u in _users(flow.node, address)] == [user["id"]]
    # the same provider account again (another browser): the same user, nothing new
    again = flow.sign_in(f"v:{address}")
    assert again.status == 302 and again.body["user"]["id"] == user["id"]
    assert len(_users(flow.node, address)) == 1


def test_verified_email_links_an_existing_account(flow: Flow) -> None:
    address = email("oidc-link")
    with flow.node.client() as c:
        existing, _ = register(c, address)
    done = flow.sign_in(f"v:{address}")
    assert done.status == 302
    assert done.body["user"]["id"] == existing["id"] and done.body["user"]["email"] == address
    assert len(_users(flow.node, address)) == 1
    # linking cleared the password (pre-account hijacking: whoever set it may not own the e-mail)
    with flow.node.client() as c:
        assert login(c, address).status_code == 401


def test_unverified_email_never_links_nor_creates(flow: Flow) -> None:
    address = email("oidc-unverified")
    with flow.node.client() as c:
        existing, _ = register(c, address)
    refused = flow.sign_in(f"u:{address}")
    assert refused.status == 403
    assert refused.body["type"] == "OAuthException"
    assert refused.body["context"] == {"reason": "email_not_verified", "strategy": "oidc",
                                       "existing_account": True}
    assert refused.cookie("auth") is None
    with flow.node.client() as c:
        assert login(c, address).status_code == 200  # the account is untouched
    assert [u["id"] for u in _users(flow.node, address)] == [existing["id"]]

    fresh = email("oidc-unverified-new")
    refused = flow.sign_in(f"u:{fresh}")
    assert refused.status == 403
    assert refused.body["context"]["existing_account"] is False
    assert _users(flow.node, fresh) == []


def test_tampered_state_is_refused(flow: Flow) -> None:
    address = email("oidc-state")
    done = flow.sign_in(f"v:{address}", tamper=lambda url: _with_param(url, state="tampered-" + url[-8:]))
    assert done.status == 400
    assert done.body["type"] == "OAuthException" and done.body["context"] == {"reason": "state"}
    assert done.body["error"].startswith("The state does not match")
    assert done.cookie("auth") is None and _users(flow.node, address) == []


def test_wrong_nonce_is_refused(flow: Flow) -> None:
    address = email("oidc-nonce")
    done = flow.sign_in(f"v:{address}", tamper=lambda url: _with_param(url, nonce="not-the-nonce-nodebase-sent"))
    assert done.status == 401
    assert done.body["context"] == {"step": "id_token", "claim": "nonce"}
    assert done.cookie("auth") is None and _users(flow.node, address) == []


def test_reused_code_and_reused_state_are_refused(flow: Flow) -> None:
    address = email("oidc-code")
    first = flow.sign_in(f"v:{address}")
    assert first.status == 302
    old = parse_qs(urlsplit(first.callback_url).query)
    # a new sign-in (its own state, bound to this browser) whose callback carries the first,
    # already redeemed code
    _, challenge = flow.begin()
    context = flow.context(challenge)
    page = context.new_page()
    state = challenge.rpartition(".")[0]
    response = page.goto(f"{flow.base}/api/auth/oidc/callback?" + urlencode({"code": old["code"][0], "state": state}))
    assert response.status == 401
    body = _json_body(page.inner_text("body"))
    assert body["context"] == {"step": "token", "provider_error": "invalid_grant"}
    assert not [c for c in context.cookies() if c["name"] == "auth"]
    # the first callback replayed with its state bound (bknd's header): the state was used
    with flow.node.client() as c:
        r = c.get("/api/auth/oidc/callback", params={"code": old["code"][0], "state": old["state"][0]},
                  headers={"X-State-Challenge": old["state"][0]})
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith("The sign-in state is unknown, expired or already used")


def test_expired_code_is_refused(flow: Flow) -> None:
    # "x:" accounts get a code that lives 1 s, delivered 2.5 s after it was issued (the
    # provider holds its redirect back to nodebase): nodebase must not sign in with it
    address = email("oidc-expired")
    done = flow.sign_in(f"x:{address}")
    assert done.status == 401
    assert done.body["context"] == {"step": "token", "provider_error": "invalid_grant"}
    assert done.cookie("auth") is None and _users(flow.node, address) == []


def test_bknd_token_mode(flow: Flow) -> None:
    address = email("oidc-token")
    with flow.node.client() as c:
        started = c.get("/api/auth/oidc/login", headers={"Accept": "application/json"})
    assert started.status_code == 200, started.text
    body = started.json()
    assert set(body) == {"url", "challenge", "action"} and body["action"] == "login"
    query = parse_qs(urlsplit(body["url"]).query)
    assert query["state"] == [body["challenge"]] and query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == [f"{flow.node.url}/api/auth/oidc/token"]
    context = flow.browser.new_context()
    page = context.new_page()
    page.goto(body["url"])
    page.fill("input[name=login]", f"v:{address}")
    page.fill("input[name=password]", "anything")
    page.click("button[type=submit]")
    page.wait_for_selector("button:has-text('Continue')")
    with page.expect_response(re.compile(r"/api/auth/oidc/token\?")) as info:
        page.click("button:has-text('Continue')")
    landing = info.value
    code = landing.json()["code"]
    state = parse_qs(urlsplit(landing.url).query)["state"][0]
    assert code and state == body["challenge"]
    with flow.node.client() as c:
        done = c.get("/api/auth/oidc/callback", params={"code": code, "state": state},
                     headers={"X-State-Challenge": body["challenge"], "X-State-Action": "login"})
    assert done.status_code == 200, done.text
    assert done.json()["user"]["email"] == address and done.json()["token"]
    assert "auth=" in done.headers["set-cookie"]


def test_redirects_only_to_allowed_places(configured: NodeServer) -> None:
    with configured.client() as c:
        evil = c.get("/api/auth/oidc/login", params={"redirect": "https://evil.example/"},
                     headers={"Accept": "text/html"})
        assert evil.status_code == 400 and evil.json()["context"]["field"] == "redirect"
        for target in ("//evil.example/x", "https://app.example.com.evil.example/signed-in",
                       "https://app.example.com/other"):
            r = c.post("/api/auth/oidc/login", params={"redirect": target})
            assert r.status_code == 400, target
        ok = c.post("/api/auth/oidc/login", params={"redirect": "https://app.example.com/signed-in/x"})
        assert ok.status_code == 302 and ok.headers["location"].startswith(
            "http://127.0.0.1:") and "code_challenge=" in ok.headers["location"]
        assert "_challenge=" in ok.headers["set-cookie"] and "HttpOnly" in ok.headers["set-cookie"]
        unknown = c.get("/api/auth/nope/login")
        assert unknown.status_code == 404 and unknown.json()["context"]["strategy"] == "nope"


def test_password_still_signs_in_after_config(configured: NodeServer) -> None:
    with configured.client() as c:
        address = email("oidc-pw")
        register(c, address)
        assert login(c, address, PASSWORD).status_code == 200
