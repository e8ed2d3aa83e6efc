"""Bounded deletes: every function removes at most ``batch`` rows in one statement and
reads at most about ``batch`` rows to find them (through the primary key, whose order
follows time for these append-only tables, or through an index).

Each returns how many rows it deleted; 0 means nothing more is due.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.common.idempotency import IdempotencyRecord
from qualityapi.events.models import OutboxMessage
from qualityapi.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery


async def prune_attempts(session: AsyncSession, *, before: datetime, batch: int) -> int:
    a = WebhookAttempt
    # The lowest ids are the oldest attempts: a window of the first ``batch`` rows holds
    # whatever is due; once it holds none, nothing older is left.
    rows = await session.execute(select(a.id, a.attempted_at).order_by(a.id).limit(batch))
    ids = [row_id for row_id, at in rows.all() if at < before]
    if ids:
        await session.execute(delete(a).where(a.id.in_(ids)))
    return len(ids)


async def prune_deliveries(session: AsyncSession, *, before: datetime, batch: int) -> int:
    """Finished deliveries (delivered, failed, expired) that finished before ``before``;
    their attempts go with them (ON DELETE CASCADE). Pending ones are never touched."""
    d = WebhookDelivery
    rows = await session.execute(
        select(d.id, d.completed_at)
        .where(d.status != DeliveryStatus.pending)
        .order_by(d.id)
        .limit(batch)
    )
    ids = [row_id for row_id, done in rows.all() if done is not None and done < before]
    if ids:
        await session.execute(delete(d).where(d.id.in_(ids)))
    return len(ids)


async def prune_outbox(session: AsyncSession, *, before: datetime, batch: int) -> int:
    """Messages written before ``before`` that are fanned out and have no pending
    delivery (the dispatcher is done with them). Their finished deliveries and attempts
    go with them (ON DELETE CASCADE). Undelivered messages stay, however old: the walk
    skips them (one index probe each), so a disabled endpoint's backlog never stalls it."""
    o, d = OutboxMessage, WebhookDelivery
    waiting = select(d.id).where(d.message_pk == o.id, d.status == DeliveryStatus.pending).exists()
    rows = await session.execute(
        select(o.id, o.created_at)
        .where(o.routed_at.is_not(None), ~waiting)
        .order_by(o.id)
        .limit(batch)
    )
    ids = [row_id for row_id, at in rows.all() if at < before]
    if ids:
        await session.execute(delete(o).where(o.id.in_(ids)))
    return len(ids)


async def prune_idempotency(session: AsyncSession, *, before: datetime, batch: int) -> int:
    k = IdempotencyRecord
    ids = (
        await session.scalars(
            select(k.id).where(k.created_at < before).order_by(k.created_at).limit(batch)
        )
    ).all()
    if ids:
        await session.execute(delete(k).where(k.id.in_(ids)))
    return len(ids)
