"""Retention: old delivery logs, delivered outbox messages and expired idempotency keys
are deleted in bounded batches; young rows and undelivered messages stay."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import func, insert, select

from qualityapi.common.idempotency import IdempotencyRecord
from qualityapi.events.models import OutboxMessage
from qualityapi.retention.service import Policy, prune
from qualityapi.scheduler.jobs import RetentionJob
from qualityapi.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from tests.conftest import Api

POLICY = Policy(
    deliveries=timedelta(days=30),
    attempts=timedelta(days=30),
    outbox=timedelta(days=30),
    idempotency=timedelta(hours=48),
    batch=2,  # several batches per kind: the loop and its stop condition are exercised
    pause_seconds=0,
)


async def _seed(api: Api, now: datetime) -> dict[str, Any]:
    old, young = now - timedelta(days=31), now - timedelta(days=29)
    endpoint_id = uuid.uuid4()
    async with api.app.state.sessionmaker() as session:
        await session.execute(
            insert(WebhookEndpoint).values(
                id=endpoint_id,
                url="http://127.0.0.1:9/in",
                description=None,
                event_types=[],
                enabled=False,
                secret="whsec_x",
                version=1,
                created_at=old,
                updated_at=old,
            )
        )
        messages: dict[str, int] = {}
        plan = [  # name, written at, routed, delivery status (None: no delivery)
            ("old_delivered", old, True, DeliveryStatus.succeeded),
            ("old_delivered_2", old, True, DeliveryStatus.succeeded),
            ("old_delivered_3", old, True, DeliveryStatus.failed),
            ("old_pending", old, True, DeliveryStatus.pending),  # undelivered: stays
            ("old_unrouted", old, False, None),  # never fanned out: stays
            ("young_delivered", young, True, DeliveryStatus.succeeded),
        ]
        for name, at, routed, status in plan:
            pk = await session.scalar(
                insert(OutboxMessage)
                .values(
                    message_id=f"msg_{name}",
                    type="work_order.created",
                    subject_key=f"work_order:{name}",
                    payload={"type": "work_order.created"},
                    created_at=at,
                    routed_at=at if routed else None,
                )
                .returning(OutboxMessage.id)
            )
            assert pk is not None
            messages[name] = pk
            if status is None:
                continue
            done = None if status is DeliveryStatus.pending else at + timedelta(seconds=1)
            delivery = await session.scalar(
                insert(WebhookDelivery)
                .values(
                    endpoint_id=endpoint_id,
                    message_pk=pk,
                    subject_key=f"work_order:{name}",
                    status=status,
                    attempts=1,
                    next_attempt_at=None if done else at,
                    created_at=at,
                    updated_at=at,
                    completed_at=done,
                )
                .returning(WebhookDelivery.id)
            )
            await session.execute(
                insert(WebhookAttempt).values(
                    delivery_id=delivery,
                    endpoint_id=endpoint_id,
                    message_id=f"msg_{name}",
                    event_type="work_order.created",
                    attempted_at=at,
                    succeeded=done is not None,
                    status_code=200,
                    duration_ms=1.0,
                )
            )
        for name, at in (("old", now - timedelta(hours=49)), ("young", now - timedelta(hours=47))):
            await session.execute(
                insert(IdempotencyRecord).values(
                    id=uuid.uuid4(),
                    principal_key="p",
                    key=f"key-{name}",
                    fingerprint="f",
                    status_code=201,
                    response_body={},
                    created_at=at,
                )
            )
        await session.commit()
    return messages


async def _count(api: Api, model: Any) -> int:
    async with api.app.state.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_old_rows_go_young_and_undelivered_stay(api: Api) -> None:
    now = api.clock.now()
    messages = await _seed(api, now)
    counted = "qualityapi_retention_deleted_rows_total"
    before = REGISTRY.get_sample_value(counted, {"table": "outbox_messages"}) or 0
    deleted = await prune(api.app.state.sessionmaker, now, POLICY)
    assert REGISTRY.get_sample_value(counted, {"table": "outbox_messages"}) == before + 3
    assert deleted == {
        # Attempts older than 30 days: all but the young message's one.
        "webhook_attempts": 4,
        # Finished and old: the three old delivered/failed ones (their attempts went above).
        "webhook_deliveries": 3,
        "outbox_messages": 3,
        "idempotency_keys": 1,
    }
    async with api.app.state.sessionmaker() as session:
        left = set((await session.scalars(select(OutboxMessage.id))).all())
        keys = (await session.scalars(select(IdempotencyRecord.key))).all()
        statuses = (await session.scalars(select(WebhookDelivery.status))).all()
    assert left == {messages[n] for n in ("old_pending", "old_unrouted", "young_delivered")}
    assert keys == ["key-young"]
    assert sorted(statuses) == sorted([DeliveryStatus.pending, DeliveryStatus.succeeded])
    assert await _count(api, WebhookAttempt) == 1
    # A second pass finds nothing more to do.
    assert set((await prune(api.app.state.sessionmaker, now, POLICY)).values()) == {0}


async def test_zero_days_keeps_for_ever_and_the_job_runs_a_pass(api: Api) -> None:
    now = api.clock.now()
    await _seed(api, now)
    keep = Policy(
        deliveries=None,
        attempts=None,
        outbox=None,
        idempotency=timedelta(hours=48),
        pause_seconds=0,
    )
    job = RetentionJob(api.app.state.sessionmaker, api.clock, keep, interval=3600)
    assert await job.run() == {"idempotency_keys": 1}
    assert await _count(api, OutboxMessage) == 6
    assert await _count(api, WebhookAttempt) == 5
