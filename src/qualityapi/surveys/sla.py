"""Survey callbacks as a subject of the SLA engine: the adapter ``main`` registers.

One clock, ``callback``: the return call within 24 h of the resolution (000 §5.1). An
answer or a refusal meets it (the customer was reached); giving up after too many failed
attempts, or withdrawing the survey because the order was reopened, cancels it.
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
)
from qualityapi.sla.vocabulary import Op
from qualityapi.surveys import repository
from qualityapi.surveys.models import Survey
from qualityapi.surveys.states import CANCEL, COMPLETE, GIVE_UP, OPEN_STATUSES, REFUSE, Status

KIND = "survey_callback"


class SurveyCallbackSubject:
    kind = KIND
    targets = ("callback",)
    actions: Mapping[str, Mapping[str, Op]] = {
        COMPLETE: {EVERY: Op.meet},
        REFUSE: {EVERY: Op.meet},
        GIVE_UP: {EVERY: Op.cancel},
        CANCEL: {EVERY: Op.cancel},
    }
    # Copied from the work order at issue and never edited; listed so a policy edit that
    # re-plans by them finds them.
    replan_fields = frozenset({"priority", "category"})
    # Created on a first start (sla.policies.seed_subject_defaults); editable. Policies of
    # this kind match the work order's priority and category.
    default_policies = (
        {
            "name": "survey callback",
            "rank": 100,
            "calendar": "24x7",
            "targets": {"callback": "PT24H"},
        },
    )
    store = LevelStore(
        table=table_of(Survey), open_statuses=frozenset(s.value for s in OPEN_STATUSES)
    )

    async def describe_many(
        self, session: AsyncSession, ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, Description]:
        described = {
            row.id: Description(number=row.number, title=row.title, people=_people(row))
            for row in await repository.people_of(session, ids)
        }
        return await with_contacts(session, described)

    async def facts_many(
        self, session: AsyncSession, ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, SubjectFacts]:
        return {
            row.id: _facts(row.id, row.priority, row.category, row.created_at, row.status)
            for row in await repository.sla_facts_of(session, ids)
        }


ADAPTER = SurveyCallbackSubject()


def _people(row: Any) -> dict[str, Contact]:
    if row.team_id is None:
        supervisor = manager = Contact(None, "the work order had no team")
    else:
        supervisor = Contact(
            row.supervisor_id,
            None if row.supervisor_id else f"team {row.team_name!r} has no supervisor",
        )
        manager = Contact(
            row.manager_id, None if row.manager_id else f"team {row.team_name!r} has no manager"
        )
    return {
        "assignee": Contact(
            row.assignee_id, None if row.assignee_id else "nobody is assigned to make the call"
        ),
        "team_supervisor": supervisor,
        "team_manager": manager,
    }


def _facts(
    survey_id: uuid.UUID, priority: str | None, category: str | None, started: Any, status: Any
) -> SubjectFacts:
    return SubjectFacts(
        id=survey_id,
        priority=priority,
        category=category,
        started_at=started,
        finished=Status(status) not in OPEN_STATUSES,
    )


def facts_of(survey: Survey) -> SubjectFacts:
    return _facts(survey.id, survey.priority, survey.category, survey.created_at, survey.status)
