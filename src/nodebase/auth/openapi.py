"""OpenAPI description of the Auth routes (``/api/auth``), as :mod:`nodebase.auth.transport`
answers them (bknd's shapes, reference §2.3).

Sign-in routes answer JSON to a JSON request (``Content-Type`` or ``Accept`` JSON) and a 302
redirect to a form post. A user is the ``users`` row as the Data API reads it (the data
module's component), so fields added to ``users`` show here too.
"""

from __future__ import annotations

from typing import Any

from nodebase.auth.transport import BASE
from nodebase.data.openapi import component_names
from nodebase.kernel.openapi import JSON, Schema, errors, nullable, ok, path_param, query_param, ref

TAG = "Auth"
FORM = ("application/x-www-form-urlencoded", "multipart/form-data")

REDIRECT: Schema = {
    "description": "A form post (not JSON): redirected to ?redirect= or auth.cookie.pathSuccess "
    "on success, back to the Referer with a __bknd_flash cookie on failure",
    "headers": {"Location": {"schema": {"type": "string"}}},
}
SET_COOKIE = {"Set-Cookie": {"description": "auth=<signed token>", "schema": {"type": "string"}}}

API_KEY: Schema = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "role": {"type": "string"},
        "prefix": {"type": "string", "description": "The key's first characters, to tell keys apart"},
        "created_at": {"type": "string", "format": "date-time"},
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
        "revoked_at": {"type": ["string", "null"], "format": "date-time"},
        "created_by": {"type": ["string", "null"]},
        "active": {"type": "boolean"},
    },
    "required": ["id", "name", "role", "prefix", "created_at", "expires_at", "revoked_at",
                 "created_by", "active"],
}
PASSKEY: Schema = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "credential_id": {"type": "string"},
        "transports": {"type": "array", "items": {"type": "string"}},
        "aaguid": {"type": "string"},
        "backed_up": {"type": "boolean"},
        "device_type": {"type": "string"},
        "sign_count": {"type": "integer"},
        "created_at": {"type": ["string", "null"], "format": "date-time"},
        "last_used_at": {"type": ["string", "null"], "format": "date-time"},
    },
    "required": ["id", "name", "credential_id", "transports", "aaguid", "backed_up",
                 "device_type", "sign_count", "created_at", "last_used_at"],
}
#: the component schemas this module adds
AUTH_SCHEMAS = {"AuthApiKey": API_KEY, "AuthPasskey": PASSKEY}

_CREDENTIALS = {
    "email": {"type": "string", "format": "email", "maxLength": 254},
    "password": {"type": "string", "description": "At least auth.strategies.password.config.minLength characters"},
}


def _body(schema: Schema, description: str = "", *, required: bool = True,
          forms: bool = True) -> Schema:
    """A JSON body (and, for the sign-in routes, the same fields as a form)."""
    content: dict[str, Any] = {JSON: {"schema": schema}}
    if forms:
        content.update({ctype: {"schema": schema} for ctype in FORM})
    body: Schema = {"required": required, "content": content}
    if description:
        body["description"] = description
    return body


def _op(op_id: str, summary: str, responses: dict[str, Any], *, permission: str | None = None,
        **extra: Any) -> Schema:
    op: Schema = {"tags": [TAG], "operationId": op_id, "summary": summary}
    if permission:
        op["x-permission"] = permission
    return {**op, **extra, "responses": responses}


def _oauth_paths(b: str, signed_in: dict[str, Any]) -> dict[str, Any]:
    """bknd's OAuth strategy routes (nodebase.auth.oauth_routes)."""
    name = path_param("name", {"type": "string"}, "The OAuth strategy's name (auth.strategies.<name>)")
    action = path_param("action", {"type": "string", "enum": ["login", "register"]}, "login or register")
    back = query_param("redirect", {"type": "string"}, "Where to return after signing in: a path on this "
                       "server or a URL under the strategy's return_urls")
    begun_ok = ok({"type": "object", "properties": {"url": {"type": "string"}, "challenge": {"type": "string"},
                                               "action": {"type": "string"}},
                "required": ["url", "challenge", "action"]},
               "Token mode: the provider URL to open and the state to send back as X-State-Challenge")
    to_provider = {"description": "Browser flow: to the provider, with the _challenge state cookie"}
    state_header = {"name": "X-State-Challenge", "in": "header", "required": False, "schema": {"type": "string"},
                    "description": "Token mode: the challenge the login route returned"}
    return {
        f"{b}/{{name}}/{{action}}": {
            "get": _op("auth_oauth_begin", "Start signing in with a provider (token mode, or a browser "
                       "navigation)", {"200": begun_ok, "302": to_provider, **errors(400, 404, 502)},
                       parameters=[name, action, back], security=[]),
            "post": _op("auth_oauth_begin_form", "Start signing in with a provider (browser flow)",
                        {"302": to_provider, **errors(400, 404, 415, 502)},
                        parameters=[name, action, back], security=[]),
        },
        f"{b}/{{name}}/callback": {"get": _op(
            "auth_oauth_callback", "The provider's redirect back: sign in (or create / link the account)",
            {**signed_in, "302": REDIRECT, **errors(400, 401, 403, 404, 409, 502)},
            parameters=[name, query_param("code", {"type": "string"}, "The authorization code"),
                        query_param("state", {"type": "string"}, "The state sent to the provider"),
                        state_header], security=[])},
        f"{b}/{{name}}/token": {"get": _op(
            "auth_oauth_token", "Token mode's landing page: the code",
            {"200": ok({"type": "object", "properties": {"code": {"type": ["string", "null"]}},
                        "required": ["code"]}), **errors(404)},
            parameters=[name, query_param("code", {"type": "string"}, "The authorization code")],
            security=[])},
    }


