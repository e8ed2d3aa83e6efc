"""Work orders as a subject of the SLA engine: the adapter ``main`` registers.

What the engine needs to know and nothing else: the targets a policy may set, what each
action does to which clock, which fields re-plan, where the level is shown, and how to
read an order's facts and contacts (the SQL is in ``work_orders.repository``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.db.base import table_of
from qualityapi.sla.events import with_contacts
from qualityapi.sla.subjects import (
    EVERY,
    Contact,
    Description,
    LevelStore,
    SubjectFacts,
    team_contacts,
)
from qualityapi.sla.vocabulary import Op
from qualityapi.work_orders import repository
from qualityapi.work_orders.models import WorkOrder
from qualityapi.work_orders.states import OPEN_STATUSES, Action, Status

_FINISHED = frozenset({Status.resolved, Status.closed, Status.cancelled})


class WorkOrderSubject:
    kind = "work_order"
    targets = ("response", "arrival", "resolution")
    actions: Mapping[str, Mapping[str, Op]] = {
        Action.respond: {"response": Op.meet},
        Action.arrive: {"arrival": Op.meet},
        # Resolving answers the order; an arrival that never happened is moot.
        Action.resolve: {"arrival": Op.cancel, EVERY: Op.meet},
        Action.hold: {EVERY: Op.pause},
        Action.resume: {EVERY: Op.resume},
        # The customer is waiting again: a new response and resolution cycle. Arrival
        # does not restart: the engineer has been (or the visit was moot).
        Action.reopen: {"response": Op.restart, "resolution": Op.restart},
        Action.cancel: {EVERY: Op.cancel},
    }
    replan_fields = frozenset({"priority", "category", "appointment_end"})
    # Created on a first start (sla.policies.seed_subject_defaults); all editable.
    default_policies = (
        # 001 §2.2: urgent — respond within 1 h, on site within 4 h, around the clock.
        {
            "name": "urgent",
            "rank": 10,
            "match": {"priorities": ["urgent"]},
            "calendar": "24x7",
            "targets": {"response": "PT1H", "arrival": "PT4H"},
        },
        # high — respond within 2 h (business hours), arrive within the appointment window.
        {
            "name": "high",
            "rank": 20,
            "match": {"priorities": ["high"]},
            "calendar": "business",
            "targets": {"response": "PT2H", "arrival": {"until": "appointment_end"}},
        },
        # normal — respond within 4 h (business hours), resolve within 24 plain hours.
        {
            "name": "normal",
            "rank": 30,
            "match": {"priorities": ["normal"]},
            "calendar": "business",
            "targets": {
                "response": "PT4H",
                "resolution": {"duration": "PT24H", "calendar": "24x7"},
            },
        },
    )
    store = LevelStore(
        table=table_of(WorkOrder),
        open_statuses=frozenset(s.value for s in OPEN_STATUSES),
        since="reported_at",
    )

    async def describe_many(
        self, session: AsyncSession, ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, Description]:
        described = {}
        for row in await repository.people_of(session, ids):
            described[row.id] = Description(number=row.number, title=row.title, people=_people(row))
        return await with_contacts(session, described)

    async def facts_many(
        self, session: AsyncSession, ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, SubjectFacts]:
        return {
            row.id: _facts(
                row.id,
                row.priority,
                row.category,
                row.reported_at,
                row.appointment_end,
                Status(row.status),
            )
            for row in await repository.sla_facts_of(session, ids)
        }


ADAPTER = WorkOrderSubject()


def _people(row: Any) -> dict[str, Contact]:
    return {
        "assignee": Contact(
            row.assignee_id, None if row.assignee_id else "the work order has no assignee"
        ),
        **team_contacts(
            row.team_id,
            row.team_name,
            row.supervisor_id,
            row.manager_id,
            no_team="the work order has no team",
        ),
    }


def _facts(
    order_id: uuid.UUID,
    priority: Any,
    category: str | None,
    reported_at: Any,
    appointment_end: Any,
    status: Status,
) -> SubjectFacts:
    return SubjectFacts(
        id=order_id,
        priority=getattr(priority, "value", priority),
        category=category,
        started_at=reported_at,
        appointment_end=appointment_end,
        on_hold=status == Status.on_hold,
        finished=status in _FINISHED,
    )


def facts_of(source: WorkOrder | Mapping[str, Any]) -> SubjectFacts:
    """An order's facts, from the ORM object or the values of a create."""
    if isinstance(source, WorkOrder):
        return _facts(
            source.id,
            source.priority,
            source.category,
            source.reported_at,
            source.appointment_end,
            source.status,
        )
    return _facts(
        source["id"],
        source["priority"],
        source["category"],
        source["reported_at"],
        source["appointment_end"],
        Status(source["status"]),
    )
