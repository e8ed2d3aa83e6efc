"""Publishes every emitted event type in the OpenAPI document's ``webhooks`` section."""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from fastapi import Body, FastAPI
from pydantic import BaseModel, Field, create_model

from qualityapi.common.schemas import UtcDatetime
from qualityapi.webhooks.catalogue import EVENT_TYPES, PING, EventType, PingData

_HEADERS = """
Headers (Standard Webhooks): `webhook-id` (the same on every retry of this message: use it
to drop duplicates), `webhook-timestamp` (Unix seconds), `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, space-separated, two of them
while a secret rotation overlaps). Verify with the `standardwebhooks` package. Answer
2xx within the read timeout; anything else is retried with backoff.
"""


@cache  # one model per event type and process, however many apps are built
def _envelope(name: str, data: type[BaseModel]) -> type[BaseModel]:
    title = "".join(part.capitalize() for part in name.replace(".", "_").split("_")) + "Event"
    fields: dict[str, Any] = {
        "type": (Literal[name], Field(description="The event type.")),
        "timestamp": (UtcDatetime, Field(description="When it happened.")),
        "data": (data, ...),
    }
    return create_model(title, **fields)


_CUSTOMER = {"name": "Wang Fang", "phone": "+86 138 0000 0000", "address": "3 Lake Road"}
_KEY = {"id": "0f8e3c52-4d7a-4f7e-9f55-0c1d2e3f4a5b", "name": "helpdesk", "role": "agent"}
_DUE = [
    {
        "target": "response",
        "state": "running",
        "due_at": "2026-11-02T05:00:00Z",
        "warn_at": "2026-11-02T04:12:00Z",
    }
]
# A real created payload (what the service sends for a new unassigned order).
EXAMPLES: dict[str, dict[str, Any]] = {
    "work_order.created": {
        "type": "work_order.created",
        "timestamp": "2026-11-02T01:00:00Z",
        "data": {
            "work_order": {
                "id": "5b0f9a52-1c63-4d8e-8f0e-2b9c6d1e7a41",
                "number": "WO-2026-000123",
                "title": "Air conditioner leaking",
                "description": None,
                "category": "hvac",
                "priority": "normal",
                "status": "open",
                "customer": _CUSTOMER,
                "location": "Building 3, room 402",
                "reported_at": "2026-11-02T01:00:00Z",
                "appointment_start": None,
                "appointment_end": None,
                "assignee_id": None,
                "assignee": None,
                "team_id": None,
                "team": None,
                "warning_level": "blue",
                "sla": _DUE,
                "responded_at": None,
                "arrived_at": None,
                "resolved_at": None,
                "closed_at": None,
                "cancelled_at": None,
                "resolution": None,
                "version": 1,
                "created_at": "2026-11-02T01:00:00Z",
                "updated_at": "2026-11-02T01:00:00Z",
            },
            "action": None,
            "previous_status": None,
            "actor": _KEY,
            "reason": None,
            "note": None,
            "changes": {"status": {"old": None, "new": "open"}},
            "deadlines": None,
        },
    }
}


def _tidy(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI documents every operation with a body as able to answer 422; a webhook is
    the receiver's operation, so that is noise: dropped, the 2xx described, and the
    examples added."""
    for name, item in schema.get("webhooks", {}).items():
        operation = item.get("post", {})
        responses = operation.get("responses", {})
        responses.pop("422", None)
        if "200" in responses:
            responses["200"]["description"] = "Any 2xx acknowledges the delivery"
        example = EXAMPLES.get(name)
        if example is not None:
            content = operation.get("requestBody", {}).get("content", {})
            content.get("application/json", {})["example"] = example
    return schema


def document_webhooks(app: FastAPI) -> None:
    """Adds the ``webhooks`` section when the document is first built: the routes only
    document, and building them costs more than the rest of an app's start-up."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if not app.webhooks.routes:
            _register(app)
        return _tidy(build())

    app.openapi = openapi  # type: ignore[method-assign]


def _register(app: FastAPI) -> None:
    published: dict[str, EventType] = {
        name: t for name, t in EVENT_TYPES.items() if t.data is not None
    }
    published[PING] = EventType("A test ping (POST .../ping).", PingData)
    for name, event in published.items():
        assert event.data is not None
        envelope = _envelope(name, event.data)

        async def receive(body: Any = Body()) -> None:  # documentation only, never served
            return None

        receive.__annotations__["body"] = envelope
        app.webhooks.post(
            name,
            summary=event.summary,
            description=event.summary + "\n" + _HEADERS,
            operation_id=f"webhook_{name.replace('.', '_')}",
            status_code=200,
        )(receive)