def auth_openapi(nb: Any) -> dict[str, Any]:
    """The Auth module's part of the document (see ``nodebase.kernel.openapi``)."""
    names = component_names(nb.data.schema)
    user = ref(names["users"][0]) if "users" in names else {"type": "object"}
    session = {"type": "object", "properties": {"user": user, "token": {"type": "string"}},
               "required": ["user", "token"]}
    signed_in = {"200": {**ok(session, "Signed in: the user and a token (JSON request)"),
                         "headers": SET_COOKIE}}
    redirect = [query_param("redirect", {"type": "string"},
                            "Where a form post goes on success (a path on this server)")]
    b = BASE
    credentials = {"type": "object", "properties": _CREDENTIALS, "required": ["email", "password"]}
    register_body = {**credentials, "additionalProperties": True,
                     "description": "Other users fields may be given; role may not"}
    login = _op("auth_login", "Sign in with e-mail and password",
                {**signed_in, "302": REDIRECT, **errors(400, 401, 404, 415, 422, 429)},
                parameters=redirect, requestBody=_body(credentials), security=[])
    register = _op("auth_register", "Create an account with e-mail and password and sign in",
                   {**signed_in, "302": REDIRECT, **errors(400, 403, 404, 409, 415, 422)},
                   parameters=redirect, requestBody=_body(register_body), security=[])
    logout_ok = {"200": {**ok({"type": "object", "properties": {"ok": {"const": True}},
                               "required": ["ok"]}, "Signed out (JSON request)"),
                         "headers": SET_COOKIE},
                 "302": {"description": "Not a JSON request: back to the Referer or "
                                        "auth.cookie.pathLoggedOut"},
                 **errors(404)}
    strategy = {"type": "object", "properties": {
        "enabled": {"type": "boolean"}, "type": {"type": "string"}, "config": {"type": "object"}},
        "required": ["enabled", "type", "config"]}
    key_with_secret = {**API_KEY, "properties": {**API_KEY["properties"], "key": {
        "type": "string", "description": "The key itself: shown once"}},
        "required": [*API_KEY["required"], "key"]}
    webauthn_options = {"type": "object", "description": "WebAuthn options (JSON encoding of "
                        "PublicKeyCredentialCreationOptions / RequestOptions)",
                        "required": ["challenge"]}
    credential = {"type": "object", "description": "The credential's JSON, as "
                  "@simplewebauthn/browser or PublicKeyCredential.toJSON() gives it"}
    passkey_id = [path_param("id", {"type": "string"}, "The passkey's id")]
    one_passkey = ok({"type": "object", "properties": {"data": ref("AuthPasskey")},
                      "required": ["data"]})
    plain_user = {"type": "object", "properties": {
        "id": {"type": ["integer", "string"]}, "email": {"type": "string"},
        "username": {"type": ["string", "null"]},
        "created_at": {"type": ["string", "null"], "format": "date-time"}},
        "required": ["id", "email", "username", "created_at"]}
    plain_create = {"type": "object", "properties": {
        **_CREDENTIALS, "username": {"type": "string", "maxLength": 64}, "role": {"type": "string"}},
        "required": ["email", "password"]}
    paths: dict[str, Any] = {
        "/api/health": {"get": _op(
            "plain_health", "Health check (seed 001)",
            {"200": ok({"type": "object", "properties": {
                "status": {"const": "ok"}, "version": {"type": "string"},
                "database": {"enum": ["sqlite", "postgresql"]}},
                "required": ["status", "version", "database"]}),
             "503": {"description": "The database does not answer"}}, security=[])},
        "/api/users": {
            "get": _op("plain_users_list", "List users (seed 002)",
                       {"200": ok({"type": "array", "items": plain_user}), **errors(400, 403)},
                       permission="auth.user.manage",
                       parameters=[query_param("limit", {"type": "integer", "minimum": 0, "maximum": 1000},
                                               "At most this many (default 100)"),
                                   query_param("offset", {"type": "integer", "minimum": 0}, "Skip this many")]),
            "post": _op("plain_users_create", "Create a user (seed 002)",
                        {"201": ok(plain_user, "The created user"), **errors(400, 403, 409, 415, 422)},
                        permission="auth.user.manage", requestBody=_body(plain_create, forms=False)),
        },
        "/api/users/{id}": {"get": _op(
            "plain_users_read", "One user: auth.user.manage, or the user themself",
            {"200": ok(plain_user), **errors(401, 404)},
            parameters=[path_param("id", {"type": "string"}, "The user's id")])},
        f"{b}/strategies": {"get": _op(
            "auth_strategies", "The enabled sign-in strategies",
            {"200": ok({"type": "object", "properties": {
                "strategies": {"type": "object", "properties": {
                    "password": strategy, "passkey": strategy}},
                "basepath": {"type": "string"}}, "required": ["strategies", "basepath"]}),
             **errors(404)},
            parameters=[query_param("include_disabled", {"type": "boolean"},
                                    "Also list disabled strategies")], security=[])},
        f"{b}/password/login": {"post": login},
        f"{b}/login": {"post": {**login, "operationId": "auth_login_short",
                                "summary": "Sign in with e-mail and password (short path)"}},
        f"{b}/password/register": {"post": register},
        f"{b}/register": {"post": {**register, "operationId": "auth_register_short",
                                   "summary": "Create an account (the seeds' and Studio's path: 201)",
                                   "responses": {"201": signed_in["200"],
                                                 **{k: v for k, v in register["responses"].items()
                                                    if k != "200"}}}},
        f"{b}/logout": {
            "get": _op("auth_logout", "Sign out: clear the auth cookie", logout_ok),
            "post": _op("auth_logout_post", "Sign out: clear the auth cookie", logout_ok,
                        requestBody={"required": False, "description": "Ignored; a JSON body "
                                     "(or Accept: application/json) gets a JSON answer",
                                     "content": {JSON: {"schema": {}}}}),
        },
        f"{b}/me": {"get": _op(
            "auth_me", "The signed-in user",
            {"200": ok({"type": "object", "properties": {"user": user}, "required": ["user"]}),
             "403": ok({"type": "object", "properties": {"user": {"type": "null"}},
                        "required": ["user"]}, "Not signed in (bknd's answer)"),
             **errors(404)})},
        f"{b}/refresh": {"post": _op(
            "auth_refresh", "A new token (and cookie) for the signed-in user",
            {**signed_in, **errors(401, 404)})},
        f"{b}/password/change": {"post": _op(
            "auth_password_change", "Change the signed-in user's password; older tokens stop "
            "working", {**signed_in, **errors(400, 401, 404, 415, 422, 429)},
            requestBody=_body({"type": "object", "properties": {
                "current_password": {"type": "string"}, "new_password": {"type": "string"}},
                "required": ["current_password", "new_password"]}, forms=False))},
        f"{b}/password/actions/create": {"post": _op(
            "auth_user_create", "Create a user with any role",
            {"200": ok({"type": "object", "properties": {
                "success": {"const": True}, "action": {"const": "create"},
                "strategy": {"const": "password"}, "data": user},
                "required": ["success", "action", "strategy", "data"]}),
             **errors(400, 401, 403, 404, 409, 415, 422)},
            permission="auth.user.create",
            description="Needs auth.user.create and data.entity.create on users.",
            requestBody=_body({**credentials, "properties": {
                **_CREDENTIALS, "role": {"type": "string"}}, "additionalProperties": True},
                forms=False))},
        f"{b}/users/{{id}}": {"patch": _op(
            "auth_user_manage", "Change a user's role, set a new password, or sign the user out "
            "everywhere", {"200": ok({"type": "object", "properties": {"data": user}, "required": ["data"]}),
                           **errors(400, 401, 403, 404, 415, 422)},
            permission="auth.user.create",
            description="Needs auth.user.create and data.entity.update on users. A new password "
                        "or revoke_sessions signs the user out everywhere.",
            parameters=[path_param("id", {"type": "string"}, "The user's id")],
            requestBody=_body({"type": "object", "properties": {
                "role": {"type": ["string", "null"]}, "password": {"type": "string"},
                "revoke_sessions": {"type": "boolean"}}, "additionalProperties": False,
                "minProperties": 1}, forms=False))},
        f"{b}/password/actions/create/schema.json": {"get": _op(
            "auth_user_create_schema", "JSON schema of the create-user body",
            {"200": ok({"type": "object", "properties": {
                "type": {"const": "object"}, "properties": {"type": "object"},
                "required": {"type": "array", "items": {"type": "string"}}},
                "required": ["type", "properties", "required"]}), **errors(404)})},
        f"{b}/apikeys": {
            "get": _op("auth_apikeys_list", "List API keys (never the keys themselves)",
                       {"200": ok({"type": "object", "properties": {"data": {
                           "type": "array", "items": ref("AuthApiKey")}}, "required": ["data"]}),
                        **errors(403, 404)}, permission="auth.apikey.manage"),
            "post": _op("auth_apikeys_create", "Create an API key; the key is returned once",
                        {"201": ok({"type": "object", "properties": {"data": key_with_secret},
                                    "required": ["data"]}, "Created"),
                         **errors(400, 403, 404, 415, 422)},
                        permission="auth.apikey.manage",
                        requestBody=_body({"type": "object", "properties": {
                            "name": {"type": "string", "maxLength": 200},
                            "role": {"type": "string", "description": "A configured role"},
                            "expires_in": {"type": "number", "description": "Seconds from now"},
                            "expires_at": {"type": ["string", "null"], "format": "date-time"}},
                            "required": ["name", "role"]}, forms=False)),
        },
        f"{b}/apikeys/{{id}}": {"delete": _op(
            "auth_apikeys_revoke", "Revoke an API key",
            {"200": ok({"type": "object", "properties": {"data": ref("AuthApiKey")},
                        "required": ["data"]}), **errors(403, 404)},
            permission="auth.apikey.manage",
            parameters=[path_param("id", {"type": "string"}, "The key's id")])},
        f"{b}/passkey/register/options": {"post": _op(
            "auth_passkey_register_options", "WebAuthn creation options for the signed-in user",
            {"200": ok(webauthn_options), **errors(401, 404)})},
        f"{b}/passkey/register/verify": {"post": _op(
            "auth_passkey_register_verify", "Register a passkey for the signed-in user",
            {"201": {**one_passkey, "description": "Registered"},
             **errors(400, 401, 404, 415, 422)},
            requestBody=_body({"type": "object", "properties": {
                "credential": credential, "name": {"type": "string", "maxLength": 100}},
                "required": ["credential"]}, forms=False))},
        f"{b}/passkey/login/options": {"post": _op(
            "auth_passkey_login_options", "WebAuthn request options (with an e-mail: that "
            "account's passkeys)", {"200": ok(webauthn_options), **errors(400, 404, 415, 422)},
            requestBody=_body({"type": "object", "properties": {
                "email": nullable({"type": "string"})}}, required=False, forms=False),
            security=[])},
        f"{b}/passkey/login/verify": {"post": _op(
            "auth_passkey_login_verify", "Sign in with a passkey",
            {**signed_in, "302": REDIRECT, **errors(400, 401, 404, 415, 429)},
            parameters=redirect,
            requestBody=_body({"type": "object", "properties": {"credential": credential},
                               "required": ["credential"]}, forms=False),
            security=[])},
        f"{b}/passkeys": {"get": _op(
            "auth_passkeys_list", "The signed-in user's passkeys",
            {"200": ok({"type": "object", "properties": {"data": {
                "type": "array", "items": ref("AuthPasskey")}}, "required": ["data"]}),
             **errors(401, 404)})},
        f"{b}/passkeys/{{id}}": {
            "patch": _op("auth_passkey_rename", "Rename one of the signed-in user's passkeys",
                         {"200": one_passkey, **errors(400, 401, 404, 415, 422)},
                         parameters=passkey_id,
                         requestBody=_body({"type": "object", "properties": {
                             "name": {"type": "string", "maxLength": 100}},
                             "required": ["name"]}, forms=False)),
            "delete": _op("auth_passkey_delete", "Delete one of the signed-in user's passkeys",
                          {"200": ok({"type": "object", "properties": {"ok": {"const": True}},
                                      "required": ["ok"]}), **errors(401, 404)},
                          parameters=passkey_id),
        },
        **_oauth_paths(b, signed_in),
        "/auth/passkeys": {"get": _op(
            "auth_passkey_page", "A page that signs in and manages passkeys in the browser",
            {"200": {"description": "HTML page",
                     "content": {"text/html": {"schema": {"type": "string"}}}},
             **errors(404)}, security=[])},
    }
    return {"paths": paths, "components": {"schemas": AUTH_SCHEMAS},
            "tags": [{"name": TAG, "description": "Sign-in, users, passkeys and API keys"}]}


__all__ = ["auth_openapi"]
