"""The complaint events written to the outbox, and the payload they carry."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.auth.principal import SYSTEM_PRINCIPAL, Principal
from qualityapi.common.jsonable import jsonable
from qualityapi.common.schemas import UtcDatetime
from qualityapi.complaints.models import Complaint, Dimension, ImprovementPlan, Severity
from qualityapi.complaints.states import Action, Status
from qualityapi.events import repository as events
from qualityapi.sla.vocabulary import WarningLevel
from qualityapi.work_orders.schemas import customer_payload

CREATED = "complaint.created"
STATUS_CHANGED = "complaint.status_changed"
HIGH_FREQUENCY = "complaint.high_frequency"

_SUMMARY_FIELDS = (
    "id",
    "number",
    "channel",
    "severity",
    "category",
    "location",
    "status",
    "received_at",
    "received_by",
    "owner_id",
    "subject_staff_id",
    "work_order_id",
    "upheld",
    "warning_level",
    "resolved_at",
    "closed_at",
    "version",
    "updated_at",
)


class ComplaintSummary(BaseModel):
    id: uuid.UUID
    number: str
    channel: str
    severity: Severity
    category: str | None
    location: str | None
    status: Status
    received_at: UtcDatetime
    received_by: uuid.UUID | None
    owner_id: uuid.UUID | None
    subject_staff_id: uuid.UUID | None
    work_order_id: uuid.UUID | None
    upheld: bool | None
    warning_level: WarningLevel
    resolved_at: UtcDatetime | None
    closed_at: UtcDatetime | None
    version: int = Field(description="The complaint's version after the change (its ETag).")
    updated_at: UtcDatetime


class ComplaintActor(BaseModel):
    id: uuid.UUID | None = Field(description="The API key's id; null for the service.")
    name: str
    role: str


class ComplaintEventData(BaseModel):
    """``data`` of ``complaint.created`` and ``complaint.status_changed``."""

    complaint: ComplaintSummary
    customer: dict[str, Any] = Field(
        description="name, phone, email, address: every key, null where none was given."
    )
    action: Action | None = Field(description="The action that caused it; null on creation.")
    previous_status: Status | None
    note: str | None = Field(default=None, description="The action's note or reason, if any.")
    actor: ComplaintActor = Field(description="Who did it (`system` for the service).")
    changes: dict[str, Any] = Field(
        default_factory=dict, description="Field → {old, new} of what the action changed."
    )


class HighFrequencyData(BaseModel):
    """``data`` of ``complaint.high_frequency``: a recurrence threshold was reached."""

    improvement_plan_id: uuid.UUID
    dimension: Dimension
    key: str
    count: int
    window_days: int
    threshold: int
    complaint_ids: list[uuid.UUID]


def _summary(c: Complaint, bump: bool) -> dict[str, Any]:
    summary = {f: jsonable(getattr(c, f)) for f in _SUMMARY_FIELDS}
    # Written before the service's flush bumps ``version``: carry the committed one.
    if bump:
        summary["version"] += 1
    return summary


def _actor(actor: Principal) -> dict[str, Any]:
    key = None if actor.key_id is None else str(actor.key_id)
    return {"id": key, "name": actor.name, "role": actor.role.value}


def _row(
    type_: str,
    c: Complaint,
    action: Action | None,
    previous: Status | None,
    at: datetime,
    note: str | None = None,
    *,
    actor: Principal,
    changes: dict[str, Any],
    bump: bool,
) -> dict[str, Any]:
    data = {
        "complaint": _summary(c, bump),
        "customer": customer_payload(c.customer),
        "action": action.value if action else None,
        "previous_status": previous.value if previous else None,
        "note": note,
        "actor": _actor(actor),
        "changes": changes,
    }
    return events.row(type=type_, subject_key=f"complaint:{c.id}", data=data, at=at)


async def created(
    session: AsyncSession,
    c: Complaint,
    at: datetime,
    *,
    actor: Principal = SYSTEM_PRINCIPAL,
    changes: dict[str, Any] | None = None,
) -> None:
    row = _row(CREATED, c, None, None, at, actor=actor, changes=changes or {}, bump=False)
    await events.emit_many(session, [row])


async def acted(
    session: AsyncSession,
    c: Complaint,
    action: Action,
    previous: Status,
    at: datetime,
    note: str | None = None,
    *,
    actor: Principal = SYSTEM_PRINCIPAL,
    changes: dict[str, Any] | None = None,
) -> None:
    """``complaint.status_changed`` when the status changed, and on ``resolve`` always (an
    upheld complaint about a person is what staff records react to)."""
    if c.status != previous or action is Action.resolve:
        bump = session.is_modified(c, include_collections=False)
        row = _row(
            STATUS_CHANGED,
            c,
            action,
            previous,
            at,
            note,
            actor=actor,
            changes=changes or {},
            bump=bump,
        )
        await events.emit_many(session, [row])


async def high_frequency(session: AsyncSession, plan: ImprovementPlan, at: datetime) -> None:
    data = {
        "improvement_plan_id": str(plan.id),
        "dimension": plan.dimension.value,
        "key": plan.key,
        "count": plan.complaint_count,
        "window_days": plan.window_days,
        "threshold": plan.threshold,
        "complaint_ids": [str(i) for i in plan.complaint_ids],
    }
    row = events.row(
        type=HIGH_FREQUENCY, subject_key=f"improvement_plan:{plan.id}", data=data, at=at
    )
    await events.emit_many(session, [row])
