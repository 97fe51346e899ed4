"""OpenAPI 3.1 at /api/system/openapi.json (from the live schema) and the offline Swagger UI."""

from __future__ import annotations

import re
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any
from urllib.parse import urljoin, urlparse

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from starlette.routing import Route

from nodebase import __version__
from nodebase.data.openapi import data_openapi
from nodebase.data.schema import parse_data_config
from nodebase.system.openapi import build_openapi
from tests.conftest import add_entity, add_relation, admin_headers, unique
from tests.nodeserver import NodeServer


def fetch_openapi(api: httpx.Client, *, check_spec: bool = False) -> dict[str, Any]:
    r = api.get("/api/system/openapi.json")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    doc: dict[str, Any] = r.json()
    if check_spec:  # about 0.1 s per path: done where the document is new or richer
        validate(doc)  # raises on anything that is not a valid OpenAPI 3.1 document
    return doc


def check(doc: dict[str, Any], schema: dict[str, Any], value: Any) -> None:
    """Validate ``value`` against a schema of ``doc`` (its #/components/... refs resolve)."""
    errors = list(
        Draft202012Validator({**schema, "components": doc["components"]}).iter_errors(value)
    )
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def response_schema(doc: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    response = doc["paths"][path][method]["responses"][status]
    if "$ref" in response:  # components/responses/<name>
        response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    return schema


def blog(api: httpx.Client) -> tuple[str, str, str]:
    """posts <-(n:1)- comments, posts <-(m:n)-> tags (uuid ids)."""
    posts, comments, tags = unique("oa_posts"), unique("oa_comments"), unique("oa_tags")
    add_entity(
        api,
        posts,
        {
            "title": {"type": "text", "config": {"required": True}},
            "views": {"type": "integer"},
            "status": {"type": "enum", "config": {"options": ["draft", "live"]}},
        },
    )
    add_entity(api, comments, {"text": {"type": "text"}})
    add_entity(api, tags, {"label": {"type": "text"}}, config={"primary_format": "uuid"})
    add_relation(api, unique("oa_rel"), {"type": "n:1", "source": comments, "target": posts})
    add_relation(api, unique("oa_rel"), {"type": "m:n", "source": posts, "target": tags})
    return posts, comments, tags


def test_document_is_valid_openapi_31_with_info_and_security(api: httpx.Client) -> None:
    doc = fetch_openapi(api, check_spec=True)
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] == "nodebase"
    assert doc["info"]["version"] == __version__
    assert doc["servers"][0]["url"] == str(api.base_url).rstrip("/")
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        **schemes["bearerAuth"],
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert (schemes["cookieAuth"]["in"], schemes["cookieAuth"]["name"]) == ("cookie", "auth")
    assert (schemes["apiKeyAuth"]["in"], schemes["apiKeyAuth"]["name"]) == ("header", "X-API-Key")
    for name in ("Error", "Meta"):
        assert name in doc["components"]["schemas"]
    paths = doc["paths"]
    for path, method in [
        ("/api/system/ping", "get"),
        ("/health", "get"),
        ("/api/system/info", "get"),
        ("/api/system/config", "get"),
        ("/api/system/config/{module}", "get"),
        ("/api/system/config/set/{module}", "post"),
        ("/api/system/config/add/{module}/{path}", "post"),
        ("/api/system/config/patch/{module}/{path}", "patch"),
        ("/api/system/config/overwrite/{module}/{path}", "put"),
        ("/api/system/config/remove/{module}/{path}", "delete"),
        ("/api/system/openapi.json", "get"),
        ("/api/system/swagger", "get"),
        ("/api/data/sync", "get"),
        ("/api/data/schema.json", "get"),
        ("/api/data/types", "get"),
    ]:
        assert method in paths.get(path, {}), f"{method.upper()} {path} is not described"
    assert paths["/api/system/ping"]["get"]["security"] == []
    module = paths["/api/system/config/{module}"]["get"]["parameters"][0]
    assert "data" in module["schema"]["enum"]


