"""SLA clocks of a subject: start, meet, pause, resume, restart, re-plan, cancel.

Rules (documented for users in the README):
- Clocks start at the subject's start (a work order's ``reported_at``), one per target of
  the matching policy.
- A hold pauses every running clock; the working time used so far is kept, and resume
  re-plans the deadline from the remaining working time. A clock already breached keeps
  escalating: a missed deadline stays missed.
- A change of priority or category re-matches the policy and re-plans each clock from
  the working time it has already used (measured on its calendar); a target the new policy
  lacks is cancelled, a new one starts from the subject's start. Editing a policy or a
  calendar re-plans that policy's running clocks the same way.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.common.jsonable import jsonable
from qualityapi.db.base import new_id, table_of
from qualityapi.sla import calendars, compiled, repository, signals
from qualityapi.sla.calendar import working_seconds_between
from qualityapi.sla.clockwork import ON_TRACK, next_check, plan_remaining, used_seconds
from qualityapi.sla.deadlines import AppointmentEndTarget, due_at, warn_at
from qualityapi.sla.models import ClockState, SlaClock, SlaPolicy, Subject
from qualityapi.sla.schemas import ClockRead, EscalationLevel, SubjectSlaRead

_clocks = table_of(SlaClock)
OPEN_STATES = (ClockState.running, ClockState.paused, ClockState.breached)


def ladder_of(policy: SlaPolicy | None) -> list[timedelta]:
    if policy is None:
        return []
    return [EscalationLevel.model_validate(level).after for level in policy.escalation]


def is_open(clock: SlaClock) -> bool:
    return clock.met_at is None and clock.state in OPEN_STATES


def level_of(clocks: list[SlaClock]) -> str:
    """The subject's warning level: red > yellow > blue > none."""
    open_clocks = [c for c in clocks if is_open(c)]
    if any(c.stage >= 2 for c in open_clocks):
        return "red"
    if any(c.stage == 1 for c in open_clocks):
        return "yellow"
    return "blue" if open_clocks else "none"


async def start(
    session: AsyncSession,
    *,
    subject: Subject,
    subject_id: uuid.UUID,
    priority: str | None,
    category: str | None,
    started_at: datetime,
    appointment_end: datetime | None,
    now: datetime,
    only: set[str] | None = None,
) -> list[SlaClock]:
    # The compiled (cached) policies: starting clocks costs no query but the inserts.
    policy = await compiled.match(session, subject, priority=priority, category=category)
    if policy is None:
        return []
    window = policy.window
    ladder = policy.ladder
    created = []
    for name, (target, calendar_id, _) in policy.targets.items():
        if only is not None and name not in only:
            continue
        due = due_at(target, started_at, appointment_end=appointment_end)
        warn = warn_at(target, started_at, due, window) if due else None
        clock = SlaClock(
            id=new_id(),
            subject_type=subject.value,
            subject_id=subject_id,
            target=name,
            policy_id=policy.id,
            calendar_id=calendar_id,
            state=ClockState.running,
            cycle=1,
            started_at=started_at,
            due_at=due,
            warn_at=warn,
            target_seconds=working_seconds_between(target.calendar, started_at, due)
            if due
            else None,
            elapsed_seconds=0.0,
            segment_started_at=started_at,
            paused_segments=[],
            stage=ON_TRACK,
            next_check_at=next_check(ON_TRACK, warn_at=warn, due_at=due, ladder=ladder),
            created_at=now,
            updated_at=now,
        )
        created.append(clock)
    if created:
        # A plain INSERT of all of them: the ORM's unit of work is the dearer part of a
        # create. The returned objects are not in the session; callers only read them.
        await session.execute(
            insert(_clocks),
            [{c.key: getattr(clock, c.key) for c in _clocks.c} for clock in created],
        )
        signals.CLOCK_CHANGED.after_commit(session)
    return created


def meet(clock: SlaClock, now: datetime) -> None:
    if not is_open(clock):
        return
    clock.met_at = now
    if clock.state != ClockState.breached:
        clock.state = ClockState.met
    clock.next_check_at = None
    clock.segment_started_at = None
    clock.updated_at = now


def cancel(clock: SlaClock, now: datetime) -> None:
    if not is_open(clock):
        return
    clock.state = ClockState.cancelled
    clock.next_check_at = None
    clock.segment_started_at = None
    clock.updated_at = now


async def pause(session: AsyncSession, clock: SlaClock, now: datetime) -> None:
    if clock.state != ClockState.running:
        return
    cal = calendars.business_calendar(await calendars.get(session, clock.calendar_id))
    clock.elapsed_seconds += used_seconds(cal, clock.segment_started_at, now)
    clock.segment_started_at = None
    clock.state = ClockState.paused
    clock.next_check_at = None
    clock.paused_segments = [*clock.paused_segments, {"from": jsonable(now), "to": None}]
    clock.updated_at = now


