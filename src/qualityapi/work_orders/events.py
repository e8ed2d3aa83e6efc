"""The work-order events written to the outbox, and the payload they carry.

A payload is what a help desk needs to act without a second call: the order as it is now
(customer, location, appointment, priority, status, assignee and team with their names,
deadlines, ``version``), who did it (actor), why (reason or note) and what changed. It is
built from the rows the change already has in memory: names come from the staff and team
rows the service loaded to check them (create, assign), so a create adds no query for its
event; other actions look the names up by primary key.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.auth.principal import Principal
from qualityapi.common.jsonable import jsonable
from qualityapi.common.schemas import UtcDatetime
from qualityapi.events import repository as events
from qualityapi.sla.vocabulary import WarningLevel
from qualityapi.staff.models import Staff, Team
from qualityapi.work_orders.models import Priority, WorkOrder
from qualityapi.work_orders.schemas import customer_payload
from qualityapi.work_orders.states import Action, Status

CREATED = "work_order.created"
ASSIGNED = "work_order.assigned"
STATUS_CHANGED = "work_order.status_changed"
RESOLVED = "work_order.resolved"
CLOSED = "work_order.closed"
# Not pinned in api.md; added by issue 13 so that no change a subscriber wants is silent.
UPDATED = "work_order.updated"
ARRIVED = "work_order.arrived"

_SNAPSHOT_FIELDS = (
    "id",
    "number",
    "title",
    "description",
    "category",
    "priority",
    "status",
    "customer",
    "location",
    "reported_at",
    "appointment_start",
    "appointment_end",
    "assignee_id",
    "team_id",
    "warning_level",
    "sla",
    "responded_at",
    "arrived_at",
    "resolved_at",
    "closed_at",
    "cancelled_at",
    "resolution",
    "version",
    "created_at",
    "updated_at",
)


class Actor(BaseModel):
    """Who caused the event: an API key's name and role (``system`` for the service)."""

    id: uuid.UUID | None = Field(description="The API key's id; null for the service/CLI.")
    name: str = Field(examples=["helpdesk-integration"])
    role: str = Field(examples=["agent"])


class Named(BaseModel):
    id: uuid.UUID
    name: str | None = Field(description="Null if the record no longer exists.")


class CustomerData(BaseModel):
    name: str
    phone: str | None = None
    email: str | None = None
    address: str | None = None


class Deadline(BaseModel):
    """One clock as the order's ``sla`` summary shows it."""

    target: str = Field(examples=["response"])
    state: str = Field(examples=["running"])
    due_at: UtcDatetime | None
    warn_at: UtcDatetime | None


class Change(BaseModel):
    old: Any = Field(description="The value before (JSON; timestamps as RFC 3339).")
    new: Any = Field(description="The value after.")


class WorkOrderSnapshot(BaseModel):
    """The order as it is after the change."""

    id: uuid.UUID
    number: str
    title: str
    description: str | None
    category: str | None
    priority: Priority
    status: Status
    customer: CustomerData
    location: str | None
    reported_at: UtcDatetime
    appointment_start: UtcDatetime | None
    appointment_end: UtcDatetime | None
    assignee_id: uuid.UUID | None
    assignee: Named | None = Field(description="The assignee with their name; null if none.")
    team_id: uuid.UUID | None
    team: Named | None = Field(description="The team with its name; null if none.")
    warning_level: WarningLevel
    sla: list[Deadline] = Field(description="Every clock's deadline (the order's SLA summary).")
    responded_at: UtcDatetime | None
    arrived_at: UtcDatetime | None
    resolved_at: UtcDatetime | None
    closed_at: UtcDatetime | None
    cancelled_at: UtcDatetime | None
    resolution: str | None = Field(description="What was done (set by resolve).")
    version: int = Field(description="The order's version after the change (its ETag).")
    created_at: UtcDatetime
    updated_at: UtcDatetime


class WorkOrderEventData(BaseModel):
    """``data`` of every ``work_order.*`` event."""

    work_order: WorkOrderSnapshot
    action: Action | None = Field(
        description="The action that caused it; null on creation and on an edit (PATCH)."
    )
    previous_status: Status | None = Field(description="Before the change; null on creation.")
    actor: Actor
    reason: str | None = Field(
        default=None, description="The reason the action requires (hold, reopen, cancel)."
    )
    note: str | None = Field(default=None, description="The note sent with the action, if any.")
    changes: dict[str, Change] = Field(
        default_factory=dict,
        description="Field → {old, new} of what this change did (on creation: the initial "
        "status and assignee; on work_order.updated: every edited field).",
    )
    deadlines: list[Deadline] | None = Field(
        default=None,
        description="On an edit that re-planned the clocks (priority, category, appointment "
        "end): the new deadlines; null otherwise.",
    )


