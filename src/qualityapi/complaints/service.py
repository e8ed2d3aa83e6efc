"""Complaint life cycle. Services flush and never commit: the request boundary does.

First-contact responsibility (首问负责制) is a rule here, not a field: ``received_by`` is
set at intake and never changes; the receiver owns the complaint until a handover to a
named person is accepted by that person.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from qualityapi.auth.principal import Principal
from qualityapi.common.jsonable import ChangeSet, jsonable
from qualityapi.complaints import events, frequency, repository
from qualityapi.complaints.models import (
    ActionStatus,
    Complaint,
    CorrectiveAction,
    ImprovementPlan,
    Severity,
)
from qualityapi.complaints.schemas import (
    AcceptHandoverBody,
    AssignBody,
    CallbackBody,
    ComplaintCreate,
    ComplaintNote,
    ComplaintRead,
    ComplaintUpdate,
    CorrectiveActionCreate,
    CorrectiveActionRead,
    CorrectiveActionUpdate,
    ExtendBody,
    HandoverBody,
    ImprovementPlanUpdate,
    ReasonBody,
    ResolveBody,
)
from qualityapi.complaints.sla import ADAPTER, facts_of
from qualityapi.complaints.states import (
    ACKNOWLEDGING,
    EVENT_TYPES,
    Action,
    Status,
    allowed_actions,
    next_status,
)
from qualityapi.db.base import new_id
from qualityapi.errors import Conflict, InvalidTransition, NotFound, Unprocessable
from qualityapi.sla import engine as sla
from qualityapi.sla import scanner
from qualityapi.sla.vocabulary import WarningLevel
from qualityapi.staff.service import ensure_staff_exists
from qualityapi.timeline import repository as timeline
from qualityapi.work_orders import repository as work_orders

SUBJECT = "complaint"
RECEIVED_AT_SKEW = timedelta(minutes=5)
# Resolving these needs a cause and a corrective action (major complaints get a cause
# analysis, 000 §3.3; general ones an explanation the report can count).
NEEDS_ANALYSIS = frozenset({Severity.general, Severity.major})

ActionBody = (
    ComplaintNote
    | AssignBody
    | HandoverBody
    | AcceptHandoverBody
    | ResolveBody
    | CallbackBody
    | ReasonBody
)


def format_number(year: int, seq: int) -> str:
    return f"CP-{year}-{seq:06d}"


def customer_key(customer: dict[str, Any]) -> str | None:
    """The same customer across complaints: the phone's digits, else the e-mail."""
    phone = "".join(ch for ch in str(customer.get("phone") or "") if ch.isdigit())
    if len(phone) >= 5:
        return f"phone:{phone}"
    email = str(customer.get("email") or "").strip().lower()
    return f"email:{email}" if email else None


def read(c: Complaint) -> ComplaintRead:
    return ComplaintRead.model_validate(c)


async def get(session: AsyncSession, complaint_id: uuid.UUID, *, lock: bool = False) -> Complaint:
    c = await repository.get(session, complaint_id, lock=lock)
    if c is None:
        raise NotFound(f"complaint {complaint_id} does not exist")
    return c


async def _ensure_work_order(session: AsyncSession, work_order_id: uuid.UUID | None) -> None:
    if work_order_id is not None and await work_orders.get_values(session, work_order_id) is None:
        raise Unprocessable(f"work_order_id: work order {work_order_id} does not exist")


