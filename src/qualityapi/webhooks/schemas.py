from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from pydantic import AliasChoices, Field, field_validator

from qualityapi.common.schemas import (
    InputModel,
    NotNull,
    ReadModel,
    StrictBool,
    StrictInt,
    UtcDatetime,
)
from qualityapi.webhooks.catalogue import EVENT_TYPES, PING
from qualityapi.webhooks.models import DeliveryStatus

_URL = Field(max_length=2000, examples=["https://helpdesk.example.com/hooks/qualityapi"])
_TYPES_DOC = "Event types to receive; empty: all of them. See the `webhooks` section."


# Every type the document's `webhooks` section lists (api.md names webhook.ping among the
# event types). A ping is sent only on request (POST .../ping), whatever ``event_types``.
SUBSCRIBABLE = frozenset(EVENT_TYPES) | {PING}


def _known_types(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    unknown = sorted(set(value) - SUBSCRIBABLE)
    if unknown:
        raise ValueError(f"unknown event types {unknown}; known: {sorted(SUBSCRIBABLE)}")
    return sorted(set(value))


class WebhookEndpointCreate(InputModel):
    url: str = _URL
    event_types: list[str] = Field(default_factory=list, max_length=50, description=_TYPES_DOC)
    enabled: StrictBool = True
    description: str | None = Field(default=None, max_length=500)

    _types = field_validator("event_types")(_known_types)


class WebhookEndpointUpdate(InputModel):
    url: Annotated[str | None, NotNull] = Field(default=None, max_length=2000)
    event_types: Annotated[list[str] | None, NotNull] = Field(
        default=None, max_length=50, description=_TYPES_DOC
    )
    enabled: Annotated[StrictBool | None, NotNull] = Field(
        default=None,
        description="Re-enabling clears a disable by the service; pending "
        "messages then go out in order.",
    )
    description: str | None = Field(default=None, max_length=500)

    _types = field_validator("event_types")(_known_types)


class WebhookEndpointRead(ReadModel):
    id: uuid.UUID
    url: str
    event_types: list[str]
    enabled: bool
    description: str | None
    disabled_reason: str | None = Field(
        description="Why the service disabled it (410 Gone, failing too long)."
    )
    disabled_at: UtcDatetime | None
    failing_since: UtcDatetime | None = Field(
        description="Start of the current run of failed attempts; null when healthy."
    )
    secret_rotation_ends_at: UtcDatetime | None = Field(
        description="Until then the previous secret signs too.",
        validation_alias=AliasChoices("previous_secret_expires_at", "secret_rotation_ends_at"),
    )
    version: int
    created_at: UtcDatetime
    updated_at: UtcDatetime


class WebhookEndpointCreated(WebhookEndpointRead):
    secret: str = Field(
        description="`whsec_` + base64: the signing secret, shown only now.",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class SecretRotate(InputModel):
    overlap_seconds: StrictInt = Field(
        default=int(timedelta(hours=24).total_seconds()),
        ge=0,
        le=int(timedelta(days=7).total_seconds()),
        description="How long the previous secret keeps signing next to the new one.",
    )


class SecretRotated(ReadModel):
    secret: str = Field(description="The new secret, shown only now.")
    previous_secret_expires_at: UtcDatetime | None


class PingResult(ReadModel):
    message_id: str
    succeeded: bool
    status_code: int | None
    duration_ms: float
    error_class: str | None
    error: str | None


class DeliveryRead(ReadModel):
    id: int
    message_id: str
    event_type: str
    subject_key: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: UtcDatetime | None = Field(description="When it is tried next (pending only).")
    last_attempt_at: UtcDatetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: UtcDatetime
    completed_at: UtcDatetime | None


class AttemptRead(ReadModel):
    id: int
    delivery_id: int | None
    message_id: str
    event_type: str
    attempted_at: UtcDatetime
    succeeded: bool
    status_code: int | None
    duration_ms: float
    error_class: str | None = Field(
        description="connect_error, timeout, http_status, ssrf_refused, ...; null on success."
    )
    error: str | None
    response_body: str | None = Field(description="The first 2,000 characters.")


class Replay(InputModel):
    since: UtcDatetime = Field(description="Every message written at or after this instant.")
    event_types: list[str] | None = Field(
        default=None, max_length=50, description="Only these types; default: the endpoint's."
    )

    _types = field_validator("event_types")(_known_types)


class ReplayResult(ReadModel):
    scheduled: int = Field(description="Messages scheduled for delivery again.")


class EventTypeRead(ReadModel):
    type: str
    summary: str
    emitted: bool = Field(
        description="False for types reserved for parts not built yet (complaints, surveys)."
    )