def test_entity_routes_and_schemas_follow_the_live_schema(api: httpx.Client) -> None:
    posts, comments, tags = blog(api)
    doc = fetch_openapi(api, check_spec=True)
    paths, schemas = doc["paths"], doc["components"]["schemas"]
    base = f"/api/data/entity/{posts}"
    assert set(paths[base]) == {"get", "post", "patch", "delete"}
    assert set(paths[f"{base}/{{id}}"]) == {"parameters", "get", "patch", "delete"}
    for suffix in ("/query", "/fn/count", "/fn/exists"):
        assert "post" in paths[base + suffix]
    # one path per reference, both sides of each relation
    assert paths[f"{base}/{{id}}/{comments}"]["get"]
    assert paths[f"{base}/{{id}}/{tags}"]["get"]
    assert paths[f"/api/data/entity/{comments}/{{id}}/{posts}"]["get"]
    assert paths[f"/api/data/entity/{tags}/{{id}}/{posts}"]["get"]
    # id parameters follow the primary format
    assert paths[f"{base}/{{id}}"]["parameters"][0]["schema"] == {"type": "integer"}
    assert paths[f"/api/data/entity/{tags}/{{id}}"]["parameters"][0]["schema"]["type"] == "string"
    # list parameters: limit/offset/sort/select/where/join/with/count, with the real names
    params = {p["name"]: p for p in paths[base]["get"]["parameters"]}
    assert set(params) == {"limit", "offset", "sort", "select", "where", "join", "with", "count"}
    assert params["select"]["schema"]["items"]["enum"] == ["id", "title", "views", "status"]
    assert sorted(params["join"]["schema"]["items"]["enum"]) == sorted([comments, tags])
    assert "application/json" in params["where"]["content"]
    # create answers 201 and takes an object or an array
    create = paths[base]["post"]
    assert "201" in create["responses"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert {"$ref": f"#/components/schemas/{posts}Create"} in body["anyOf"]
    assert paths[base]["patch"]["requestBody"]["content"]["application/json"]["schema"][
        "required"
    ] == ["update", "where"]
    # components: read (with references), Create (required without defaults), Update
    read = schemas[posts]
    assert "required" not in read  # select= answers only the fields asked for
    assert read["properties"]["id"] == {"type": "integer"}
    assert read["properties"]["status"]["enum"] == ["draft", "live", None]  # optional
    assert read["properties"][comments]["items"] == {"$ref": f"#/components/schemas/{comments}"}
    assert schemas[f"{posts}Create"]["required"] == ["title"]
    assert "id" not in schemas[f"{posts}Create"]["properties"]
    assert "required" not in schemas[f"{posts}Update"]
    assert f"{comments}Create" in schemas and f"{tags}Update" in schemas
    assert schemas[comments]["properties"][f"{posts}_id"]["type"] == ["integer", "null"]
    ids = [
        op["operationId"] for item in paths.values() for op in item.values() if isinstance(op, dict)
    ]
    assert len(ids) == len(set(ids))


def test_real_answers_match_the_documented_schemas(api: httpx.Client) -> None:
    posts, comments, _tags = blog(api)
    doc = fetch_openapi(api)
    base = f"/api/data/entity/{posts}"
    r = api.post(base, json={"title": "Hello", "views": 3})
    assert r.status_code == 201
    check(doc, response_schema(doc, base, "post", "201"), r.json())
    pid = r.json()["data"]["id"]
    r = api.post(base, json=[{"title": "a"}, {"title": "b", "status": "live"}])
    check(doc, response_schema(doc, base, "post", "201"), r.json())
    r = api.post(f"/api/data/entity/{comments}", json={"text": "hi", f"{posts}_id": pid})
    assert r.status_code == 201
    r = api.get(base, params={"with": comments})
    assert r.status_code == 200
    check(doc, response_schema(doc, base, "get", "200"), r.json())
    item = f"{base}/{{id}}"
    r = api.get(f"{base}/{pid}")
    check(doc, response_schema(doc, item, "get", "200"), r.json())
    r = api.get(f"{base}/{pid}/{comments}")
    check(doc, response_schema(doc, f"{item}/{comments}", "get", "200"), r.json())
    r = api.post(f"{base}/fn/count", json={"views": {"$gte": 0}})
    check(doc, response_schema(doc, f"{base}/fn/count", "post", "200"), r.json())
    # select= answers only the fields asked for, and the schemas say so
    r = api.get(base, params={"select": "views"})
    assert r.status_code == 200 and r.json()["data"][0] == {"views": 3}
    check(doc, response_schema(doc, base, "get", "200"), r.json())
    r = api.get(f"{base}/{pid}", params={"select": "title"})
    assert r.json()["data"] == {"title": "Hello"}
    check(doc, response_schema(doc, item, "get", "200"), r.json())
    r = api.get(f"{base}/999999")
    assert r.status_code == 404
    check(doc, response_schema(doc, item, "get", "404"), r.json())
    # the schema rejects what the server rejects: a wrong type in a row
    with pytest.raises(AssertionError):
        check(
            doc,
            response_schema(doc, item, "get", "200"),
            {"data": {"id": pid, "title": 5}, "meta": {"items": 1}},
        )


def test_entity_changes_show_up_and_removed_entities_disappear(api: httpx.Client) -> None:
    name = unique("oa_gone")
    assert f"/api/data/entity/{name}" not in fetch_openapi(api)["paths"]
    add_entity(api, name, {"label": {"type": "text"}})
    doc = fetch_openapi(api)
    assert f"/api/data/entity/{name}" in doc["paths"]
    assert name in doc["components"]["schemas"]
    r = api.post(
        f"/api/system/config/add/data/entities.{name}.fields.size", json={"type": "number"}
    )
    assert r.status_code == 202, r.text
    assert "size" in fetch_openapi(api)["components"]["schemas"][name]["properties"]
    r = api.delete(f"/api/system/config/remove/data/entities.{name}?drop=1")
    assert r.status_code == 202, r.text
    doc = fetch_openapi(api)
    assert not [p for p in doc["paths"] if p.startswith(f"/api/data/entity/{name}")]
    assert not [s for s in doc["components"]["schemas"] if s.startswith(name)]


def swagger_assets(client: httpx.Client) -> tuple[str, list[str]]:
    r = client.get("/api/system/swagger")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    page = str(r.url)
    refs = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    return r.text, [urljoin(page, ref) for ref in refs]


def test_swagger_page_and_its_assets_are_served_locally(api: httpx.Client) -> None:
    html, urls = swagger_assets(api)
    assert "unpkg" not in html and "cdn" not in html
    server = urlparse(str(api.base_url)).netloc
    kinds = {}
    for url in urls:
        assert urlparse(url).netloc == server, f"{url} is not served by the node"
        r = api.get(url)
        assert r.status_code == 200, url
        kinds[url.rsplit("/", 1)[1]] = (r.headers["content-type"], r.content)
    assert kinds["swagger-ui.css"][0].startswith("text/css")
    ctype, bundle = kinds["swagger-ui-bundle.js"]
    assert "javascript" in ctype and b"SwaggerUIBundle" in bundle and len(bundle) > 500_000
    ctype, init = kinds["nodebase-init.js"]
    assert "javascript" in ctype and b"openapi.json" in init
    assert kinds["favicon-32x32.png"][0] == "image/png"
    # the initialiser's relative URL resolves to the document
    assert urljoin(str(api.base_url) + "/api/system/swagger", "openapi.json").endswith(
        "/api/system/openapi.json"
    )
    missing = api.get("/api/system/swagger/secret.txt")
    assert missing.status_code == 404
    assert missing.json()["type"] == "NotFoundException"
    assert api.get("/api/system/swagger/..%2F..%2Fpyproject.toml").status_code == 404


def test_swagger_ui_renders_the_operations_in_a_browser(node: NodeServer, chromium: Any) -> None:
    """Real Chromium (Debian's, driven by Playwright) loads the page offline and lists the
    operations of an entity created just before; the admin's token goes in every request."""
    headers = admin_headers(node)
    name = unique("oa_browser")
    with node.client(headers=headers) as client:
        add_entity(client, name, {"title": {"type": "text"}})
    outside: list[str] = []
    context = chromium.new_context(extra_http_headers=headers)
    try:
        page = context.new_page()
        page.on(
            "request",
            lambda req: None if req.url.startswith(node.url) else outside.append(req.url),
        )
        page.goto(node.url + "/api/system/swagger")
        page.wait_for_selector(f'[data-path="/api/data/entity/{name}"]', timeout=20_000)
        rendered = set(
            page.eval_on_selector_all(
                "[data-path]", "els => els.map(e => e.getAttribute('data-path'))"
            )
        )
        version = page.inner_text(".info")
        errors = page.query_selector_all(".errors-wrapper")
    finally:
        context.close()
    assert f"/api/data/entity/{name}/{{id}}" in rendered
    assert "/api/system/ping" in rendered
    assert "OAS 3.1" in version
    assert not errors
    assert not outside, f"the page reached outside the node: {outside}"


# -- in-process: the modules' parts (nb.add_openapi) and routes nobody describes -----------
def fake_node(hooks: list[Callable[[Any], Any]], routes: list[Any]) -> Any:
    schema = parse_data_config(
        {"entities": {"notes": {"fields": {"body": {"type": "text"}}}}},
        system_entities={"users": {"fields": {"email": {"type": "text"}}}},
    )
    data = SimpleNamespace(schema=schema, service=SimpleNamespace(system_entities={"users"}))
    return SimpleNamespace(
        data=data,
        config=SimpleNamespace(modules={"data": None}),
        routes=routes,
        openapi_paths=hooks,
    )


def test_modules_describe_their_routes_through_openapi_paths() -> None:
    async def upload(request: Any) -> Any:
        """Upload a file."""

    async def hidden(request: Any) -> Any:
        return None

    def media_paths(nb: Any) -> dict[str, Any]:
        assert "notes" in nb.data.schema.entities
        return {
            "/api/media/upload/{filename}": {
                "post": {
                    "tags": ["Media"],
                    "operationId": "media_upload",
                    "summary": "Upload",
                    "parameters": [
                        {
                            "name": "filename",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "201": {"description": "Stored"},
                        "403": {"$ref": "#/components/responses/Forbidden"},
                    },
                }
            }
        }

    def broken(nb: Any) -> dict[str, Any]:
        raise RuntimeError("a module's bug must not break the document")

    routes = [
        Route("/api/media/upload/{filename}", upload, methods=["POST"]),
        Route("/api/media/files/{name:path}", upload, methods=["GET", "DELETE"]),
        Route("/api/auth/me", hidden, methods=["GET"]),
        Route("/api/internal", hidden, methods=["GET"], include_in_schema=False),
    ]
    doc = build_openapi(fake_node([data_openapi, media_paths, broken], routes), server_url="http://x")
    validate(doc)
    paths = doc["paths"]
    assert paths["/api/media/upload/{filename}"]["post"]["operationId"] == "media_upload"
    files = paths["/api/media/files/{name}"]
    assert set(files) == {"get", "delete"}
    assert files["get"]["summary"] == "Upload a file."
    assert files["get"]["parameters"][0]["name"] == "name"
    assert paths["/api/auth/me"]["get"]["tags"] == ["auth"]
    assert "/api/internal" not in paths
    # system entities are read-only through the data API: no write operations
    assert set(paths["/api/data/entity/users"]) == {"get"}
    assert set(paths["/api/data/entity/users/{id}"]) == {"parameters", "get"}
    assert "post" in paths["/api/data/entity/notes"]
    assert "users" in doc["components"]["schemas"]
    assert "usersCreate" not in doc["components"]["schemas"]
    assert "notesCreate" in doc["components"]["schemas"]


def test_component_names_never_collide() -> None:
    schema = parse_data_config(
        {
            "entities": {
                "Error": {"fields": {"x": {"type": "text"}}},
                "a": {"fields": {}},
                "aCreate": {"fields": {}},
            }
        }
    )
    data = SimpleNamespace(schema=schema, service=SimpleNamespace(system_entities=set()))
    nb = SimpleNamespace(
        data=data, config=SimpleNamespace(modules={}), routes=[], openapi_paths=[data_openapi]
    )
    doc = build_openapi(nb)
    validate(doc)
    schemas = doc["components"]["schemas"]
    assert schemas["Error"]["required"] == ["error", "type"]  # still the error shape
    assert schemas["Error_2"]["title"] == "Error"
    assert schemas["aCreate"]["title"] == "a" and schemas["aCreate_2"]["title"] == "aCreate"
    read_ref = doc["paths"]["/api/data/entity/Error"]["get"]["responses"]["200"]
    items = read_ref["content"]["application/json"]["schema"]["properties"]["data"]["items"]
    assert items == {"$ref": "#/components/schemas/Error_2"}


def request_schema(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    schema: dict[str, Any] = doc["paths"][path][method]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    return schema


def test_auth_and_config_answers_match_their_documented_schemas(node: NodeServer) -> None:
    """Auth describes its own routes with real bodies; /api/system/config has its version."""
    with node.client(headers=admin_headers(node)) as admin:
        doc = fetch_openapi(admin, check_spec=True)
        r = admin.get("/api/system/config")
        check(doc, response_schema(doc, "/api/system/config", "get", "200"), r.json())
        with pytest.raises(AssertionError):  # the version is an integer, modules are objects
            check(doc, response_schema(doc, "/api/system/config", "get", "200"), {"version": "x"})
        made = admin.post("/api/auth/apikeys", json={"name": "oa", "role": "admin"})
        assert made.status_code == 201, made.text
        check(doc, response_schema(doc, "/api/auth/apikeys", "post", "201"), made.json())
        check(doc, response_schema(doc, "/api/auth/apikeys", "get", "200"),
              admin.get("/api/auth/apikeys").json())
    credentials = {"email": f"{unique('oa')}@nodebase.test", "password": "a long password"}
    for path in ("/api/auth/password/login", "/api/auth/password/register", "/api/auth/login"):
        body = request_schema(doc, path, "post")
        assert body["required"] == ["email", "password"]
        check(doc, body, credentials)
    with node.client() as anon:
        r = anon.post("/api/auth/password/register", json=credentials)
        assert r.status_code == 200, r.text
        check(doc, response_schema(doc, "/api/auth/password/register", "post", "200"), r.json())
        r = anon.post("/api/auth/password/login", json=credentials)
        assert r.status_code == 200, r.text
        check(doc, response_schema(doc, "/api/auth/password/login", "post", "200"), r.json())
        token = r.json()["token"]
        r = anon.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        check(doc, response_schema(doc, "/api/auth/me", "get", "200"), r.json())
        r = anon.get("/api/auth/me")
        assert (r.status_code, r.json()) == (403, {"user": None})
        check(doc, response_schema(doc, "/api/auth/me", "get", "403"), r.json())
        r = anon.post("/api/auth/logout", json={})
        assert r.status_code == 200, r.text
        check(doc, response_schema(doc, "/api/auth/logout", "post", "200"), r.json())
        r = anon.post("/api/auth/password/login", json={"email": credentials["email"]})
        assert r.status_code == 422
        check(doc, response_schema(doc, "/api/auth/password/login", "post", "422"), r.json())
