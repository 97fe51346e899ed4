"""OAuth strategies without a browser: the presets' configuration, the return-URL rule, and
GitHub's e-mail selection, the last against a local HTTP server speaking GitHub's API shape
(no real network)."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from nodebase.auth.config import parse_auth_config
from nodebase.auth.oauth import return_allowed
from nodebase.auth.oauth_config import OAuthStrategyConfig
from nodebase.auth.oauth_providers import OAuthError, Profile, ProviderClient, select_github_email
from nodebase.kernel.errors import ConfigInvalid

PERMS = {"data.entity.read"}


def parse(strategies: dict[str, Any], **extra: Any) -> dict[str, OAuthStrategyConfig]:
    cfg, doc = parse_auth_config({"strategies": strategies, **extra}, PERMS, set())
    return cfg.oauth


def problems(strategies: dict[str, Any], **extra: Any) -> list[dict[str, str]]:
    with pytest.raises(ConfigInvalid) as info:
        parse_auth_config({"strategies": strategies, **extra}, PERMS, set())
    return list(info.value.errors)


def _paths(errors: list[dict[str, str]]) -> list[str]:
    return [e["path"] for e in errors]


def test_google_preset() -> None:
    google = parse({"google": {"type": "oauth", "config": {"name": "google", "client": {"client_id": "g-id"}}}})["google"]
    assert (google.protocol, google.issuer, google.scopes) == ("oidc", "https://accounts.google.com",
                                                             ("openid", "email", "profile"))
    assert google.client_id == "g-id" and google.auth_method == "client_secret_basic"
    assert google.secret_name == "oauth_google_client_secret"
    assert google.public() == {"enabled": True, "type": "oauth", "config": {"name": "google", "type": "oidc"}}


def test_github_preset_and_enterprise_urls() -> None:
    gh = parse({"github": {"type": "oauth", "config": {"name": "github", "client": {"client_id": "Iv1"}}}})["github"]
    assert (gh.protocol, gh.issuer, gh.base_url, gh.api_url) == ("oauth2", None, "https://github.com",
                                                                 "https://api.github.com")
    assert gh.scopes == ("read:user", "user:email")
    assert gh.public() == {"enabled": True, "type": "oauth", "config": {"name": "github", "type": "oauth2"}}
    ghes = parse({"work": {"type": "oauth", "config": {
        "name": "github", "client": {"client_id": "x"}, "base_url": "https://git.corp.example",
        "api_url": "https://git.corp.example/api/v3/"}}})["work"]
    assert (ghes.base_url, ghes.api_url) == ("https://git.corp.example", "https://git.corp.example/api/v3")


def test_client_secret_is_never_in_the_document() -> None:
    cfg, doc = parse_auth_config({"strategies": {"google": {"type": "oauth", "config": {
        "name": "google", "client": {"client_id": "g", "client_secret": "s3cr3t-value"}}}}}, PERMS, set())
    assert "s3cr3t-value" not in json.dumps(doc)
    assert doc["strategies"]["google"]["config"]["client"] == {
        "client_id": "g", "token_endpoint_auth_method": "client_secret_basic"}


def test_bad_strategies_are_named() -> None:
    errors = problems({
        "facebook": {"type": "oauth", "config": {"name": "facebook", "client": {"client_id": "x"}}},
        "corp": {"type": "custom_oauth", "config": {"issuer": "not a url", "client": {"client_id": "x"}}},
        "me": {"type": "custom_oauth", "config": {"issuer": "https://id.example", "client": {"client_id": "x"}}},
        "noid": {"type": "custom_oauth", "config": {"issuer": "https://id.example", "scopes": ["email"],
                                                    "client": {"client_id": "x"}}},
        "boss": {"type": "custom_oauth", "config": {"issuer": "https://id.example", "default_role": "admin",
                                                    "client": {"client_id": "x"}}},
        "ldap": {"type": "ldap"},
    })
    assert sorted(_paths(errors)) == sorted([
        "auth.strategies.facebook.config.name", "auth.strategies.corp.config.issuer", "auth.strategies.me",
        "auth.strategies.noid.config.scopes", "auth.strategies.boss.config.default_role", "auth.strategies.ldap"])


def test_return_urls() -> None:
    origin, allowed = "http://node.test:8080", ("https://app.example.com/signed-in",)
    for ok in ("/", "/app?x=1", "http://node.test:8080/x", "https://app.example.com/signed-in",
               "https://app.example.com/signed-in/deep?q=1"):
        assert return_allowed(ok, origin, allowed), ok
    for bad in ("//evil.example/", "https://evil.example/", "https://app.example.com/signed-inx",
                "https://app.example.com/other", "http://app.example.com/signed-in", "/\\evil.example",
                "https://app.example.com.evil.example/signed-in", "javascript:alert(1)",
                "https://user@app.example.com/signed-in", "relative/path"):
        assert not return_allowed(bad, origin, allowed), bad


def test_github_email_selection() -> None:
    e = lambda addr, primary=False, verified=False: {"email": addr, "primary": primary,  # noqa: E731
                                                    "verified": verified, "visibility": None}
    assert select_github_email([e("a@x.io", verified=True), e("p@x.io", True, True)]) == ("p@x.io", True)
    # primary unverified: another verified address is used
    assert select_github_email([e("p@x.io", True, False), e("b@x.io", verified=True)]) == ("b@x.io", True)
    # nothing verified: the primary, marked unverified
    assert select_github_email([e("q@x.io"), e("p@x.io", True, False)]) == ("p@x.io", False)
    # no /user/emails access: the public profile address, unverified
    assert select_github_email([], "pub@x.io") == ("pub@x.io", False)
    assert select_github_email({"message": "Not Found"}, None) == (None, False)


# -- a local server with GitHub's API shape ------------------------------------------------------
GITHUB_CODE, TOKEN, SECRET = "good-code", "gho_localtoken", "gh-secret"


class FakeGitHub(BaseHTTPRequestHandler):
    emails: list[dict[str, Any]] = []
    seen: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        self.seen.append({"path": self.path, "form": form, "auth": self.headers.get("Authorization"),
                          "accept": self.headers.get("Accept")})
        if self.path != "/login/oauth/access_token":
            return self._send(404, {"message": "Not Found"})
        expected = "Basic " + base64.b64encode(f"Iv1.test:{SECRET}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            return self._send(200, {"error": "incorrect_client_credentials"})
        if form.get("code") != GITHUB_CODE or not form.get("code_verifier"):
            # GitHub answers 200 with an error for a bad or used code
            return self._send(200, {"error": "bad_verification_code",
                                    "error_description": "The code passed is incorrect or expired."})
        self._send(200, {"access_token": TOKEN, "token_type": "bearer", "scope": "read:user,user:email"})

    def do_GET(self) -> None:  # noqa: N802
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._send(401, {"message": "Bad credentials"})
        if self.path == "/api/user":
            return self._send(200, {"login": "octocat", "id": 583231, "name": None, "email": "octo@public.example"})
        if self.path == "/api/user/emails":
            return self._send(200, self.emails)
        self._send(404, {"message": "Not Found"})


@pytest.fixture(scope="module")
def github() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGitHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _github_cfg(base: str) -> OAuthStrategyConfig:
    return parse({"github": {"type": "oauth", "config": {
        "name": "github", "client": {"client_id": "Iv1.test"}, "base_url": base, "api_url": base + "/api"}}})["github"]


def test_github_sign_in_against_github_api_shape(github: str) -> None:
    client = ProviderClient(_github_cfg(github), allow_private=True)
    auth = asyncio.run(client.authorization("http://node.test/api/auth/github/callback"))
    url = urlsplit(auth.url)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{github}/login/oauth/authorize"
    assert query["scope"] == "read:user user:email" and query["state"] == auth.state
    assert query["code_challenge_method"] == "S256" and auth.nonce is None

    FakeGitHub.emails = [{"email": "old@x.example", "primary": False, "verified": True, "visibility": None},
                         {"email": "octo@x.example", "primary": True, "verified": True, "visibility": "private"}]
    profile = asyncio.run(client.profile(GITHUB_CODE, auth.verifier, None, "http://node.test/cb", SECRET))
    assert profile == Profile("583231", "octo@x.example", True, "octocat")
    sent = FakeGitHub.seen[-1]
    assert sent["form"]["code_verifier"] == auth.verifier and sent["accept"] == "application/json"
    assert sent["form"]["redirect_uri"] == "http://node.test/cb" and "client_secret" not in sent["form"]

    FakeGitHub.emails = [{"email": "octo@x.example", "primary": True, "verified": False, "visibility": None}]
    profile = asyncio.run(client.profile(GITHUB_CODE, auth.verifier, None, "http://node.test/cb", SECRET))
    assert profile == Profile("583231", "octo@x.example", False, "octocat")


def test_github_refusals(github: str) -> None:
    client = ProviderClient(_github_cfg(github), allow_private=True)
    with pytest.raises(OAuthError) as info:
        asyncio.run(client.profile("used-code", "v" * 43, None, "http://node.test/cb", SECRET))
    assert info.value.status == 401
    assert info.value.context == {"step": "token", "provider_error": "bad_verification_code"}
    assert "incorrect or expired" in info.value.message
    with pytest.raises(OAuthError) as info:
        asyncio.run(client.profile(GITHUB_CODE, "v" * 43, None, "http://node.test/cb", "wrong-secret"))
    assert info.value.context["provider_error"] == "incorrect_client_credentials"
    # a loopback provider without fetch_allow_private: refused before any request
    strict = ProviderClient(_github_cfg(github), allow_private=False)
    with pytest.raises(OAuthError) as info:
        asyncio.run(strict.profile(GITHUB_CODE, "v" * 43, None, "http://node.test/cb", SECRET))
    assert info.value.status == 502 and info.value.context == {"step": "token", "reason": "address"}


# -- ID tokens against a JWKS served locally -------------------------------------------------------
class FakeIssuer(BaseHTTPRequestHandler):
    issuer = ""
    jwks: dict[str, Any] = {}
    jwks_hits = 0

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/.well-known/openid-configuration":
            body: Any = {"issuer": self.issuer, "authorization_endpoint": self.issuer + "/auth",
                         "token_endpoint": self.issuer + "/token", "jwks_uri": self.issuer + "/jwks",
                         "id_token_signing_alg_values_supported": ["RS256", "HS256", "none"]}
        elif self.path == "/jwks":
            type(self).jwks_hits += 1
            body = self.jwks
        else:
            body = {}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_id_token_signature_and_claims_are_checked() -> None:
    import time

    from joserfc import jwt
    from joserfc.jwk import OctKey, RSAKey

    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeIssuer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    issuer = f"http://127.0.0.1:{server.server_address[1]}"
    FakeIssuer.issuer = issuer
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    FakeIssuer.jwks = {"keys": [key.as_dict(private=False)]}
    try:
        cfg = parse({"corp": {"type": "custom_oauth", "config": {
            "issuer": issuer, "client": {"client_id": "nb"}}}})["corp"]
        client = ProviderClient(cfg, allow_private=True)
        now = int(time.time())
        good = {"iss": issuer, "sub": "u1", "aud": "nb", "exp": now + 300, "iat": now, "nonce": "n-1"}

        def sign(claims: dict[str, Any], k: Any = key, header: dict[str, Any] | None = None) -> str:
            return jwt.encode(header or {"alg": "RS256", "kid": "k1"}, claims, k)

        def refused(token: str, nonce: str = "n-1") -> OAuthError:
            with pytest.raises(OAuthError) as info:
                asyncio.run(client.verify_id_token(token, nonce, None))
            assert info.value.status == 401
            return info.value

        assert asyncio.run(client.verify_id_token(sign(good), "n-1", None))["sub"] == "u1"
        assert refused(sign(good), nonce="n-2").context == {"step": "id_token", "claim": "nonce"}
        assert refused(sign({**good, "aud": "someone-else"})).context["claim"] == "aud"
        assert refused(sign({**good, "iss": "https://evil.example"})).context["claim"] == "iss"
        assert refused(sign({**good, "exp": now - 3600, "iat": now - 7200})).context["claim"] == "exp"
        # another key with the same kid: the signature fails
        other = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        assert "signature" in refused(sign(good, other)).message.lower()
        # HS256 with a guessable key, and alg "none", are never accepted
        refused(sign(good, OctKey.import_key("nb-client-secret-nb-client-secret"), {"alg": "HS256", "kid": "k1"}))
        header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
        payload = base64.urlsafe_b64encode(json.dumps(good).encode()).rstrip(b"=").decode()
        refused(f"{header}.{payload}.")
        # the provider rotated its keys: an unknown kid fetches the JWKS once more
        new = RSAKey.generate_key(2048, parameters={"kid": "k2"})
        FakeIssuer.jwks = {"keys": [new.as_dict(private=False)]}
        hits = FakeIssuer.jwks_hits
        claims = asyncio.run(client.verify_id_token(sign(good, new, {"alg": "RS256", "kid": "k2"}), "n-1", None))
        assert claims["sub"] == "u1" and FakeIssuer.jwks_hits == hits + 1
    finally:
        server.shutdown()
        server.server_close()
