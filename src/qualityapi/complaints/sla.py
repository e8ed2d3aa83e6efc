"""Complaints as a subject of the SLA engine: the adapter ``main`` registers."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.complaints import repository
from qualityapi.complaints.models import Complaint
from qualityapi.complaints.states import ACKNOWLEDGING, OPEN_STATUSES, Action, Status
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

_FEEDBACK_LOOP = {"working_days": 15}  # 001 §3.1: feedback loop closed within 15 working days


class ComplaintSubject:
    kind = "complaint"
    targets = ("acknowledge", "resolution", "feedback")
    actions: Mapping[str, Mapping[str, Op]] = {
        **{action: {"acknowledge": Op.meet} for action in ACKNOWLEDGING},
        # Settling a complaint acknowledges it too (a simple one, on first contact).
        Action.resolve: {"acknowledge": Op.meet, "resolution": Op.meet},
        # The feedback loop ends when the customer has been called back and it is closed.
        Action.close: {EVERY: Op.meet},
        Action.reopen: {"resolution": Op.restart, "feedback": Op.restart},
    }
    replan_fields = frozenset({"severity", "category"})
    store = LevelStore(
        table=table_of(Complaint),
        open_statuses=frozenset(s.value for s in OPEN_STATUSES),
        # A complaint has no title: its card shows the start of what the customer said.
        title="description",
        since="received_at",
        # First-contact responsibility: the board names the owner.
        assignee="owner_id",
    )
    # 003: simple complaints at once, general ones the same day; 001 §4.2: every complaint
    # resolved within 7 working days; acknowledgement within 2 business hours (ISO 10002
    # "immediate acknowledgement", a working default).
    default_policies = (
        {
            "name": "complaint simple",
            "rank": 10,
            "match": {"priorities": ["simple"]},
            "calendar": "business",
            "targets": {"acknowledge": "PT2H", "resolution": "PT1H", "feedback": _FEEDBACK_LOOP},
        },
        {
            "name": "complaint general",
            "rank": 20,
            "match": {"priorities": ["general"]},
            "calendar": "business",
            "targets": {
                "acknowledge": "PT2H",
                "resolution": {"working_days": 0},
                "feedback": _FEEDBACK_LOOP,
            },
        },
        {
            "name": "complaint major",
            "rank": 30,
            "match": {"priorities": ["major"]},
            "calendar": "business",
            "targets": {
                "acknowledge": "PT2H",
                "resolution": {"working_days": 7},
                "feedback": _FEEDBACK_LOOP,
            },
        },
    )

    async def describe_many(
        self, session: AsyncSession, ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, Description]:
        described = {
            row.id: Description(number=row.number, title=row.category, people=_people(row))
            for row in await repository.people_of(session, ids)
        }
        return await with_contacts(session, described)

    async def facts_many(
        self, session: AsyncSession, ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, SubjectFacts]:
        return {
            row.id: _facts(row.id, row.severity, row.category, row.received_at, row.status)
            for row in await repository.sla_facts_of(session, ids)
        }


ADAPTER = ComplaintSubject()


def _people(row: Any) -> dict[str, Contact]:
    # First-contact responsibility: the owner (the receiver until a handover is accepted)
    # is the one escalations call first.
    return {
        "assignee": Contact(
            row.owner_id, None if row.owner_id else "nobody owns the complaint yet"
        ),
        **team_contacts(
            row.team_id,
            row.team_name,
            row.supervisor_id,
            row.manager_id,
            no_team="the complaint's owner is in no team",
        ),
    }


def _facts(
    complaint_id: uuid.UUID, severity: Any, category: str | None, received_at: Any, status: Any
) -> SubjectFacts:
    return SubjectFacts(
        id=complaint_id,
        priority=getattr(severity, "value", severity),
        category=category,
        started_at=received_at,
        finished=Status(status) == Status.closed,
    )


def facts_of(c: Complaint) -> SubjectFacts:
    return _facts(c.id, c.severity, c.category, c.received_at, c.status)
