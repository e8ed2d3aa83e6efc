from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from qualityapi.auth.dependencies import AdminDep, ViewerDep
from qualityapi.common.concurrency import IfMatchHeader, check_if_match, set_etag
from qualityapi.common.dependencies import ClockDep
from qualityapi.common.pagination import KeyPageDep, PageDep, SeqPageDep, split_page
from qualityapi.common.routing import ContractRoute
from qualityapi.common.schemas import Id, Page
from qualityapi.db.session import SessionDep
from qualityapi.errors import problem_responses
from qualityapi.webhooks import repository, service
from qualityapi.webhooks.catalogue import EVENT_TYPES, PING
from qualityapi.webhooks.models import DeliveryStatus
from qualityapi.webhooks.schemas import (
    AttemptRead,
    DeliveryRead,
    EventTypeRead,
    PingResult,
    Replay,
    ReplayResult,
    SecretRotate,
    SecretRotated,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointRead,
    WebhookEndpointUpdate,
)
from qualityapi.webhooks.sender import Sender

router = APIRouter(prefix="/webhook-endpoints", tags=["webhooks"], route_class=ContractRoute)
types_router = APIRouter(tags=["webhooks"], route_class=ContractRoute)


def _sender(request: Request) -> Sender:
    sender: Sender = request.app.state.webhook_sender
    return sender


SenderDep = Annotated[Sender, Depends(_sender)]
_MESSAGE_ID = Annotated[str, Query(max_length=64)]
_PING_SUMMARY = (
    "A test ping, sent only on request (POST /v1/webhook-endpoints/{id}/ping) whatever the "
    "endpoint's event_types."
)


@types_router.get("/webhook-event-types")
async def list_webhook_event_types(_: ViewerDep, page: KeyPageDep) -> Page[EventTypeRead]:
    """Every event type an endpoint can subscribe to; payloads are in the `webhooks` section."""
    every = [
        EventTypeRead(type=name, summary=t.summary, emitted=t.data is not None)
        for name, t in EVENT_TYPES.items()
    ]
    every.append(EventTypeRead(type=PING, summary=_PING_SUMMARY, emitted=True))
    items, cursor = page.of_sequence(every, lambda t: (t.type,))
    return Page(items=items, next_cursor=cursor)


@router.post("", status_code=status.HTTP_201_CREATED, responses=problem_responses(409))
async def create_webhook_endpoint(
    data: WebhookEndpointCreate,
    session: SessionDep,
    principal: AdminDep,
    clock: ClockDep,
    sender: SenderDep,
    response: Response,
) -> WebhookEndpointCreated:
    """Register a receiver. The response holds the signing secret, once.

    The URL must resolve to a public address (unless `QUALITYAPI_WEBHOOK_ALLOWED_NETWORKS`
    allows a private network): anything else is a 422.
    """
    endpoint = await service.create(session, data, sender=sender, actor=principal, at=clock.now())
    set_etag(response, endpoint.version)
    read = WebhookEndpointRead.model_validate(endpoint)
    return WebhookEndpointCreated(**read.model_dump(), secret=endpoint.secret)


@router.get("")
async def list_webhook_endpoints(
    session: SessionDep,
    _: AdminDep,
    page: PageDep,
    enabled: Annotated[bool | None, Query()] = None,
) -> Page[WebhookEndpointRead]:
    found = await repository.list_endpoints(session, page, enabled=enabled)
    rows, cursor = split_page(list(found), page)
    return Page(items=[WebhookEndpointRead.model_validate(e) for e in rows], next_cursor=cursor)


@router.get("/{endpoint_id}", responses=problem_responses(404))
async def get_webhook_endpoint(
    endpoint_id: Id, session: SessionDep, _: AdminDep, response: Response
) -> WebhookEndpointRead:
    endpoint = await service.get(session, endpoint_id)
    set_etag(response, endpoint.version)
    return WebhookEndpointRead.model_validate(endpoint)