async def create(
    session: AsyncSession,
    data: ComplaintCreate,
    *,
    actor: Principal,
    now: datetime,
    source_survey_id: uuid.UUID | None = None,
    owner_id: uuid.UUID | None = None,
) -> Complaint:
    """``owner_id`` only for an automatic intake (no ``received_by``): who owns it then."""
    received_at = data.received_at or now
    if received_at > now + RECEIVED_AT_SKEW:
        raise Unprocessable("received_at: lies in the future; send when it was received")
    await ensure_staff_exists(session, data.received_by, "received_by")
    await ensure_staff_exists(session, data.subject_staff_id, "subject_staff_id")
    await _ensure_work_order(session, data.work_order_id)
    seq = await repository.next_number(session, now.year)
    customer = data.customer.model_dump(mode="json", exclude_none=True)
    c = Complaint(
        id=new_id(),
        number=format_number(now.year, seq),
        channel=data.channel,
        severity=data.severity,
        category=data.category,
        customer=customer,
        customer_key=customer_key(customer),
        location=data.location,
        description=data.description,
        expected_outcome=data.expected_outcome,
        received_at=received_at,
        work_order_id=data.work_order_id,
        subject_staff_id=data.subject_staff_id,
        received_by=data.received_by,
        owner_id=data.received_by or owner_id,
        pending_owner_id=None,
        status=Status.received,
        source_survey_id=source_survey_id,
        warning_level=WarningLevel.none,
        sla=[],
        reopen_count=0,
        created_by=actor.name,
        created_at=now,
        updated_at=now,
    )
    derived = await sla.start(session, ADAPTER, facts_of(c), now)
    c.warning_level, c.sla = derived.level, derived.summary
    session.add(c)
    await session.flush()
    await timeline.add(
        session,
        subject_type=SUBJECT,
        subject_id=c.id,
        type="created",
        at=now,
        actor=actor,
        changes={
            "status": {"old": None, "new": c.status.value},
            "received_by": {"old": None, "new": jsonable(c.received_by)},
        },
    )
    await events.created(
        session,
        c,
        now,
        actor=actor,
        changes={
            "status": {"old": None, "new": c.status.value},
            "received_by": {"old": None, "new": jsonable(c.received_by)},
        },
    )
    if derived.due_now:
        settled = await scanner.settle(session, ADAPTER, c.id, now)
        # Written by the pass already: the object learns it without a second UPDATE.
        set_committed_value(c, "warning_level", settled.level)
        set_committed_value(c, "sla", settled.summary)
    await frequency.check(session, c, now)
    return c


async def update(
    session: AsyncSession, c: Complaint, data: ComplaintUpdate, *, actor: Principal, now: datetime
) -> Complaint:
    if c.status is Status.closed:
        # A closed complaint is the record of what was decided: editing its severity or
        # description would bypass the rules resolve applied. Reopen it to change it.
        raise InvalidTransition(
            action="update",
            status=c.status.value,
            allowed=[a.value for a in allowed_actions(c.facts)],
            subject="complaint",
        )
    fields = data.model_dump(exclude_unset=True)
    for required in ("severity", "customer", "description"):
        if required in fields and fields[required] is None:
            raise Unprocessable(f"{required}: may not be null")
    if "subject_staff_id" in fields:
        await ensure_staff_exists(session, data.subject_staff_id, "subject_staff_id")
    if "work_order_id" in fields:
        await _ensure_work_order(session, data.work_order_id)
    cs = ChangeSet(c)
    for field in fields:
        value = getattr(data, field)
        if field == "customer" and value is not None:
            value = value.model_dump(mode="json", exclude_none=True)
            cs.set("customer_key", customer_key(value))
        cs.set(field, value)
    if cs.changes:
        c.updated_at = now
        if set(cs.changes) & ADAPTER.replan_fields:
            sla.show(
                ADAPTER,
                c,
                await sla.replan(session, ADAPTER, facts_of(c), now, level=c.warning_level),
            )
        await timeline.add(
            session,
            subject_type=SUBJECT,
            subject_id=c.id,
            type="updated",
            at=now,
            actor=actor,
            changes={k: v for k, v in cs.changes.items() if k != "customer_key"},
        )
        await session.flush()
    return c


