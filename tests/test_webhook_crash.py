"""A crash in the middle of a delivery batch loses nothing and invents no new ids.

The real service runs as a subprocess; it is killed with SIGKILL while deliveries are in
flight, then started again on the same database. Every message must then reach the
receiver, under its original ``webhook-id`` (a delivery the crash interrupted may come
twice, with the same id: at-least-once).
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from sqlalchemy import select

from qualityapi.db.engine import make_engine
from qualityapi.events.models import OutboxMessage
from tests.conftest import ADMIN_KEY, _clean
from tests.helpers import work_order_body
from tests.support.receiver import Receiver, Reply
from tests.support.server import running_server

pytestmark = pytest.mark.e2e

ORDERS = 60


def _env(database_url: str) -> dict[str, str]:
    return {
        "QUALITYAPI_DATABASE_URL": database_url,
        "QUALITYAPI_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "QUALITYAPI_LOG_LEVEL": "warning",
        "QUALITYAPI_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "QUALITYAPI_WEBHOOK_CONCURRENCY": "10",
        "QUALITYAPI_WEBHOOK_LEASE_SECONDS": "2",
        "QUALITYAPI_WEBHOOK_POLL_SECONDS": "0.2",
        "QUALITYAPI_WEBHOOK_RETRY_DELAYS": "0.3,0.5,1,1,1,1",
    }


async def _message_ids(database_url: str) -> list[str]:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(select(OutboxMessage.message_id).order_by(OutboxMessage.id))
            return [r[0] for r in rows.all()]
    finally:
        await engine.dispose()


async def test_sigkill_mid_batch_loses_no_message(database_url: str) -> None:
    await _clean(database_url)
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    # Slow answers keep a batch in flight when the kill comes (0.6 s each: at 0.2 s the
    # deliveries could keep up with the creates, and a late kill found all delivered).
    with Receiver(default=Reply(200, delay=0.6)) as receiver:
        with running_server(_env(database_url)) as (base, proc):
            async with httpx.AsyncClient(base_url=base, headers=auth, timeout=10) as client:
                created = await client.post("/v1/webhook-endpoints", json={"url": receiver.url})
                assert created.status_code == 201, created.text
                secret = created.json()["secret"]
                for _ in range(ORDERS):
                    response = await client.post("/v1/work-orders", json=work_order_body())
                    assert response.status_code == 201
            deadline = time.monotonic() + 30
            while len(receiver.snapshot()) < 10:
                assert time.monotonic() < deadline, "no delivery started"
                await asyncio.sleep(0.02)
            proc.kill()  # SIGKILL: no shutdown, no flush
            proc.wait()
        before_restart = len(receiver.snapshot())
        assert before_restart < ORDERS, "the kill came after everything was delivered"
        expected = await _message_ids(database_url)
        assert len(expected) == ORDERS
        with running_server(_env(database_url)):
            deadline = time.monotonic() + 60
            while {r.id for r in receiver.delivered()} != set(expected):
                assert time.monotonic() < deadline, (
                    f"missing after restart: {set(expected) - {r.id for r in receiver.delivered()}}"
                )
                await asyncio.sleep(0.1)
        received = receiver.snapshot()
        assert {r.id for r in received} <= set(expected)  # never a new id
        receiver.verify_all(secret)
