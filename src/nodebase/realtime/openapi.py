"""OpenAPI description of the realtime routes (the protocol itself is in docs/realtime.md)."""

from __future__ import annotations

from typing import Any

_ERR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


#: one Server-Sent Event (OpenAPI 3.1 has no itemSchema: the schema describes each event)
_SSE_EVENT = {
    "type": "object",
    "required": ["data", "event"],
    "properties": {
        "event": {"type": "string", "description": "created, updated, deleted, message, join, "
                  "leave, subscribed or error"},
        "data": {"type": "string", "description": "JSON: the WebSocket frame without its op"},
        "id": {"type": "string", "description": "<channel>:<seq>, for Last-Event-ID"},
        "retry": {"type": "integer"},
    },
}


def realtime_paths(nb: Any) -> dict[str, Any]:
    return {
        "/api/realtime": {"get": {
            "tags": ["realtime"], "operationId": "realtime_websocket", "summary": "WebSocket: subscribe, publish and presence (JSON frames with an op)",
            "description": "Upgrade to a WebSocket; see docs/realtime.md for the frames.",
            "responses": {"101": {"description": "switching protocols"}},
        }},
        "/api/realtime/sse": {"get": {
            "tags": ["realtime"], "operationId": "realtime_sse", "summary": "Server-Sent Events of one or more channels",
            "parameters": [
                {"name": "channel", "in": "query", "required": True, "schema": {"type": "array", "items": {"type": "string"}},
                 "style": "form", "explode": True},
                {"name": "after", "in": "query", "schema": {"type": "string"},
                 "description": "resume positions: <channel>:<seq>,..."},
                {"name": "Last-Event-ID", "in": "header", "schema": {"type": "string"}},
            ],
            "responses": {"200": {"description": "text/event-stream; each event as below",
                                  "content": {"text/event-stream": {"schema": _SSE_EVENT}}},
                          "400": _ERR, "401": _ERR, "403": _ERR, "404": _ERR, "422": _ERR},
        }},
    }
