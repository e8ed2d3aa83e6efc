"""Two real server processes on one PostgreSQL: per-subject order, exactly once, and a
replica killed midway.

Found before: with two replicas, an order's ``sla.warning`` could reach the receiver
before its ``work_order.created`` (the other replica's routing of the earlier message had
not committed), and an action racing the scanner could overtake an ``sla.breached``
written earlier.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections import defaultdict
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from qualityapi.db.engine import make_engine
from qualityapi.db.migrations import upgrade
from qualityapi.events.models import OutboxMessage
from tests.conftest import ADMIN_KEY, MIGRATIONS
from tests.helpers import work_order_body
from tests.support.pgserver import TemporaryPostgres
from tests.support.receiver import Receiver
from tests.support.server import replica_env, running_server

pytestmark = pytest.mark.e2e

ORDERS = 120
HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}


async def _setup(base: str, client: httpx.AsyncClient, receiver_url: str) -> None:
    calendars = (await client.get(f"{base}/v1/calendars", headers=HEADERS)).json()["items"]
    always = next(c for c in calendars if c["name"] == "24x7")
    policy = await client.post(
        f"{base}/v1/sla-policies",
        json={
            "name": "lifts",
            "rank": 1,
            "match": {"categories": ["lift"]},
            "calendar_id": always["id"],
            "targets": {"response": "PT4S"},
            "warning": {"percent": 50},
            "escalation": [
                {"level": 1, "after": "PT0S", "notify": [{"role": "assignee"}]},
                {"level": 2, "after": "PT1S", "notify": [{"role": "team_manager"}]},
            ],
        },
        headers=HEADERS,
    )
    assert policy.status_code == 201, policy.text
    endpoint = await client.post(
        f"{base}/v1/webhook-endpoints", json={"url": receiver_url}, headers=HEADERS
    )
    assert endpoint.status_code == 201, endpoint.text
    staff = await client.post(f"{base}/v1/staff", json={"name": "Engineer"}, headers=HEADERS)
    assert staff.status_code == 201, staff.text


async def _outbox(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            stmt = select(OutboxMessage.message_id, OutboxMessage.subject_key, OutboxMessage.type)
            return list((await conn.execute(stmt.order_by(OutboxMessage.id))).all())
    finally:
        await engine.dispose()


async def test_two_replicas_keep_order_and_survive_a_kill(postgres: TemporaryPostgres) -> None:
    url = postgres.create_database(f"replicas_{uuid.uuid4().hex[:8]}")
    await asyncio.to_thread(upgrade, url, MIGRATIONS)
    with (
        Receiver() as receiver,
        running_server(replica_env(url, lease_seconds=3)) as (base_a, _),
        running_server(replica_env(url, lease_seconds=3)) as (base_b, proc_b),
    ):
        async with httpx.AsyncClient(timeout=30) as client:
            await _setup(base_a, client, receiver.url)
            staff = (await client.get(f"{base_a}/v1/staff", headers=HEADERS)).json()["items"]
            # Creates spread over both replicas, at once.
            created = await asyncio.gather(
                *(
                    client.post(
                        f"{(base_a, base_b)[i % 2]}/v1/work-orders",
                        json=work_order_body(category="lift", priority="urgent"),
                        headers=HEADERS,
                    )
                    for i in range(ORDERS)
                )
            )
            assert [r.status_code for r in created] == [201] * ORDERS
            ids = [r.json()["id"] for r in created]
            # Actions racing the scanner on the same orders, around their warning.
            await asyncio.sleep(1.8)
            assigned = await asyncio.gather(
                *(
                    client.post(
                        f"{(base_b, base_a)[i % 2]}/v1/work-orders/{wo}/assign",
                        json={"assignee_id": staff[0]["id"]},
                        headers=HEADERS,
                    )
                    for i, wo in enumerate(ids)
                )
            )
            assert {r.status_code for r in assigned} <= {200, 503}
            # Kill replica B while breaches and escalations are being sent.
            await asyncio.sleep(2.5)
            proc_b.send_signal(signal.SIGKILL)
            proc_b.wait(timeout=10)

            outbox = await _outbox(url)
            expected = {m.message_id for m in outbox}
            deadline = time.monotonic() + 40  # the lease (3 s) and a generous margin
            while time.monotonic() < deadline:
                got = {r.headers["webhook-id"] for r in receiver.delivered()}
                outbox = await _outbox(url)
                expected = {m.message_id for m in outbox}
                if got >= expected and len(expected) >= ORDERS * 5:
                    break
                await asyncio.sleep(0.5)
    delivered = receiver.delivered()
    got = {r.headers["webhook-id"] for r in delivered}
    assert got == expected, f"missing {len(expected - got)}, unknown {len(got - expected)}"
    # Per subject, the first arrival of each message follows the outbox order.
    position = {m.message_id: i for i, m in enumerate(outbox)}
    subject_of = {m.message_id: m.subject_key for m in outbox}
    first: dict[str, float] = {}
    for r in delivered:
        first.setdefault(r.headers["webhook-id"], r.at)
    arrivals: dict[str, list[str]] = defaultdict(list)
    for message_id in sorted(first, key=first.__getitem__):
        arrivals[subject_of[message_id]].append(message_id)
    out_of_order = [
        key for key, seq in arrivals.items() if seq != sorted(seq, key=position.__getitem__)
    ]
    assert out_of_order == []
    # Each order: created, assigned, warning, breached, two escalations.
    types = defaultdict(list)
    for m in outbox:
        types[m.subject_key].append(m.type)
    assert all(
        {"work_order.created", "sla.warning", "sla.breached"} <= set(t)
        for k, t in types.items()
        if k.startswith("work_order:")
    )