async def apply_action(
    session: AsyncSession,
    c: Complaint,
    action: Action,
    body: ActionBody | ExtendBody | None,
    *,
    actor: Principal,
    now: datetime,
) -> Complaint:
    current = c.facts
    target = next_status(action, current)
    if target is None:
        raise InvalidTransition(
            action=action.value,
            status=c.status.value,
            allowed=[a.value for a in allowed_actions(current)],
            subject="complaint",
        )
    previous = c.status
    cs = ChangeSet(c)
    note = getattr(body, "note", None)
    match body:
        case AssignBody():
            await ensure_staff_exists(session, body.owner_id, "owner_id", active=True)
            _check_not_the_subject(c, body.owner_id, "owner_id")
            cs.set("owner_id", body.owner_id)
            cs.set("pending_owner_id", None)
        case HandoverBody():
            await ensure_staff_exists(session, body.to_staff_id, "to_staff_id", active=True)
            if body.to_staff_id == c.owner_id:
                raise Conflict("the complaint is already owned by this person")
            _check_not_the_subject(c, body.to_staff_id, "to_staff_id")
            cs.set("pending_owner_id", body.to_staff_id)
        case AcceptHandoverBody():
            if body.staff_id != c.pending_owner_id:
                raise Conflict(
                    f"the handover was offered to {c.pending_owner_id}, not to {body.staff_id}: "
                    "only the named person can accept it"
                )
            cs.set("owner_id", body.staff_id)
            cs.set("pending_owner_id", None)
        case ResolveBody():
            _check_resolution(c, body, now)
            cs.set("resolution", body.resolution)
            cs.set("upheld", body.upheld)
            cs.set("root_cause", body.root_cause)
            cs.set("corrective_action", body.corrective_action)
            decision = body.decision.model_dump(mode="json")
            decision["at"] = jsonable(body.decision.at or now)
            cs.set("decision", decision)
            cs.set("resolved_at", now)
            if c.acknowledged_at is None:
                cs.set("acknowledged_at", now)
        case CallbackBody():
            cs.set(
                "callback",
                {
                    "result": body.result,
                    "accepted": body.accepted,
                    "attempts": body.attempts,
                    "note": body.note,
                    "at": jsonable(now),
                },
            )
        case ExtendBody():
            note = body.reason
        case ReasonBody():
            note = body.reason
    if action in ACKNOWLEDGING and c.acknowledged_at is None:
        cs.set("acknowledged_at", now)
    if action is Action.close:
        cs.set("closed_at", now)
    elif action is Action.reopen:
        for field in ("resolved_at", "closed_at", "callback", "decision", "upheld"):
            cs.set(field, None)
        cs.set("reopen_count", c.reopen_count + 1)
    cs.set("status", target)
    c.updated_at = now
    derived: sla.Derived | None = None
    if isinstance(body, ExtendBody):
        # Before the timeline entry, so that it says what the extension did.
        was = _due_of(c.sla, body.target)
        derived = await sla.extend(
            session,
            ADAPTER,
            facts_of(c),
            body.target,
            now,
            reason=body.reason,
            level=c.warning_level,
            new_due_at=body.new_due_at,
            working_days=body.working_days,
        )
        due = {"old": was, "new": _due_of(derived.summary, body.target)}
        cs.changes[f"{body.target}_due_at"] = due
    await timeline.add(
        session,
        subject_type=SUBJECT,
        subject_id=c.id,
        type=EVENT_TYPES[action],
        at=now,
        actor=actor,
        changes=cs.changes,
        note=note,
    )
    if derived is None:
        derived = await sla.act(
            session, ADAPTER, facts_of(c), action.value, now, level=c.warning_level
        )
    sla.show(ADAPTER, c, derived)
    await events.acted(session, c, action, previous, now, note, actor=actor, changes=cs.changes)
    await session.flush()
    return c


def _due_of(summary: list[dict[str, Any]] | None, target: str) -> Any:
    """A clock's deadline as the SLA summary shows it (RFC 3339 text), or None."""
    return next((c.get("due_at") for c in summary or () if c.get("target") == target), None)


def _check_not_the_subject(c: Complaint, staff_id: uuid.UUID, field: str) -> None:
    # 001: nobody handles a complaint about themselves; refused when it is given to them,
    # not only later when they try to resolve it.
    if c.subject_staff_id is not None and staff_id == c.subject_staff_id:
        raise Unprocessable(
            f"{field}: {staff_id} is the person this complaint is about; give it to someone else"
        )


