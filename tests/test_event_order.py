"""Per-subject order of events, made deterministic: what two replicas racing would do.

PostgreSQL only: SQLite has one writer and one router, so nothing can come in between.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from qualityapi.common.signals import commit
from qualityapi.events import repository as events
from qualityapi.events.models import OutboxMessage
from qualityapi.sla.scanner import scan_once
from qualityapi.webhooks import repository as webhooks
from qualityapi.work_orders.models import WorkOrder
from tests.conftest import Api
from tests.helpers import create_work_order


@pytest.fixture
def pg_api(api: Api) -> Api:
    if api.backend != "postgresql":
        pytest.skip("one writer and one router on SQLite")
    return api


async def test_a_message_waits_while_an_earlier_one_of_its_subject_is_being_routed(
    pg_api: Api,
) -> None:
    api = pg_api
    key = f"work_order:{uuid.uuid4()}"
    other = f"work_order:{uuid.uuid4()}"
    async with api.app.state.sessionmaker() as session:
        await events.emit_many(
            session,
            [
                events.row(type="work_order.created", subject_key=key, data={}, at=api.clock.now()),
                events.row(type="sla.warning", subject_key=key, data={}, at=api.clock.now()),
                events.row(
                    type="work_order.created", subject_key=other, data={}, at=api.clock.now()
                ),
            ],
        )
        await commit(session)
    async with api.app.state.sessionmaker() as session:
        ids = (
            (await session.execute(select(OutboxMessage.id).order_by(OutboxMessage.id)))
            .scalars()
            .all()
        )
    first, second, third = ids
    async with api.app.state.sessionmaker() as replica_b:
        # Replica B is routing the first message and has not committed yet.
        await replica_b.execute(
            select(OutboxMessage.id).where(OutboxMessage.id == first).with_for_update()
        )
        async with api.app.state.sessionmaker() as replica_a:
            claimed = [m.id for m in await webhooks.claim_unrouted(replica_a, 100)]
            # Not the locked one, not the later one of the same subject; the other subject's.
            assert claimed == [third]
        await replica_b.rollback()
    async with api.app.state.sessionmaker() as replica_a:
        assert [m.id for m in await webhooks.claim_unrouted(replica_a, 100)] == [
            first,
            second,
            third,
        ]


async def test_the_scanner_does_not_write_events_for_a_subject_a_request_holds(
    pg_api: Api,
) -> None:
    api = pg_api
    wo = await create_work_order(api, priority="urgent")
    api.clock.advance(timedelta(hours=2))
    sessionmaker = api.app.state.sessionmaker
    async with sessionmaker() as request:
        # A request changing the order holds its row (work_orders.repository.get(lock=True)).
        await request.execute(
            select(WorkOrder.id).where(WorkOrder.id == uuid.UUID(wo["id"])).with_for_update()
        )
        result = await scan_once(sessionmaker, api.clock.now())
        assert (result.claimed, result.deferred, result.transitions) == (1, 1, 0)
        await request.rollback()
    result = await scan_once(sessionmaker, api.clock.now())
    assert result.transitions == 4 and result.deferred == 0  # warning, breach, 2 levels
