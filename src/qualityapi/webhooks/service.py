"""Webhook endpoints and the delivery log's actions. Services flush; the boundary commits."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.audit import repository as audit
from qualityapi.auth.principal import Principal
from qualityapi.common.jsonable import jsonable
from qualityapi.errors import Conflict, NotFound, Unprocessable
from qualityapi.events import repository as events
from qualityapi.events.signals import MESSAGE_WRITTEN
from qualityapi.webhooks import repository, signing, ssrf
from qualityapi.webhooks.catalogue import PING
from qualityapi.webhooks.models import WebhookAttempt, WebhookEndpoint
from qualityapi.webhooks.schemas import (
    PingResult,
    WebhookEndpointCreate,
    WebhookEndpointRead,
    WebhookEndpointUpdate,
)
from qualityapi.webhooks.sender import Sender, body_of

RESOURCE = "webhook_endpoint"


def _snapshot(endpoint: WebhookEndpoint) -> dict[str, object]:
    # Never the secrets: the audit log is readable by every admin.
    return WebhookEndpointRead.model_validate(endpoint).model_dump(mode="json")


def _audit(
    session: AsyncSession,
    action: str,
    endpoint_id: object,
    before: dict[str, object] | None,
    after: dict[str, object] | None,
    actor: Principal,
    at: datetime,
) -> None:
    audit.record(
        session,
        at=at,
        actor=actor,
        action=action,
        resource_type=RESOURCE,
        resource_id=endpoint_id,
        before=before,
        after=after,
    )


async def _check_url(sender: Sender, url: str) -> None:
    try:
        await sender.check_url(url)
    except ssrf.UrlRefused as exc:
        # errors[] as for any invalid field: a form can show the reason beside the URL.
        reason = str(exc)
        raise Unprocessable(
            reason,
            extra={"errors": [{"loc": ["body", "url"], "msg": reason, "type": "url_refused"}]},
        ) from exc


async def get(session: AsyncSession, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = await repository.get_endpoint(session, endpoint_id)
    if endpoint is None:
        raise NotFound(f"webhook endpoint {endpoint_id} does not exist")
    return endpoint


async def create(
    session: AsyncSession,
    data: WebhookEndpointCreate,
    *,
    sender: Sender,
    actor: Principal,
    at: datetime,
) -> WebhookEndpoint:
    await _check_url(sender, data.url)
    endpoint = WebhookEndpoint(
        url=data.url,
        description=data.description,
        event_types=data.event_types,
        enabled=data.enabled,
        secret=signing.new_secret(),
        version=1,
        created_at=at,
        updated_at=at,
    )
    session.add(endpoint)
    await session.flush()
    _audit(session, "webhook_endpoint.created", endpoint.id, None, _snapshot(endpoint), actor, at)
    return endpoint


async def update(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    data: WebhookEndpointUpdate,
    *,
    sender: Sender,
    actor: Principal,
    at: datetime,
) -> WebhookEndpoint:
    fields = data.model_dump(exclude_unset=True)
    for required in ("url", "event_types", "enabled"):
        if required in fields and fields[required] is None:
            raise Unprocessable(f"{required}: may not be null")
    before = _snapshot(endpoint)
    if "url" in fields and data.url != endpoint.url:
        await _check_url(sender, fields["url"])
    for field, value in fields.items():
        setattr(endpoint, field, value)
    if fields.get("enabled") is True:
        # A person turned it back on: forget why the service turned it off, and wake the
        # dispatcher for the messages that waited.
        endpoint.disabled_reason = None
        endpoint.disabled_at = None
        endpoint.failing_since = None
        MESSAGE_WRITTEN.after_commit(session)
    endpoint.updated_at = at
    await session.flush()
    _audit(session, "webhook_endpoint.updated", endpoint.id, before, _snapshot(endpoint), actor, at)
    return endpoint


async def delete(
    session: AsyncSession, endpoint: WebhookEndpoint, *, actor: Principal, at: datetime
) -> None:
    before = _snapshot(endpoint)
    await session.delete(endpoint)
    await session.flush()
    _audit(session, "webhook_endpoint.deleted", before["id"], before, None, actor, at)


async def rotate_secret(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    *,
    overlap: timedelta,
    actor: Principal,
    at: datetime,
) -> WebhookEndpoint:
    """A new secret signs from now on; the old one signs too until the overlap ends."""
    if overlap > timedelta(0):
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = at + overlap
    else:
        endpoint.previous_secret = None
        endpoint.previous_secret_expires_at = None
    endpoint.secret = signing.new_secret()
    endpoint.updated_at = at
    await session.flush()
    expires = jsonable(endpoint.previous_secret_expires_at)
    _audit(
        session,
        "webhook_endpoint.secret_rotated",
        endpoint.id,
        None,
        {"previous_secret_expires_at": expires},
        actor,
        at,
    )
    return endpoint


async def ping(
    session: AsyncSession, endpoint: WebhookEndpoint, *, sender: Sender, at: datetime
) -> PingResult:
    """Sends a signed ``webhook.ping`` now and logs the attempt; the result says how it went."""
    # Shaped like an outbox message, but never stored as one: only its attempt is logged.
    ping_message = events.row(
        type=PING,
        subject_key=f"webhook_endpoint:{endpoint.id}",
        data={"endpoint_id": str(endpoint.id), "note": "test ping from qualityapi"},
        at=at,
    )
    message_id = ping_message["message_id"]
    secrets = signing.active_secrets(
        endpoint.secret, endpoint.previous_secret, endpoint.previous_secret_expires_at, at
    )
    outcome = await sender.send(
        endpoint.url, secrets, message_id=message_id, body=body_of(ping_message["payload"])
    )
    repository.add_attempt(
        session,
        WebhookAttempt(
            delivery_id=None,
            endpoint_id=endpoint.id,
            message_id=message_id,
            event_type=PING,
            attempted_at=at,
            succeeded=outcome.succeeded,
            status_code=outcome.status_code,
            duration_ms=outcome.duration_ms,
            error_class=outcome.error_class,
            error=outcome.error,
            response_body=outcome.response_body,
        ),
    )
    await session.flush()
    return PingResult(
        message_id=message_id,
        succeeded=outcome.succeeded,
        status_code=outcome.status_code,
        duration_ms=outcome.duration_ms,
        error_class=outcome.error_class,
        error=outcome.error,
    )


async def resend(
    session: AsyncSession, endpoint: WebhookEndpoint, message_id: str, *, at: datetime
) -> int:
    message = await repository.get_message(session, message_id)
    if message is None:
        if await repository.attempted_event_type(session, endpoint.id, message_id) == PING:
            raise Conflict(
                f"message {message_id} is a test ping, which is not stored and cannot be "
                "sent again; send a new one with POST /v1/webhook-endpoints/{id}/ping"
            )
        raise NotFound(f"message {message_id} does not exist")
    scheduled = await repository.schedule_again(
        session,
        endpoint.id,
        since=None,
        message_pk=message.id,
        event_types=frozenset(),
        now=at,
    )
    MESSAGE_WRITTEN.after_commit(session)
    return scheduled


async def replay(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    *,
    since: datetime,
    event_types: list[str] | None,
    at: datetime,
) -> int:
    types = frozenset(endpoint.event_types if event_types is None else event_types)
    scheduled = await repository.schedule_again(
        session, endpoint.id, since=since, message_pk=None, event_types=types, now=at
    )
    MESSAGE_WRITTEN.after_commit(session)
    return scheduled