def _check_resolution(c: Complaint, body: ResolveBody, now: datetime) -> None:
    if c.subject_staff_id is not None and c.owner_id == c.subject_staff_id:
        raise Conflict(
            "the owner is the person this complaint is about and may not resolve it: hand it "
            "over (or assign it) to someone else first"
        )
    if body.decision.at is not None and body.decision.at > now + RECEIVED_AT_SKEW:
        raise Unprocessable("decision.at: lies in the future; send when it was communicated")
    if c.severity in NEEDS_ANALYSIS:
        missing = [f for f in ("root_cause", "corrective_action") if not getattr(body, f)]
        if missing:
            why = f"required to resolve a {c.severity.value} complaint"
            raise Unprocessable(
                f"{', '.join(missing)}: {why}",
                # One entry per field, so a form marks each one.
                extra={
                    "errors": [
                        {"loc": ["body", f], "msg": why, "type": "value_error"} for f in missing
                    ]
                },
            )


# --- corrective actions ------------------------------------------------------------------------


def read_action(a: CorrectiveAction, now: datetime) -> CorrectiveActionRead:
    overdue = a.status == ActionStatus.open and a.due_at < now
    return CorrectiveActionRead.model_validate(a).model_copy(update={"overdue": overdue})


async def add_corrective_action(
    session: AsyncSession,
    c: Complaint,
    data: CorrectiveActionCreate,
    *,
    actor: Principal,
    now: datetime,
) -> CorrectiveAction:
    await ensure_staff_exists(session, data.owner_id, "owner_id")
    a = CorrectiveAction(
        complaint_id=c.id,
        description=data.description,
        owner_id=data.owner_id,
        due_at=data.due_at,
        status=ActionStatus.open,
        created_at=now,
        updated_at=now,
    )
    session.add(a)
    await session.flush()
    await timeline.add(
        session,
        subject_type=SUBJECT,
        subject_id=c.id,
        type="corrective_action_added",
        at=now,
        actor=actor,
        changes={"corrective_action_id": {"old": None, "new": str(a.id)}},
        note=data.description[:500],
    )
    return a


async def update_corrective_action(
    session: AsyncSession,
    a: CorrectiveAction,
    data: CorrectiveActionUpdate,
    *,
    actor: Principal,
    now: datetime,
) -> CorrectiveAction:
    fields = data.model_dump(exclude_unset=True)
    for required in ("description", "owner_id", "due_at", "status"):
        if required in fields and fields[required] is None:
            raise Unprocessable(f"{required}: may not be null")
    if "owner_id" in fields:
        await ensure_staff_exists(session, data.owner_id, "owner_id")
    checked = data.status in (ActionStatus.effective, ActionStatus.ineffective)
    if checked and not (data.check_note or a.check_note):
        raise Unprocessable("check_note: say what the effectiveness check found")
    cs = ChangeSet(a)
    for field in fields:
        cs.set(field, getattr(data, field))
    if data.status is ActionStatus.done and a.done_at is None:
        cs.set("done_at", now)
    if checked:
        cs.set("checked_at", now)
    if cs.changes:
        a.updated_at = now
        await timeline.add(
            session,
            subject_type=SUBJECT,
            subject_id=a.complaint_id,
            type="corrective_action_updated",
            at=now,
            actor=actor,
            changes={"corrective_action_id": {"old": None, "new": str(a.id)}, **cs.changes},
        )
        await session.flush()
    return a


async def update_plan(
    session: AsyncSession, plan: ImprovementPlan, data: ImprovementPlanUpdate, *, now: datetime
) -> ImprovementPlan:
    fields = data.model_dump(exclude_unset=True)
    if "status" in fields and fields["status"] is None:
        raise Unprocessable("status: may not be null")
    if "owner_id" in fields:
        await ensure_staff_exists(session, data.owner_id, "owner_id")
    for field in fields:
        setattr(plan, field, getattr(data, field))
    if fields:
        plan.updated_at = now
        await session.flush()
    return plan
