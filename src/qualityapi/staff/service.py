"""Teams, staff and their service error records. Every change is audited; references are
checked so a 422 names the bad id. The retraining rule (001 §4.1, README "Staff quality
records"): the threshold-th non-voided record within the rolling window flags the person."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.audit import repository as audit
from qualityapi.auth.principal import SYSTEM_PRINCIPAL, Principal
from qualityapi.common.concurrency import check_if_match
from qualityapi.common.jsonable import jsonable
from qualityapi.config import Settings
from qualityapi.errors import Conflict, NotFound, Unprocessable
from qualityapi.events import repository as events
from qualityapi.staff import repository
from qualityapi.staff.models import ErrorRecord, ErrorSource, Staff, Team
from qualityapi.staff.schemas import (
    RETRAINING_REQUIRED,
    ErrorRecordCreate,
    ErrorRecordRead,
    ErrorRecordSummary,
    RetrainingRequiredData,
    StaffCreate,
    StaffRead,
    StaffSummary,
    StaffUpdate,
    TeamCreate,
    TeamRead,
    TeamUpdate,
)
from qualityapi.timeline import repository as timeline

log = structlog.get_logger("qualityapi.staff")

# The timeline's subject type for a staff member (GET /v1/staff/{id}/events).
SUBJECT = "staff"


async def get_team(session: AsyncSession, team_id: uuid.UUID) -> Team:
    team = await repository.get_team(session, team_id)
    if team is None:
        raise NotFound(f"team {team_id} does not exist")
    return team


async def get_staff(session: AsyncSession, staff_id: uuid.UUID) -> Staff:
    staff = await repository.get_staff(session, staff_id)
    if staff is None:
        raise NotFound(f"staff member {staff_id} does not exist")
    return staff


async def ensure_staff_exists(
    session: AsyncSession, staff_id: uuid.UUID | None, field: str, *, active: bool = False
) -> Staff | None:
    """The staff member (None for no id); 422 naming ``field`` when there is none, or with
    ``active`` when they are inactive (work is given only to someone who is there; a
    complaint may still name, or be received by, someone who has left). Callers may keep
    it: events show the name without another query."""
    if staff_id is None:
        return None
    staff = await repository.get_staff(session, staff_id)
    if staff is None:
        raise Unprocessable(f"{field}: staff member {staff_id} does not exist")
    if active and not staff.active:
        raise Unprocessable(f"{field}: {staff.name} is inactive; give the work to someone active")
    return staff


async def ensure_team_exists(
    session: AsyncSession, team_id: uuid.UUID | None, field: str
) -> Team | None:
    """The team (None for no id); 422 naming ``field`` when there is none."""
    if team_id is None:
        return None
    team = await repository.get_team(session, team_id)
    if team is None:
        raise Unprocessable(f"{field}: team {team_id} does not exist")
    return team


async def _ensure_unique_name(session: AsyncSession, name: str, own_id: uuid.UUID | None) -> None:
    other = await repository.get_team_by_name(session, name)
    if other is not None and other.id != own_id:
        raise Conflict(f"a team named '{name}' already exists")


async def create_team(
    session: AsyncSession, data: TeamCreate, *, actor: Principal, at: datetime
) -> Team:
    await _ensure_unique_name(session, data.name, None)
    await ensure_staff_exists(session, data.supervisor_id, "supervisor_id")
    await ensure_staff_exists(session, data.manager_id, "manager_id")
    team = Team(**data.model_dump(), created_at=at, updated_at=at)
    session.add(team)
    await session.flush()
    after = TeamRead.model_validate(team).model_dump(mode="json")
    audit.record(
        session,
        actor=actor,
        at=at,
        action="team.created",
        resource_type="team",
        resource_id=team.id,
        before=None,
        after=after,
    )
    return team


async def update_team(
    session: AsyncSession, team: Team, data: TeamUpdate, *, actor: Principal, at: datetime
) -> Team:
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes:
        if changes["name"] is None:
            raise Unprocessable("name: may not be null")
        await _ensure_unique_name(session, changes["name"], team.id)
    await ensure_staff_exists(session, changes.get("supervisor_id"), "supervisor_id")
    await ensure_staff_exists(session, changes.get("manager_id"), "manager_id")
    before = TeamRead.model_validate(team).model_dump(mode="json")
    for field, value in changes.items():
        setattr(team, field, value)
    team.updated_at = at
    await session.flush()
    after = TeamRead.model_validate(team).model_dump(mode="json")
    audit.record(
        session,
        actor=actor,
        at=at,
        action="team.updated",
        resource_type="team",
        resource_id=team.id,
        before=before,
        after=after,
    )
    return team


async def create_staff(
    session: AsyncSession, data: StaffCreate, *, actor: Principal, at: datetime
) -> Staff:
    await ensure_team_exists(session, data.team_id, "team_id")
    staff = Staff(**data.model_dump(), created_at=at, updated_at=at)
    session.add(staff)
    await session.flush()
    after = StaffRead.model_validate(staff).model_dump(mode="json")
    audit.record(
        session,
        actor=actor,
        at=at,
        action="staff.created",
        resource_type="staff",
        resource_id=staff.id,
        before=None,
        after=after,
    )
    return staff


async def update_staff(
    session: AsyncSession, staff: Staff, data: StaffUpdate, *, actor: Principal, at: datetime
) -> Staff:
    changes = data.model_dump(exclude_unset=True)
    for required in ("name", "active"):
        if required in changes and changes[required] is None:
            raise Unprocessable(f"{required}: may not be null")
    await ensure_team_exists(session, changes.get("team_id"), "team_id")
    before = StaffRead.model_validate(staff).model_dump(mode="json")
    for field, value in changes.items():
        setattr(staff, field, value)
    staff.updated_at = at
    await session.flush()
    after = StaffRead.model_validate(staff).model_dump(mode="json")
    audit.record(
        session,
        actor=actor,
        at=at,
        action="staff.updated",
        resource_type="staff",
        resource_id=staff.id,
        before=before,
        after=after,
    )
    return staff


# --- service error records and the retraining flag (001 §4.1) ---------------------------


@dataclass(frozen=True)
class QualityRules:
    """The retraining rule and the automatic sources, from the settings."""

    threshold: int = 3
    window: timedelta = timedelta(days=90)
    from_breach: bool = False
    from_complaint: bool = False

    @classmethod
    def of(cls, settings: Settings) -> QualityRules:
        return cls(
            threshold=settings.staff_retraining_threshold,
            window=timedelta(days=settings.staff_retraining_window_days),
            from_breach=settings.staff_error_from_breach,
            from_complaint=settings.staff_error_from_complaint,
        )


def _record_json(record: ErrorRecord) -> dict[str, Any]:
    return ErrorRecordRead.model_validate(record).model_dump(mode="json")


async def get_error_record(
    session: AsyncSession, staff_id: uuid.UUID, record_id: uuid.UUID
) -> ErrorRecord:
    await get_staff(session, staff_id)
    record = await repository.get_error_record(session, staff_id, record_id)
    if record is None:
        raise NotFound(f"error record {record_id} of staff member {staff_id} does not exist")
    return record


async def _locked_staff(session: AsyncSession, staff_id: uuid.UUID) -> Staff:
    staff = await repository.lock_staff(session, staff_id)
    if staff is None:
        raise NotFound(f"staff member {staff_id} does not exist")
    return staff


async def create_error_record(
    session: AsyncSession,
    staff_id: uuid.UUID,
    data: ErrorRecordCreate,
    *,
    actor: Principal,
    at: datetime,
    rules: QualityRules,
) -> ErrorRecord:
    staff = await _locked_staff(session, staff_id)
    occurred_at = data.occurred_at or at
    if occurred_at > at:
        raise Unprocessable("occurred_at: lies in the future; send when the error happened")
    await ensure_staff_exists(session, data.recorded_by, "recorded_by")
    record = ErrorRecord(
        staff_id=staff.id,
        **data.model_dump(exclude={"occurred_at"}),
        occurred_at=occurred_at,
        created_by=actor.name,
        created_at=at,
    )
    session.add(record)
    await session.flush()
    await _recorded(session, staff, record, actor=actor, at=at, rules=rules)
    audit.record(
        session,
        actor=actor,
        at=at,
        action="staff.error_recorded",
        resource_type="staff_error_record",
        resource_id=record.id,
        before=None,
        after=_record_json(record),
    )
    return record


async def _recorded(
    session: AsyncSession,
    staff: Staff,
    record: ErrorRecord,
    *,
    actor: Principal,
    at: datetime,
    rules: QualityRules,
) -> None:
    """The new record on the person's timeline, then the rule."""
    await timeline.add(
        session,
        subject_type=SUBJECT,
        subject_id=staff.id,
        type="error_recorded",
        at=at,
        actor=actor,
        changes={"error_record_id": {"old": None, "new": str(record.id)}},
        note=f"{record.source.value}: {record.category}",
    )
    if not staff.retraining_required:
        await _raise_if_reached(session, staff, actor=actor, at=at, rules=rules)