@router.patch("/{endpoint_id}", responses=problem_responses(404, 409, 412))
async def update_webhook_endpoint(
    endpoint_id: Id,
    data: WebhookEndpointUpdate,
    session: SessionDep,
    principal: AdminDep,
    clock: ClockDep,
    sender: SenderDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> WebhookEndpointRead:
    """Change the URL, the event types, the description, or enable/disable it.

    Enabling an endpoint the service disabled sends the messages that waited, in order.
    """
    endpoint = await service.get(session, endpoint_id)
    check_if_match(if_match, endpoint.version)
    endpoint = await service.update(
        session, endpoint, data, sender=sender, actor=principal, at=clock.now()
    )
    set_etag(response, endpoint.version)
    return WebhookEndpointRead.model_validate(endpoint)


@router.delete(
    "/{endpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 412),
)
async def delete_webhook_endpoint(
    endpoint_id: Id,
    session: SessionDep,
    principal: AdminDep,
    clock: ClockDep,
    if_match: IfMatchHeader = None,
) -> None:
    """Delete the endpoint with its deliveries and log (the messages stay)."""
    endpoint = await service.get(session, endpoint_id)
    check_if_match(if_match, endpoint.version)
    await service.delete(session, endpoint, actor=principal, at=clock.now())


@router.post("/{endpoint_id}/rotate-secret", responses=problem_responses(404))
async def rotate_webhook_secret(
    endpoint_id: Id,
    data: SecretRotate,
    session: SessionDep,
    principal: AdminDep,
    clock: ClockDep,
) -> SecretRotated:
    """A new secret, shown once. Until the overlap ends, each request carries two
    signatures (new and old) in `webhook-signature`, so the receiver can switch at leisure."""
    endpoint = await service.get(session, endpoint_id)
    endpoint = await service.rotate_secret(
        session,
        endpoint,
        overlap=timedelta(seconds=data.overlap_seconds),
        actor=principal,
        at=clock.now(),
    )
    return SecretRotated(
        secret=endpoint.secret, previous_secret_expires_at=endpoint.previous_secret_expires_at
    )


@router.post("/{endpoint_id}/ping", responses=problem_responses(404))
async def ping_webhook_endpoint(
    endpoint_id: Id, session: SessionDep, _: AdminDep, clock: ClockDep, sender: SenderDep
) -> PingResult:
    """Send a signed `webhook.ping` now (even to a disabled endpoint) and say how it went.
    The attempt is in the endpoint's log."""
    endpoint = await service.get(session, endpoint_id)
    return await service.ping(session, endpoint, sender=sender, at=clock.now())


@router.get("/{endpoint_id}/deliveries", responses=problem_responses(404))
async def list_webhook_deliveries(
    endpoint_id: Id,
    session: SessionDep,
    _: AdminDep,
    page: SeqPageDep,
    status: Annotated[DeliveryStatus | None, Query()] = None,
) -> Page[DeliveryRead]:
    """One row per message sent to this endpoint, newest first; `status=failed` lists
    messages whose retries ran out."""
    await service.get(session, endpoint_id)
    found = await repository.list_deliveries(
        session, endpoint_id, status=status, before_id=page.cursor_id, limit=page.limit
    )
    rows, cursor = page.split(found)
    return Page(items=[DeliveryRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/{endpoint_id}/attempts", responses=problem_responses(404))
async def list_webhook_attempts(
    endpoint_id: Id,
    session: SessionDep,
    _: AdminDep,
    page: SeqPageDep,
    failed: Annotated[bool | None, Query(description="true: failed attempts only")] = None,
    message_id: _MESSAGE_ID | None = None,
) -> Page[AttemptRead]:
    """Every attempt, newest first: time, status code, duration, error class, response body."""
    await service.get(session, endpoint_id)
    found = await repository.list_attempts(
        session,
        endpoint_id,
        failed=failed,
        message_id=message_id,
        before_id=page.cursor_id,
        limit=page.limit,
    )
    rows, cursor = page.split(list(found))
    return Page(items=[AttemptRead.model_validate(a) for a in rows], next_cursor=cursor)


@router.post(
    "/{endpoint_id}/messages/{message_id}/resend",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(404, 409),
)
async def resend_webhook_message(
    endpoint_id: Id,
    message_id: Annotated[str, Path(max_length=64)],
    session: SessionDep,
    _: AdminDep,
    clock: ClockDep,
) -> ReplayResult:
    """Deliver one message again, with its original `webhook-id`, retries starting over."""
    endpoint = await service.get(session, endpoint_id)
    scheduled = await service.resend(session, endpoint, message_id, at=clock.now())
    return ReplayResult(scheduled=scheduled)


@router.post(
    "/{endpoint_id}/replay", status_code=status.HTTP_202_ACCEPTED, responses=problem_responses(404)
)
async def replay_webhook_messages(
    endpoint_id: Id, data: Replay, session: SessionDep, _: AdminDep, clock: ClockDep
) -> ReplayResult:
    """Deliver again every message since a time (of the endpoint's event types, or those
    given), each with its original `webhook-id`, in order per subject. Messages written
    while the endpoint was disabled are included."""
    endpoint = await service.get(session, endpoint_id)
    scheduled = await service.replay(
        session, endpoint, since=data.since, event_types=data.event_types, at=clock.now()
    )
    return ReplayResult(scheduled=scheduled)
