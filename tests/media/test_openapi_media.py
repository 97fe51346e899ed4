"""The media routes are described in the node's OpenAPI document (and it stays valid)."""

from __future__ import annotations

import httpx
import pytest

from tests.media.conftest import MediaNode

pytestmark = pytest.mark.parametrize("media_node", ["local"], indirect=True)


def test_media_routes_in_openapi(media_node: MediaNode, admin: httpx.Client) -> None:
    r = admin.get("/api/system/openapi.json")
    assert r.status_code == 200, r.text
    doc = r.json()
    paths = doc["paths"]
    assert paths["/api/media/upload/{filename}"]["post"]["operationId"] == "media_upload"
    assert paths["/api/media/file/{filename}"]["get"]["operationId"] == "media_read"
    assert "206" in paths["/api/media/file/{filename}"]["get"]["responses"]
    assert paths["/api/media/entity/{entity}/{id}/{field}"]["post"]["operationId"] == "media_upload_to_entity"
    assert paths["/api/upload/presigned-url"]["post"]["operationId"] == "media_presign_upload"
    from openapi_spec_validator import validate

    validate(doc)