async def _counted(
    session: AsyncSession, staff: Staff, at: datetime, rules: QualityRules
) -> list[ErrorRecord]:
    # The rolling window ends now (the injected clock) and counts occurred_at; what
    # occurred before the last clearing was dealt with by that retraining.
    after = at - rules.window
    if staff.retraining_cleared_at is not None and staff.retraining_cleared_at > after:
        after = staff.retraining_cleared_at
    return list(await repository.counted_error_records(session, staff.id, after=after, until=at))


async def _raise_if_reached(
    session: AsyncSession, staff: Staff, *, actor: Principal, at: datetime, rules: QualityRules
) -> None:
    counted = await _counted(session, staff, at, rules)
    if len(counted) < rules.threshold:
        return
    ids = [str(r.id) for r in counted]
    staff.retraining_required = True
    staff.retraining_required_since = at
    staff.retraining_record_ids = ids
    staff.updated_at = at
    await session.flush()
    days = rules.window.days
    await timeline.add(
        session,
        subject_type=SUBJECT,
        subject_id=staff.id,
        type="retraining_required",
        at=at,
        actor=actor,
        changes={"retraining_required": {"old": False, "new": True}},
        note=f"{len(counted)} error records within {days} days (rule: {rules.threshold})",
    )
    data = RetrainingRequiredData(
        staff=StaffSummary(id=staff.id, name=staff.name, team_id=staff.team_id),
        retraining_required_since=at,
        threshold=rules.threshold,
        window_days=days,
        records=[ErrorRecordSummary.model_validate(r, from_attributes=True) for r in counted],
    )
    message = events.row(
        type=RETRAINING_REQUIRED,
        subject_key=f"{SUBJECT}:{staff.id}",
        data=data.model_dump(mode="json"),
        at=at,
    )
    await events.emit_many(session, [message])


