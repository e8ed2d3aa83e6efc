"""Publishes every emitted event type in the OpenAPI document's ``webhooks`` section."""

from __future__ import annotations

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


def _envelope(name: str, data: type[BaseModel]) -> type[BaseModel]:
    title = "".join(part.capitalize() for part in name.replace(".", "_").split("_")) + "Event"
    fields: dict[str, Any] = {
        "type": (Literal[name], Field(description="The event type.")),
        "timestamp": (UtcDatetime, Field(description="When it happened.")),
        "data": (data, ...),
    }
    return create_model(title, **fields)


def document_webhooks(app: FastAPI) -> None:
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
