"""Work-order life cycle. Services flush and never commit: the request boundary does."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.auth.principal import Principal
from qualityapi.common.jsonable import ChangeSet
from qualityapi.db.base import new_id
from qualityapi.errors import InvalidTransition, NotFound, Unprocessable
from qualityapi.sla import engine as sla
from qualityapi.sla import scanner
from qualityapi.sla.vocabulary import WarningLevel
from qualityapi.staff.service import ensure_staff_exists, ensure_team_exists
from qualityapi.timeline import repository as timeline
from qualityapi.work_orders import events, repository
from qualityapi.work_orders.models import WorkOrder
from qualityapi.work_orders.schemas import (
    ActionNote,
    AssignAction,
    ReasonAction,
    ResolveAction,
    WorkOrderCreate,
    WorkOrderRead,
    WorkOrderUpdate,
)
from qualityapi.work_orders.sla import ADAPTER, facts_of
from qualityapi.work_orders.states import (
    EVENT_TYPES,
    Action,
    Facts,
    Status,
    allowed_actions,
    next_status,
)

SUBJECT = "work_order"
# Clients' clocks drift; a report time a little ahead of ours is still "now".
REPORTED_AT_SKEW = timedelta(minutes=5)

ActionBody = ActionNote | AssignAction | ReasonAction | ResolveAction


def format_number(year: int, seq: int) -> str:
    return f"WO-{year}-{seq:06d}"


async def get(session: AsyncSession, work_order_id: uuid.UUID, *, lock: bool = False) -> WorkOrder:
    """``lock`` before a change that writes events (``repository.get``)."""
    wo = await repository.get(session, work_order_id, lock=lock)
    if wo is None:
        raise NotFound(f"work order {work_order_id} does not exist")
    return wo


def _check_reported_at(reported_at: datetime, now: datetime) -> None:
    if reported_at > now + REPORTED_AT_SKEW:
        raise Unprocessable("reported_at: lies in the future; send when the customer reported it")


async def create(
    session: AsyncSession, data: WorkOrderCreate, *, actor: Principal, now: datetime
) -> dict[str, Any]:
    """Inserts the order and its first timeline entry; returns the row as a dict."""
    reported_at = data.reported_at or now
    _check_reported_at(reported_at, now)
    # Kept: the created event names them without another query.
    loaded = [
        await ensure_staff_exists(session, data.assignee_id, "assignee_id", active=True),
        await ensure_team_exists(session, data.team_id, "team_id"),
    ]
    status = Status.assigned if data.assignee_id else Status.open
    # Numbers are per UTC year.
    seq = await repository.next_number(session, "WO", now.year)
    values: dict[str, Any] = {
        "id": new_id(),
        "number": format_number(now.year, seq),
        "title": data.title,
        "description": data.description,
        "category": data.category,
        "priority": data.priority,
        "status": status,
        "customer": data.customer.model_dump(mode="json", exclude_none=True),
        "location": data.location,
        "reported_at": reported_at,
        "appointment_start": data.appointment_start,
        "appointment_end": data.appointment_end,
        "assignee_id": data.assignee_id,
        "team_id": data.team_id,
        "warning_level": WarningLevel.none,
        "sla": [],
        "responded_at": None,
        "arrived_at": None,
        "resolved_at": None,
        "closed_at": None,
        "cancelled_at": None,
        "held_from": None,
        "resolution": None,
        "reopen_count": 0,
        "first_assignee_id": data.assignee_id,
        "assignments": 1 if data.assignee_id else 0,
        "created_by": actor.name,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    derived = await sla.start(session, ADAPTER, facts_of(values), now)
    values["warning_level"], values["sla"] = derived.level, derived.summary
    await repository.insert_values(session, values)
    changes: dict[str, Any] = {"status": {"old": None, "new": status.value}}
    if data.assignee_id:
        changes["assignee_id"] = {"old": None, "new": str(data.assignee_id)}
    await timeline.add(
        session,
        subject_type=SUBJECT,
        subject_id=values["id"],
        type="created",
        at=now,
        actor=actor,
        changes=changes,
    )
    await events.created(session, values, now, actor=actor, changes=changes, loaded=loaded)
    if derived.due_now:
        settled = await scanner.settle(session, ADAPTER, values["id"], now)
        values["warning_level"], values["sla"] = settled.level, settled.summary
    return values


async def get_values(session: AsyncSession, work_order_id: uuid.UUID) -> dict[str, Any]:
    values = await repository.get_values(session, work_order_id)
    if values is None:
        raise NotFound(f"work order {work_order_id} does not exist")
    return values


def read_values(values: dict[str, Any]) -> WorkOrderRead:
    facts = Facts(values["status"], values["arrived_at"], values["held_from"])
    return WorkOrderRead.model_validate({**values, "allowed_actions": allowed_actions(facts)})


async def update(
    session: AsyncSession, wo: WorkOrder, data: WorkOrderUpdate, *, actor: Principal, now: datetime
) -> WorkOrder:
    fields = data.model_dump(exclude_unset=True)
    for required in ("title", "priority", "customer", "reported_at"):
        if required in fields and fields[required] is None:
            raise Unprocessable(f"{required}: may not be null")
    if data.reported_at is not None:
        _check_reported_at(data.reported_at, now)
    start = fields.get("appointment_start", wo.appointment_start)
    end = fields.get("appointment_end", wo.appointment_end)
    if start is not None and end is not None and end <= start:
        raise Unprocessable("appointment_end: must be after appointment_start")
    cs = ChangeSet(wo)
    for field in fields:
        value = getattr(data, field)
        if field == "customer" and value is not None:
            value = value.model_dump(mode="json", exclude_none=True)
        cs.set(field, value)
    if cs.changes:
        wo.updated_at = now
        replanned = bool(set(cs.changes) & ADAPTER.replan_fields)
        if replanned:
            derived = await sla.replan(session, ADAPTER, facts_of(wo), now, level=wo.warning_level)
            sla.show(ADAPTER, wo, derived)
        await timeline.add(
            session,
            subject_type=SUBJECT,
            subject_id=wo.id,
            type="updated",
            at=now,
            actor=actor,
            changes=cs.changes,
        )
        await events.updated(session, wo, now, actor=actor, changes=cs.changes, replanned=replanned)
        await session.flush()
    return wo


def _record_first_contact(wo: WorkOrder, body: ActionBody | None) -> None:
    """Who had the order first and how many people it was given to: what first-contact
    resolution needs (reports/). Set once, never reset; kept off the timeline, whose
    entries already say the same. Runs before the action changes the assignee."""
    if isinstance(body, AssignAction) and body.assignee_id != wo.assignee_id:
        wo.assignments += 1
        if wo.first_assignee_id is None:
            wo.first_assignee_id = body.assignee_id


async def apply_action(
    session: AsyncSession,
    wo: WorkOrder,
    action: Action,
    body: ActionBody | None,
    *,
    actor: Principal,
    now: datetime,
) -> WorkOrder:
    target = next_status(action, wo.facts)
    if target is None:
        raise InvalidTransition(
            action=action.value,
            status=wo.status.value,
            allowed=[a.value for a in wo.allowed_actions],
        )
    previous = wo.status
    _record_first_contact(wo, body)
    cs = ChangeSet(wo)
    note: str | None = None
    reason: str | None = None
    loaded: list[Any] = []
    match body:
        case AssignAction():
            loaded.append(
                await ensure_staff_exists(session, body.assignee_id, "assignee_id", active=True)
            )
            loaded.append(await ensure_team_exists(session, body.team_id, "team_id"))
            cs.set("assignee_id", body.assignee_id)
            if body.team_id is not None:
                cs.set("team_id", body.team_id)
            note = body.note
        case ReasonAction():
            note = reason = body.reason
        case ResolveAction():
            cs.set("resolution", body.resolution)
            note = body.note
        case ActionNote():
            note = body.note
    if action is Action.respond:
        cs.set("responded_at", now)
    elif action is Action.arrive:
        cs.set("arrived_at", now)
    elif action is Action.hold:
        cs.set("held_from", wo.status)
    elif action is Action.resume:
        cs.set("held_from", None)
    elif action is Action.resolve:
        cs.set("resolved_at", now)
    elif action is Action.close:
        cs.set("closed_at", now)
    elif action is Action.reopen:
        cs.set("resolved_at", None)
        cs.set("closed_at", None)
        cs.set("reopen_count", wo.reopen_count + 1)
    elif action is Action.cancel:
        cs.set("cancelled_at", now)
    cs.set("status", target)
    wo.updated_at = now
    await timeline.add(
        session,
        subject_type=SUBJECT,
        subject_id=wo.id,
        type=EVENT_TYPES[action],
        at=now,
        actor=actor,
        changes=cs.changes,
        note=note,
    )
    derived = await sla.act(
        session, ADAPTER, facts_of(wo), action.value, now, level=wo.warning_level
    )
    sla.show(ADAPTER, wo, derived)
    await events.acted(
        session,
        wo,
        action,
        previous,
        now,
        actor=actor,
        changes=cs.changes,
        reason=reason,
        note=None if reason is not None else note,
        loaded=loaded,
    )
    # Always a version bump: an action is a write even when it changed no column value.
    await session.flush()
    return wo