async def void_error_record(
    session: AsyncSession,
    staff_id: uuid.UUID,
    record_id: uuid.UUID,
    reason: str,
    *,
    if_match: str | None,
    actor: Principal,
    at: datetime,
    rules: QualityRules,
) -> ErrorRecord:
    staff = await _locked_staff(session, staff_id)
    record = await get_error_record(session, staff_id, record_id)
    check_if_match(if_match, record.version)
    if record.voided:
        raise Conflict(
            f"error record {record_id} was already voided at {jsonable(record.voided_at)}"
        )
    before = _record_json(record)
    record.voided_at, record.voided_by, record.void_reason = at, actor.name, reason
    await session.flush()
    await timeline.add(
        session,
        subject_type=SUBJECT,
        subject_id=staff.id,
        type="error_record_voided",
        at=at,
        actor=actor,
        changes={"error_record_id": {"old": str(record.id), "new": None}},
        note=reason,
    )
    if staff.retraining_required and str(record.id) in staff.retraining_record_ids:
        await _recount_after_void(session, staff, actor=actor, at=at, rules=rules)
    audit.record(
        session,
        actor=actor,
        at=at,
        action="staff.error_record_voided",
        resource_type="staff_error_record",
        resource_id=record.id,
        before=before,
        after=_record_json(record),
    )
    return record


async def _recount_after_void(
    session: AsyncSession, staff: Staff, *, actor: Principal, at: datetime, rules: QualityRules
) -> None:
    """A flag raised by a record made in error stands only if the rule is still reached."""
    counted = await _counted(session, staff, at, rules)
    staff.updated_at = at
    if len(counted) >= rules.threshold:
        staff.retraining_record_ids = [str(r.id) for r in counted]
        await session.flush()
        return
    staff.retraining_required = False
    staff.retraining_required_since = None
    staff.retraining_record_ids = []
    await session.flush()
    await timeline.add(
        session,
        subject_type=SUBJECT,
        subject_id=staff.id,
        type="retraining_withdrawn",
        at=at,
        actor=actor,
        changes={"retraining_required": {"old": True, "new": False}},
        note=f"a record was voided: {len(counted)} left within {rules.window.days} days",
    )


