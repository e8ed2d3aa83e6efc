"""The work-order events written to the outbox, and the payload they carry."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.common.jsonable import jsonable
from qualityapi.common.schemas import UtcDatetime
from qualityapi.events import repository as events
from qualityapi.sla.vocabulary import WarningLevel
from qualityapi.work_orders.models import Priority, WorkOrder
from qualityapi.work_orders.states import Action, Status

CREATED = "work_order.created"
ASSIGNED = "work_order.assigned"
STATUS_CHANGED = "work_order.status_changed"
RESOLVED = "work_order.resolved"
CLOSED = "work_order.closed"

_SUMMARY_FIELDS = (
    "id",
    "number",
    "title",
    "category",
    "priority",
    "status",
    "assignee_id",
    "team_id",
    "warning_level",
    "reported_at",
    "resolved_at",
    "closed_at",
    "updated_at",
)


class WorkOrderSummary(BaseModel):
    id: uuid.UUID
    number: str
    title: str
    category: str | None
    priority: Priority
    status: Status
    assignee_id: uuid.UUID | None
    team_id: uuid.UUID | None
    warning_level: WarningLevel
    reported_at: UtcDatetime
    resolved_at: UtcDatetime | None
    closed_at: UtcDatetime | None
    updated_at: UtcDatetime


class WorkOrderEventData(BaseModel):
    """``data`` of every ``work_order.*`` event."""

    work_order: WorkOrderSummary
    action: Action | None = Field(description="The action that caused it; null on creation.")
    previous_status: Status | None = Field(description="Before the action; null on creation.")


def _summary(source: Mapping[str, Any] | WorkOrder) -> dict[str, Any]:
    if isinstance(source, WorkOrder):
        return {f: jsonable(getattr(source, f)) for f in _SUMMARY_FIELDS}
    return {f: jsonable(source[f]) for f in _SUMMARY_FIELDS}


def _row(
    type_: str,
    summary: dict[str, Any],
    action: Action | None,
    previous: Status | None,
    at: datetime,
) -> dict[str, Any]:
    data = {
        "work_order": summary,
        "action": action.value if action else None,
        "previous_status": previous.value if previous else None,
    }
    return events.row(type=type_, subject_key=f"work_order:{summary['id']}", data=data, at=at)


async def created(session: AsyncSession, values: Mapping[str, Any], at: datetime) -> None:
    await events.emit_many(session, [_row(CREATED, _summary(values), None, None, at)])


async def acted(
    session: AsyncSession, wo: WorkOrder, action: Action, previous: Status, at: datetime
) -> None:
    """``assigned``, ``status_changed``, then ``resolved``/``closed``, as they apply."""
    summary = _summary(wo)
    types: list[str] = []
    if action is Action.assign:
        types.append(ASSIGNED)
    if wo.status != previous:
        types.append(STATUS_CHANGED)
    if action is Action.resolve:
        types.append(RESOLVED)
    elif action is Action.close:
        types.append(CLOSED)
    await events.emit_many(session, [_row(t, summary, action, previous, at) for t in types])