def _actor(actor: Principal) -> dict[str, Any]:
    return {
        "id": None if actor.key_id is None else str(actor.key_id),
        "name": actor.name,
        "role": actor.role.value,
    }


async def _named(
    session: AsyncSession,
    model: type[Staff] | type[Team],
    key: Any,
    loaded: Iterable[Staff | Team | None],
) -> Any:
    """``{id, name}``: from the rows the service loaded (create and assign check that the
    staff member and team exist, and keep them), else one primary-key lookup. The identity
    map alone is no help: it holds rows weakly and nobody else keeps them."""
    if key is None:
        return None
    found = next((r for r in loaded if isinstance(r, model) and r.id == key), None)
    if found is None:
        found = await session.get(model, key)
    return {"id": str(key), "name": found.name if found is not None else None}


async def _snapshot(
    session: AsyncSession,
    source: Mapping[str, Any] | WorkOrder,
    loaded: Iterable[Staff | Team | None] = (),
) -> dict[str, Any]:
    if isinstance(source, WorkOrder):
        raw: Mapping[str, Any] = {f: getattr(source, f) for f in _SNAPSHOT_FIELDS}
        values = {f: jsonable(v) for f, v in raw.items()}
        # Events are written before the service's flush, which bumps ``version``
        # (version_id_col): the payload carries the version the change commits with.
        if session.is_modified(source, include_collections=False):
            values["version"] += 1
    else:
        raw = source
        values = {f: jsonable(source[f]) for f in _SNAPSHOT_FIELDS}
    values["customer"] = customer_payload(values["customer"])
    # By the UUID (not its JSON string): the identity map is keyed on the real value.
    kept = list(loaded)
    values["assignee"] = await _named(session, Staff, raw["assignee_id"], kept)
    values["team"] = await _named(session, Team, raw["team_id"], kept)
    return values


def _row(type_: str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    subject = f"work_order:{data['work_order']['id']}"
    return events.row(type=type_, subject_key=subject, data=data, at=at)


def _data(
    snapshot: dict[str, Any],
    *,
    actor: Principal,
    action: Action | None,
    previous: Status | None,
    changes: Mapping[str, Any],
    reason: str | None = None,
    note: str | None = None,
    deadlines: list[Any] | None = None,
) -> dict[str, Any]:
    return {
        "work_order": snapshot,
        "action": action.value if action else None,
        "previous_status": previous.value if previous else None,
        "actor": _actor(actor),
        "reason": reason,
        "note": note,
        "changes": dict(changes),
        "deadlines": deadlines,
    }


async def created(
    session: AsyncSession,
    values: Mapping[str, Any],
    at: datetime,
    *,
    actor: Principal,
    changes: Mapping[str, Any],
    loaded: Iterable[Staff | Team | None] = (),
) -> None:
    snapshot = await _snapshot(session, values, loaded)
    data = _data(snapshot, actor=actor, action=None, previous=None, changes=changes)
    await events.emit_many(session, [_row(CREATED, data, at)])


async def updated(
    session: AsyncSession,
    wo: WorkOrder,
    at: datetime,
    *,
    actor: Principal,
    changes: Mapping[str, Any],
    replanned: bool,
) -> None:
    """``work_order.updated``: an edit (PATCH) with every changed field's old and new
    value, and the new deadlines when the edit re-planned the clocks."""
    snapshot = await _snapshot(session, wo)
    data = _data(
        snapshot,
        actor=actor,
        action=None,
        previous=wo.status,
        changes=changes,
        deadlines=snapshot["sla"] if replanned else None,
    )
    await events.emit_many(session, [_row(UPDATED, data, at)])


async def acted(
    session: AsyncSession,
    wo: WorkOrder,
    action: Action,
    previous: Status,
    at: datetime,
    *,
    actor: Principal,
    changes: Mapping[str, Any],
    reason: str | None = None,
    note: str | None = None,
    loaded: Iterable[Staff | Team | None] = (),
) -> None:
    """``assigned``, ``arrived``, ``status_changed``, then ``resolved``/``closed``, as
    they apply; all with the same data."""
    types: list[str] = []
    if action is Action.assign:
        types.append(ASSIGNED)
    if action is Action.arrive:
        types.append(ARRIVED)
    if wo.status != previous:
        types.append(STATUS_CHANGED)
    if action is Action.resolve:
        types.append(RESOLVED)
    elif action is Action.close:
        types.append(CLOSED)
    if not types:
        return
    snapshot = await _snapshot(session, wo, loaded)
    data = _data(
        snapshot,
        actor=actor,
        action=action,
        previous=previous,
        changes=changes,
        reason=reason,
        note=note,
    )
    await events.emit_many(session, [_row(t, data, at) for t in types])
