"""The few bounded reads behind /metrics' database gauges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.events.models import OutboxMessage
from qualityapi.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint


@dataclass(frozen=True)
class Backlog:
    unrouted: int  # messages not yet fanned out to endpoints (capped)
    pending: int  # deliveries to enabled endpoints not yet delivered (capped)
    oldest_at: datetime | None  # when the oldest undelivered message was written


async def outbox_backlog(session: AsyncSession, *, cap: int) -> Backlog:
    """Counts stop at ``cap`` (a backlog of "cap or more" is alarm enough); the oldest
    message is found by index probes: the unrouted index in id order, and one probe per
    enabled endpoint into the partial index of pending deliveries. Disabled endpoints are
    left out: their deliveries wait for an operator, not for the dispatcher."""
    o, d, e = OutboxMessage, WebhookDelivery, WebhookEndpoint
    unrouted_ids = select(o.id).where(o.routed_at.is_(None)).limit(cap).subquery()
    unrouted = await session.scalar(select(func.count()).select_from(unrouted_ids))
    enabled = select(e.id).where(e.enabled.is_(True))
    pending_rows = (
        select(d.id)
        .where(d.status == DeliveryStatus.pending, d.endpoint_id.in_(enabled))
        .limit(cap)
        .subquery()
    )
    pending = await session.scalar(select(func.count()).select_from(pending_rows))
    oldest_unrouted = await session.scalar(
        select(o.created_at).where(o.routed_at.is_(None)).order_by(o.id).limit(1)
    )
    first_pending = (
        select(func.min(d.message_pk))
        .where(d.endpoint_id == e.id, d.status == DeliveryStatus.pending)
        .scalar_subquery()
    )
    oldest_pk = await session.scalar(select(func.min(first_pending)).where(e.enabled.is_(True)))
    oldest_pending = None
    if oldest_pk is not None:
        oldest_pending = await session.scalar(select(o.created_at).where(o.id == oldest_pk))
    candidates = [t for t in (oldest_unrouted, oldest_pending) if t is not None]
    return Backlog(
        unrouted=int(unrouted or 0),
        pending=int(pending or 0),
        oldest_at=min(candidates) if candidates else None,
    )
