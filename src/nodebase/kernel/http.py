"""HTTP helpers shared by every module's transport layer (Starlette)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from nodebase.kernel import jsonutil
from nodebase.kernel.errors import BadRequest, NodebaseError, PayloadTooLarge

JSON = "application/json"
MAX_JSON_BODY = 16 * 1024 * 1024


class JSONResponse(Response):
    media_type = JSON

    def render(self, content: Any) -> bytes:
        return jsonutil.dumps(content)


def json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(content, status_code=status, headers=headers)


def error_response(exc: NodebaseError) -> Response:
    return JSONResponse(exc.to_json(), status_code=exc.status, headers=exc.headers or None)


async def read_json(request: Request, *, required: bool = True) -> Any:
    """Parse the body as JSON; anything malformed is a 400 naming the problem."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_JSON_BODY:
        raise PayloadTooLarge(f"JSON body is larger than {MAX_JSON_BODY} bytes")
    body = await request.body()
    if not body.strip():
        if required:
            raise BadRequest("A JSON body is required", context={"content_type": request.headers.get("content-type")})
        return None
    return jsonutil.loads(body, what="request body")


def is_json_request(request: Request) -> bool:
    """bknd's rule, made tolerant of parameters: JSON content type or JSON accept."""
    ctype = request.headers.get("content-type", "")
    accept = request.headers.get("accept", "")
    return ctype.split(";")[0].strip() == JSON or JSON in accept


def truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes", "on")