async def replan(
    session: AsyncSession,
    clock: SlaClock,
    policy: SlaPolicy,
    now: datetime,
    *,
    resume: bool = False,
    appointment_end: datetime | None = None,
) -> None:
    """Re-plan from the working time already used, on the policy's current target."""
    resolved = await compiled.resolve_targets(session, policy)
    if clock.target not in resolved:
        cancel(clock, now)
        return
    target, calendar_id, _ = resolved[clock.target]
    if clock.state != ClockState.running and not (clock.state == ClockState.paused and resume):
        return  # breached stays breached; a paused clock is re-planned when it resumes
    if clock.state == ClockState.running:
        old = calendars.business_calendar(await calendars.get(session, clock.calendar_id))
        clock.elapsed_seconds += used_seconds(old, clock.segment_started_at, now)
    if isinstance(target, AppointmentEndTarget) and appointment_end is None:
        return  # follows the subject's appointment, which this caller does not know
    original_due = due_at(target, clock.started_at, appointment_end=appointment_end)
    clock.policy_id = policy.id
    clock.calendar_id = calendar_id
    if original_due is None:  # appointment targets follow the appointment, not the clock
        clock.due_at = clock.warn_at = None
        clock.next_check_at = None
    else:
        clock.target_seconds = working_seconds_between(
            target.calendar, clock.started_at, original_due
        )
        plan = plan_remaining(
            target.calendar,
            now=now,
            target_seconds=clock.target_seconds,
            elapsed_seconds=clock.elapsed_seconds,
            window=compiled.warning_window(policy),
        )
        clock.due_at, clock.warn_at = plan.due_at, plan.warn_at
        if clock.stage < 2:
            clock.stage = ON_TRACK if plan.warn_at is None or plan.warn_at > now else clock.stage
        clock.next_check_at = next_check(
            clock.stage, warn_at=clock.warn_at, due_at=clock.due_at, ladder=ladder_of(policy)
        )
    if clock.state == ClockState.paused:
        clock.state = ClockState.running
        segments = list(clock.paused_segments)
        if segments and segments[-1].get("to") is None:
            segments[-1] = {**segments[-1], "to": jsonable(now)}
        clock.paused_segments = segments
    clock.segment_started_at = now
    clock.updated_at = now
    signals.CLOCK_CHANGED.after_commit(session)


async def restart(session: AsyncSession, clock: SlaClock, now: datetime) -> None:
    """A new cycle from ``now`` (e.g. the resolution clock of a reopened work order)."""
    policy = await repository.get_policy(session, clock.policy_id) if clock.policy_id else None
    if policy is None:
        cancel(clock, now)
        return
    clock.cycle += 1
    clock.started_at = now
    clock.elapsed_seconds = 0.0
    clock.met_at = clock.breached_at = None
    clock.stage = ON_TRACK
    clock.state = ClockState.running
    clock.segment_started_at = now
    clock.paused_segments = []
    await replan(session, clock, policy, now)


async def explain(
    session: AsyncSession, subject: Subject, subject_id: uuid.UUID, now: datetime
) -> SubjectSlaRead:
    """Every clock of a subject with what it has used and what is left, at ``now``."""
    all_clocks = await repository.clocks_for(session, subject.value, subject_id)
    reads = []
    policy_id = policy_name = None
    for clock in all_clocks:
        cal = await calendars.get(session, clock.calendar_id)
        elapsed = clock.elapsed_seconds
        if clock.state == ClockState.running or (
            clock.state == ClockState.breached and clock.met_at is None
        ):
            elapsed += used_seconds(calendars.business_calendar(cal), clock.segment_started_at, now)
        if clock.policy_id and policy_id is None:
            policy = await repository.get_policy(session, clock.policy_id)
            policy_id, policy_name = clock.policy_id, policy.name if policy else None
        state_level = (
            "none"
            if not is_open(clock)
            else ("red" if clock.stage >= 2 else "yellow" if clock.stage == 1 else "blue")
        )
        reads.append(
            ClockRead(
                id=clock.id,
                target=clock.target,
                state=clock.state.value,
                cycle=clock.cycle,
                started_at=clock.started_at,
                due_at=clock.due_at,
                warn_at=clock.warn_at,
                met_at=clock.met_at,
                breached_at=clock.breached_at,
                elapsed_seconds=round(elapsed, 3),
                remaining_seconds=None
                if clock.target_seconds is None
                else round(clock.target_seconds - elapsed, 3),
                paused_segments=clock.paused_segments,
                escalation_level=max(0, clock.stage - 2),
                warning_level=state_level,
                calendar_id=cal.id,
                calendar_name=cal.name,
                policy_id=clock.policy_id,
            )
        )
    return SubjectSlaRead(
        subject_type=subject,
        subject_id=subject_id,
        warning_level=level_of(all_clocks),
        policy_id=policy_id,
        policy_name=policy_name,
        clocks=reads,
    )


async def apply_policy_edit(
    session: AsyncSession, policy: SlaPolicy, now: datetime
) -> set[uuid.UUID]:
    """Re-plan the running clocks of an edited policy (same rule as a priority change).

    Returns the subjects whose clocks changed."""
    subjects = set()
    for clock in await repository.open_clocks_of_policy(session, policy.id):
        if clock.state == ClockState.running and clock.due_at is not None:
            await replan(session, clock, policy, now)
            subjects.add(clock.subject_id)
    return subjects


async def apply_calendar_edit(
    session: AsyncSession, calendar_id: uuid.UUID, now: datetime
) -> set[uuid.UUID]:
    """Re-plan the running clocks on an edited calendar, each by its own policy."""
    subjects = set()
    for policy in await repository.list_policies(session):
        for clock in await repository.open_clocks_of_policy(session, policy.id):
            if (
                clock.calendar_id == calendar_id
                and clock.state == ClockState.running
                and clock.due_at
            ):
                await replan(session, clock, policy, now)
                subjects.add(clock.subject_id)
    return subjects