async def clear_retraining(
    session: AsyncSession,
    staff_id: uuid.UUID,
    note: str,
    *,
    if_match: str | None,
    actor: Principal,
    at: datetime,
) -> Staff:
    staff = await _locked_staff(session, staff_id)
    check_if_match(if_match, staff.version)
    if not staff.retraining_required:
        raise Conflict(f"staff member {staff_id} is not flagged retraining_required")
    before = StaffRead.model_validate(staff).model_dump(mode="json")
    staff.retraining_required = False
    staff.retraining_required_since = None
    staff.retraining_record_ids = []
    staff.retraining_cleared_at = at
    staff.updated_at = at
    await session.flush()
    await timeline.add(
        session,
        subject_type=SUBJECT,
        subject_id=staff.id,
        type="retraining_cleared",
        at=at,
        actor=actor,
        changes={"retraining_required": {"old": True, "new": False}},
        note=note,
    )
    audit.record(
        session,
        actor=actor,
        at=at,
        action="staff.retraining_cleared",
        resource_type="staff",
        resource_id=staff.id,
        before=before,
        after=StaffRead.model_validate(staff).model_dump(mode="json"),
    )
    return staff


# --- automatic records: reactions to other domains' events (events.reactions) -----------
#
# They run inside the transaction that emitted the event (the SLA scanner's pass, the
# complaint's resolution), so each is a handful of statements, in a savepoint: a failure
# here is logged and never undoes the breach or the resolution that caused it.

_rules = [QualityRules()]


def configure(rules: QualityRules) -> None:
    """The rules the reactions apply. Reactions are registered process-wide; the last
    ``create_app`` configures them (one app per process; tests build one at a time)."""
    _rules[0] = rules


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value is not None else None
    except ValueError:
        return None


def _instant(value: object, fallback: datetime) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value)) if value is not None else fallback
    except ValueError:
        return fallback
    # Never later than the event itself, and never naive.
    return fallback if parsed.tzinfo is None or parsed > fallback else parsed


async def _record_automatic(
    session: AsyncSession,
    staff_id: uuid.UUID,
    *,
    values: dict[str, Any],
    at: datetime,
    rules: QualityRules,
) -> None:
    try:
        async with session.begin_nested():
            staff = await repository.lock_staff(session, staff_id)
            if staff is None:
                return
            record = await repository.insert_error_record_once(
                session,
                {
                    **values,
                    "staff_id": staff_id,
                    "created_by": SYSTEM_PRINCIPAL.name,
                    "created_at": at,
                },
            )
            if record is not None:
                await _recorded(session, staff, record, actor=SYSTEM_PRINCIPAL, at=at, rules=rules)
    except Exception:
        log.exception(
            "staff_error_record_failed", staff_id=str(staff_id), cause=values["dedupe_key"]
        )


async def record_from_breach(
    session: AsyncSession, payload: Mapping[str, Any], at: datetime
) -> None:
    """``sla.breached``: an error for whoever answered for the subject, once per clock."""
    rules = _rules[0]
    data = _mapping(payload.get("data"))
    staff_id = _uuid(data.get("assignee_id"))
    clock_id = _uuid(data.get("clock_id"))
    if not rules.from_breach or staff_id is None or clock_id is None:
        return
    subject = _mapping(data.get("subject"))
    label = subject.get("number") or subject.get("id")
    values = {
        "occurred_at": _instant(data.get("due_at"), at),
        "category": "sla_breach",
        "description": f"{subject.get('type')} {label}: the {data.get('target')} deadline passed",
        "source": ErrorSource.sla_breach,
        "source_type": str(subject.get("type") or "")[:30] or None,
        "source_id": _uuid(subject.get("id")),
        "dedupe_key": f"sla_breach:{clock_id}",
    }
    await _record_automatic(session, staff_id, values=values, at=at, rules=rules)


async def record_from_complaint(
    session: AsyncSession, payload: Mapping[str, Any], at: datetime
) -> None:
    """``complaint.status_changed`` resolving as upheld: an error for the person complained
    about, once per complaint."""
    rules = _rules[0]
    data = _mapping(payload.get("data"))
    complaint = _mapping(data.get("complaint"))
    staff_id = _uuid(complaint.get("subject_staff_id"))
    complaint_id = _uuid(complaint.get("id"))
    if (
        not rules.from_complaint
        or data.get("action") != "resolve"
        or complaint.get("upheld") is not True
        or staff_id is None
        or complaint_id is None
    ):
        return
    values = {
        "occurred_at": _instant(complaint.get("received_at"), at),
        "category": str(complaint.get("category") or "complaint")[:100],
        "description": f"upheld complaint {complaint.get('number') or complaint_id}",
        "source": ErrorSource.complaint,
        "source_type": "complaint",
        "source_id": complaint_id,
        "dedupe_key": f"complaint:{complaint_id}",
    }
    await _record_automatic(session, staff_id, values=values, at=at, rules=rules)
