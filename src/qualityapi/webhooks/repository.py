"""All SQL of webhooks: endpoints, routing messages to deliveries, claims, results, the log."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.common.pagination import PageParams, paginate_newest_first
from qualityapi.db.base import table_of
from qualityapi.events.models import OutboxMessage
from qualityapi.webhooks import signing
from qualityapi.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

_messages = table_of(OutboxMessage)
_deliveries = table_of(WebhookDelivery)
_attempts = table_of(WebhookAttempt)
_endpoints = table_of(WebhookEndpoint)
PENDING = DeliveryStatus.pending


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# --- endpoints ----------------------------------------------------------------------------


async def get_endpoint(session: AsyncSession, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
    return await session.get(WebhookEndpoint, endpoint_id)


async def list_endpoints(
    session: AsyncSession, params: PageParams, *, enabled: bool | None
) -> Sequence[WebhookEndpoint]:
    stmt = select(WebhookEndpoint)
    if enabled is not None:
        stmt = stmt.where(WebhookEndpoint.enabled.is_(enabled))
    stmt = paginate_newest_first(stmt, params, WebhookEndpoint.created_at, WebhookEndpoint.id)
    return (await session.execute(stmt)).scalars().all()


@dataclass(frozen=True)
class EndpointRoute:
    id: uuid.UUID
    event_types: frozenset[str]

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


async def enabled_routes(session: AsyncSession) -> list[EndpointRoute]:
    stmt = select(_endpoints.c.id, _endpoints.c.event_types).where(_endpoints.c.enabled)
    return [
        EndpointRoute(id=r.id, event_types=frozenset(r.event_types or ()))
        for r in (await session.execute(stmt)).all()
    ]


@dataclass(frozen=True)
class EndpointTarget:
    """What a send needs to know about its endpoint."""

    id: uuid.UUID
    url: str
    secrets: list[str]


async def targets(
    session: AsyncSession, ids: Iterable[uuid.UUID], now: datetime
) -> dict[uuid.UUID, EndpointTarget]:
    e = _endpoints.c
    stmt = select(e.id, e.url, e.secret, e.previous_secret, e.previous_secret_expires_at)
    stmt = stmt.where(e.id.in_(list(ids)))
    found: dict[uuid.UUID, EndpointTarget] = {}
    for r in (await session.execute(stmt)).all():
        secrets = signing.active_secrets(
            r.secret, r.previous_secret, r.previous_secret_expires_at, now
        )
        found[r.id] = EndpointTarget(id=r.id, url=r.url, secrets=secrets)
    return found


async def note_success(session: AsyncSession, endpoint_ids: Iterable[uuid.UUID]) -> None:
    ids = list(endpoint_ids)
    if ids:
        await session.execute(
            update(_endpoints)
            .where(_endpoints.c.id.in_(ids), _endpoints.c.failing_since.is_not(None))
            .values(failing_since=None)
        )


async def note_failure(
    session: AsyncSession, endpoint_ids: Iterable[uuid.UUID], now: datetime
) -> None:
    ids = list(endpoint_ids)
    if ids:
        await session.execute(
            update(_endpoints)
            .where(_endpoints.c.id.in_(ids), _endpoints.c.failing_since.is_(None))
            .values(failing_since=now)
        )


async def failing_too_long(
    session: AsyncSession, endpoint_ids: Iterable[uuid.UUID], since: datetime
) -> list[WebhookEndpoint]:
    """Enabled endpoints among ``endpoint_ids`` whose failures started at or before ``since``."""
    ids = list(endpoint_ids)
    if not ids:
        return []
    stmt = select(WebhookEndpoint).where(
        WebhookEndpoint.id.in_(ids),
        WebhookEndpoint.enabled.is_(True),
        WebhookEndpoint.failing_since <= since,
    )
    return list((await session.execute(stmt)).scalars().all())


# --- routing: one delivery per message and subscribed endpoint ---------------------------------


async def claim_unrouted(session: AsyncSession, limit: int) -> list[Any]:
    """New messages to route, locked (SKIP LOCKED: replicas take different ones), in id
    order, and only in per-subject order: a message waits while an earlier message of
    the same subject is still unrouted and not in this batch (another replica is routing
    it), so its deliveries can never be created, and sent, before the earlier one's.

    Message ids follow commit order per subject because every write to a subject holds
    the subject's row lock from before its first outbox row until its commit
    (``sla.scanner`` and the domains' ``get_for_update``).
    """
    m = _messages.c
    stmt = (
        select(m.id, m.type, m.subject_key, m.created_at)
        .where(m.routed_at.is_(None))
        .order_by(m.id)
        .limit(limit)
    )
    if _is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    claimed = list((await session.execute(stmt)).all())
    if not claimed or not _is_postgres(session):
        return claimed  # SQLite: one writer, one router; nothing can be in between
    mine = {r.id for r in claimed}
    keys = sorted({r.subject_key for r in claimed})
    unrouted = await session.execute(
        select(m.id, m.subject_key)
        .where(
            m.routed_at.is_(None),
            m.subject_key.in_(keys),
            m.id <= max(mine),
        )
        .order_by(m.id)
    )
    blocked: set[str] = set()
    held_back: set[int] = set()
    for row in unrouted:
        if row.subject_key in blocked:
            held_back.add(row.id)
        elif row.id not in mine:
            blocked.add(row.subject_key)  # an earlier one is another router's
    return [r for r in claimed if r.id not in held_back]


async def insert_deliveries(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = postgresql if _is_postgres(session) else sqlite
    stmt = dialect.insert(_deliveries).on_conflict_do_nothing(
        index_elements=["endpoint_id", "message_pk"]
    )
    await session.execute(stmt, rows)


async def refresh_statistics(session: AsyncSession) -> None:
    """PostgreSQL: ANALYZE the deliveries now. After a burst into a near-empty table the
    planner still believes it empty until autovacuum catches up (tens of seconds), and
    anti-joins the whole backlog on every claim meanwhile."""
    if _is_postgres(session):
        await session.execute(text("ANALYZE webhook_deliveries"))


async def mark_routed(session: AsyncSession, message_pks: list[int], now: datetime) -> None:
    await session.execute(
        update(_messages).where(_messages.c.id.in_(message_pks)).values(routed_at=now)
    )


# --- claims and results ------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    endpoint_id: uuid.UUID
    message_pk: int
    attempts: int
    message_id: str
    type: str
    payload: dict[str, Any]
    written_at: datetime


async def claim_due(
    session: AsyncSession, now: datetime, limit: int, *, skip_endpoints: Sequence[uuid.UUID]
) -> list[Claimed]:
    """Due deliveries of enabled endpoints whose earlier messages about the same subject
    are all finished (per-subject order), locked for this transaction (SKIP LOCKED)."""
    d = _deliveries.c
    earlier = _deliveries.alias("earlier")
    blocked = exists().where(
        earlier.c.endpoint_id == d.endpoint_id,
        earlier.c.subject_key == d.subject_key,
        earlier.c.message_pk < d.message_pk,
        earlier.c.status == PENDING,
    )
    stmt = (
        select(d.id, d.endpoint_id, d.message_pk, d.attempts)
        .join(_endpoints, _endpoints.c.id == d.endpoint_id)
        .where(d.next_attempt_at <= now, d.status == PENDING, _endpoints.c.enabled, ~blocked)
        .order_by(d.next_attempt_at, d.id)
        .limit(limit)
    )
    if skip_endpoints:
        stmt = stmt.where(d.endpoint_id.not_in(list(skip_endpoints)))
    if _is_postgres(session):
        stmt = stmt.with_for_update(of=_deliveries, skip_locked=True)
        # A generic plan, cached while the table was small, anti-joins the whole backlog
        # (seconds at a few thousand due rows); a plan for these values walks the index.
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    rows = (await session.execute(stmt)).all()
    if not rows:
        return []
    m = _messages.c
    msgs = {
        r.id: r
        for r in (
            await session.execute(
                select(m.id, m.message_id, m.type, m.payload, m.created_at).where(
                    m.id.in_([r.message_pk for r in rows])
                )
            )
        ).all()
    }
    return [
        Claimed(
            delivery_id=r.id,
            endpoint_id=r.endpoint_id,
            message_pk=r.message_pk,
            attempts=r.attempts,
            message_id=msgs[r.message_pk].message_id,
            type=msgs[r.message_pk].type,
            payload=msgs[r.message_pk].payload,
            written_at=msgs[r.message_pk].created_at,
        )
        for r in rows
    ]


async def lease(
    session: AsyncSession, delivery_ids: list[int], *, until: datetime, token: str
) -> None:
    await session.execute(
        update(_deliveries)
        .where(_deliveries.c.id.in_(delivery_ids))
        .values(next_attempt_at=until, claim_token=token)
    )


async def unlease(
    session: AsyncSession, delivery_ids: list[int], token: str, now: datetime
) -> None:
    """Claimed but never sent (shutdown): due again at once, for whoever looks next."""
    await session.execute(
        update(_deliveries)
        .where(_deliveries.c.id.in_(delivery_ids), _deliveries.c.claim_token == token)
        .values(next_attempt_at=now, claim_token=None)
    )


async def expire(session: AsyncSession, delivery_ids: list[int], now: datetime) -> None:
    await session.execute(
        update(_deliveries)
        .where(_deliveries.c.id.in_(delivery_ids))
        .values(
            status=DeliveryStatus.expired,
            next_attempt_at=None,
            claim_token=None,
            updated_at=now,
            completed_at=now,
        )
    )


_RESULT = (
    update(_deliveries)
    .where(_deliveries.c.id == bindparam("b_id"), _deliveries.c.claim_token == bindparam("b_token"))
    .values(
        status=bindparam("status"),
        attempts=bindparam("attempts"),
        next_attempt_at=bindparam("next_attempt_at"),
        claim_token=None,
        last_attempt_at=bindparam("last_attempt_at"),
        last_status_code=bindparam("last_status_code"),
        last_error=bindparam("last_error"),
        updated_at=bindparam("last_attempt_at"),
        completed_at=bindparam("completed_at"),
    )
)


async def record_results(
    session: AsyncSession, results: list[dict[str, Any]], attempts: list[dict[str, Any]]
) -> None:
    """One executemany each. A result whose lease another dispatcher took over (the token
    no longer matches) changes nothing; its attempt is still logged."""
    if results:
        # Plain executemany (no RETURNING): SQLAlchemy's "insertmanyvalues" is for INSERTs.
        await session.execute(_RESULT.execution_options(synchronize_session=False), results)
    if attempts:
        await session.execute(insert(_attempts), attempts)


def add_attempt(session: AsyncSession, attempt: WebhookAttempt) -> None:
    session.add(attempt)


async def earliest_due(session: AsyncSession) -> datetime | None:
    d = _deliveries.c
    stmt = select(func.min(d.next_attempt_at)).where(d.status == PENDING)
    found: datetime | None = (await session.execute(stmt)).scalar_one_or_none()
    return found


# --- the delivery log, resend, replay ----------------------------------------------------


async def list_deliveries(
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    *,
    status: DeliveryStatus | None,
    before_id: int | None,
    limit: int,
) -> list[Any]:
    d, m = _deliveries.c, _messages.c
    stmt = (
        select(
            d.id,
            m.message_id,
            m.type.label("event_type"),
            d.subject_key,
            d.status,
            d.attempts,
            d.next_attempt_at,
            d.last_attempt_at,
            d.last_status_code,
            d.last_error,
            d.created_at,
            d.completed_at,
        )
        .join(_messages, m.id == d.message_pk)
        .where(d.endpoint_id == endpoint_id)
    )
    if status is not None:
        stmt = stmt.where(d.status == status)
    if before_id is not None:
        stmt = stmt.where(d.id < before_id)
    return list((await session.execute(stmt.order_by(d.id.desc()).limit(limit + 1))).all())


async def list_attempts(
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    *,
    failed: bool | None,
    message_id: str | None,
    before_id: int | None,
    limit: int,
) -> Sequence[WebhookAttempt]:
    stmt = select(WebhookAttempt).where(WebhookAttempt.endpoint_id == endpoint_id)
    if failed is not None:
        stmt = stmt.where(WebhookAttempt.succeeded.is_(not failed))
    if message_id is not None:
        stmt = stmt.where(WebhookAttempt.message_id == message_id)
    if before_id is not None:
        stmt = stmt.where(WebhookAttempt.id < before_id)
    stmt = stmt.order_by(WebhookAttempt.id.desc()).limit(limit + 1)
    return (await session.execute(stmt)).scalars().all()


async def get_message(session: AsyncSession, message_id: str) -> OutboxMessage | None:
    stmt = select(OutboxMessage).where(OutboxMessage.message_id == message_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def attempted_event_type(
    session: AsyncSession, endpoint_id: uuid.UUID, message_id: str
) -> str | None:
    """The event type an attempt to ``endpoint_id`` logged under ``message_id``, if any
    (a test ping is only in the attempts log, never in the outbox)."""
    stmt = (
        select(WebhookAttempt.event_type)
        .where(WebhookAttempt.endpoint_id == endpoint_id, WebhookAttempt.message_id == message_id)
        .limit(1)
    )
    found: str | None = await session.scalar(stmt)
    return found


def _again(now: datetime) -> dict[str, Any]:
    return {
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "claim_token": None,
        "updated_at": now,
        "completed_at": None,
    }


async def schedule_again(
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    *,
    since: datetime | None,
    message_pk: int | None,
    event_types: frozenset[str],
    now: datetime,
) -> int:
    """Delivers messages to the endpoint again, with their original ids: one message
    (``message_pk``) or all since ``since``. Existing deliveries start over; messages the
    endpoint never had get a delivery. Returns how many were scheduled."""
    d, m = _deliveries.c, _messages.c
    chosen = select(m.id)
    if message_pk is not None:
        chosen = chosen.where(m.id == message_pk)
    if since is not None:
        chosen = chosen.where(m.created_at >= since)
    if event_types:
        chosen = chosen.where(m.type.in_(sorted(event_types)))
    updated = await session.execute(
        update(_deliveries)
        .where(d.endpoint_id == endpoint_id, d.message_pk.in_(chosen.scalar_subquery()))
        .values(**_again(now))
        .execution_options(synchronize_session=False)
    )
    missing = chosen.where(
        ~exists().where(and_(d.endpoint_id == endpoint_id, d.message_pk == m.id))
    ).with_only_columns(
        literal(endpoint_id).label("endpoint_id"),
        m.id,
        m.subject_key,
        literal(PENDING.value).label("status"),
        literal(0).label("attempts"),
        literal(now, type_=_deliveries.c.next_attempt_at.type).label("next_attempt_at"),
        literal(now, type_=_deliveries.c.created_at.type).label("created_at"),
        literal(now, type_=_deliveries.c.updated_at.type).label("updated_at"),
    )
    inserted = await session.execute(
        insert(_deliveries).from_select(
            [
                "endpoint_id",
                "message_pk",
                "subject_key",
                "status",
                "attempts",
                "next_attempt_at",
                "created_at",
                "updated_at",
            ],
            missing,
        )
    )
    return int(updated.rowcount or 0) + int(inserted.rowcount or 0)  # type: ignore[attr-defined]
