"""Bulk-seeded SLA bursts: many work orders whose clocks breach within the same second.

Creating thousands of work orders over HTTP would spend the test's time on the API, not on
what is under test (the scanner and the dispatcher); the rows go straight into a migrated
database instead (``bench/bench_webhooks.py``'s burst phase seeds through here too). Each
clock is already warned (so no ``sla.warning`` is due: only the breach and the escalation
ladder), and is consistent with its policy (started ``target`` before its deadline, warned
at ``warn_percent``), so a re-plan of that policy would leave it where it is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from qualityapi.common.jsonable import jsonable
from qualityapi.db.base import table_of
from qualityapi.sla.models import ClockState, SlaClock
from qualityapi.sla.vocabulary import WARNED, WarningLevel
from qualityapi.work_orders.models import Priority, WorkOrder
from qualityapi.work_orders.states import Status

_ORDERS = table_of(WorkOrder)
_CLOCKS = table_of(SlaClock)


@dataclass(frozen=True)
class Seeded:
    work_order_id: uuid.UUID
    clock_id: uuid.UUID
    due_at: datetime


async def seed_breaching_orders(
    engine: AsyncEngine,
    *,
    count: int,
    first_due: datetime,
    policy_id: uuid.UUID,
    calendar_id: uuid.UUID,
    category: str,
    target: timedelta,
    warn_percent: int,
    spread: timedelta = timedelta(seconds=1),
) -> list[Seeded]:
    """``count`` open work orders, each with a warned ``response`` clock on a 24x7
    calendar, due between ``first_due`` and ``first_due + spread``; one transaction."""
    now = first_due - timedelta(seconds=1)
    tag = uuid.uuid4().hex[:6]
    orders: list[dict[str, Any]] = []
    clocks: list[dict[str, Any]] = []
    seeded: list[Seeded] = []
    for i in range(count):
        due = first_due + spread * i / count
        started = due - target
        warn = started + target * warn_percent / 100
        wo_id, clock_id = uuid.uuid4(), uuid.uuid4()
        seeded.append(Seeded(wo_id, clock_id, due))
        orders.append(
            {
                "id": wo_id,
                "number": f"WO-BURST-{tag}-{i:06d}",
                "title": f"burst {i}",
                "category": category,
                "priority": Priority.urgent,
                "status": Status.open,
                "customer": {"name": "Burst"},
                "reported_at": started,
                "warning_level": WarningLevel.yellow,
                "sla": [
                    {
                        "target": "response",
                        "state": "running",
                        "due_at": jsonable(due),
                        "warn_at": jsonable(warn),
                    }
                ],
                "reopen_count": 0,
                "assignments": 0,
                "created_by": "burst",
                "version": 1,
                "created_at": started,
                "updated_at": now,
            }
        )
        clocks.append(
            {
                "id": clock_id,
                "subject_type": "work_order",
                "subject_id": wo_id,
                "target": "response",
                "policy_id": policy_id,
                "calendar_id": calendar_id,
                "state": ClockState.running,
                "cycle": 1,
                "started_at": started,
                "due_at": due,
                "warn_at": warn,
                "target_seconds": target.total_seconds(),
                "elapsed_seconds": 0.0,
                "segment_started_at": started,
                "paused_segments": [],
                "stage": WARNED,
                "remaining_at_warning_seconds": (due - warn).total_seconds(),
                "next_check_at": due,
                "extensions": [],
                "created_at": started,
                "updated_at": now,
            }
        )
    async with engine.begin() as conn:
        await conn.execute(insert(_ORDERS), orders)
        await conn.execute(insert(_CLOCKS), clocks)
    return seeded
