"""The life of one clock as pure functions: (clock, op, plan, calendar, now) -> clock.

Stages: 0 on track (blue), 1 warned (yellow), 2 breached (red), 2 + n escalation level n.
A breach happens at the due instant, and escalation level n at ``due + ladder[n-1]``: the
schedule depends on the data only, never on when a scanner happened to look.

The rules (the README's "SLA rules" repeats them for users):
- **start**: a clock starts at its subject's start (a work order's ``reported_at``). A
  duration or working-days target is due that much working time later; an appointment
  target is due at the appointment's end, and is ``pending`` (with the reason) until the
  subject has one. A pending clock does not count towards the level.
- **pause** (hold): a running clock keeps the working time used so far; its deadline is
  unknown until it resumes (``due_at``/``warn_at`` null). A breached clock keeps
  escalating: a missed deadline stays missed.
- **resume**: the deadline is planned again from the working time left, from now. An
  appointment target stays due at the appointment's end: a hold does not move an
  appointment.
- **replan** (priority, category or appointment change; a policy or calendar edit): the
  target is measured again from the clock's start on the current policy and calendar,
  and the deadline planned from the working time already used. A breached clock stays
  breached; a paused one stays paused with its new target.
- **restart** (reopen): a new cycle from now with nothing used.
- **meet** / **cancel**: the clock stops; the time used up to now is kept, so a met
  clock shows what it took.
- **extend**: a running clock's deadline moves later (to an instant, or N working days past
  the current deadline) with a reason; the working time added extends the target, the
  extension is kept (the first one's ``from`` is the original deadline), and the warning
  rule applies as for a re-plan. A breached, paused or finished clock cannot be extended.
- **The warning rule across a cycle**: once a clock has warned (yellow) in a cycle it
  stays yellow through holds, resumes and re-plans, and its ``sla.warning`` is sent once
  per cycle, unless a re-plan leaves it more working time than it had left when it
  warned (``remaining_at_warning_seconds``): then it is blue again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from qualityapi.common.jsonable import jsonable
from qualityapi.sla.calendar import (
    BusinessCalendar,
    add_working_days,
    add_working_time,
    working_seconds_between,
)
from qualityapi.sla.deadlines import (
    AppointmentEndTarget,
    Target,
    WarningWindow,
    due_at,
    warning_instant,
)
from qualityapi.sla.vocabulary import BREACHED, ON_TRACK, OPEN_STATES, WARNED, ClockState, Op

PENDING_APPOINTMENT = "waiting for appointment_end: the target is the appointment's end"


def next_check(
    stage: int,
    *,
    warn_at: datetime | None,
    due_at: datetime | None,
    ladder: Sequence[timedelta],
) -> datetime | None:
    """The next instant at which the stage can change; None when it cannot."""
    if due_at is None:
        return None
    if stage == ON_TRACK:
        return warn_at if warn_at is not None and warn_at < due_at else due_at
    if stage == WARNED:
        return due_at
    reached = stage - BREACHED
    return due_at + ladder[reached] if reached < len(ladder) else None


def stages_due(
    stage: int,
    *,
    warn_at: datetime | None,
    due_at: datetime | None,
    ladder: Sequence[timedelta],
    now: datetime,
) -> list[int]:
    """Every stage reached by ``now`` after ``stage``, in order (none skipped but yellow
    when there is no warning window before the deadline)."""
    reached: list[int] = []
    while True:
        at = next_check(stage, warn_at=warn_at, due_at=due_at, ladder=ladder)
        if at is None or at > now:
            return reached
        if stage == ON_TRACK and (warn_at is None or warn_at >= (due_at or warn_at)):
            stage = BREACHED
        else:
            stage += 1
        reached.append(stage)


@dataclass(frozen=True)
class ClockPlan:
    """What plans one clock: its policy's target for it, the calendar, window and ladder."""

    policy_id: uuid.UUID
    calendar_id: uuid.UUID
    target: Target
    window: WarningWindow
    ladder: tuple[timedelta, ...]


@dataclass(frozen=True)
class SubjectTimes:
    """What a clock needs of its subject: when it started, its appointment, whether it is
    on hold now (a clock that becomes plannable during a hold starts paused)."""

    started_at: datetime
    appointment_end: datetime | None = None
    on_hold: bool = False


@dataclass(frozen=True)
class Clock:
    """One clock's stored state (a row of ``sla_clocks`` without its keys)."""

    target: str
    policy_id: uuid.UUID | None
    calendar_id: uuid.UUID
    state: ClockState
    cycle: int
    started_at: datetime
    due_at: datetime | None
    warn_at: datetime | None
    target_seconds: float | None
    elapsed_seconds: float
    segment_started_at: datetime | None
    paused_segments: tuple[dict[str, Any], ...]
    stage: int
    met_at: datetime | None
    breached_at: datetime | None
    next_check_at: datetime | None
    remaining_at_warning_seconds: float | None = None
    pending_reason: str | None = None
    extensions: tuple[dict[str, Any], ...] = ()

    @property
    def is_open(self) -> bool:
        return self.met_at is None and self.state in OPEN_STATES

    @property
    def is_pending(self) -> bool:
        return self.state == ClockState.pending

    @property
    def measuring(self) -> bool:
        """Whether working time is being used now (running, or breached and not met)."""
        return self.segment_started_at is not None and self.is_open


def used_now(clock: Clock, calendar: BusinessCalendar, now: datetime) -> float:
    """Working seconds used by ``now``, the current segment included."""
    if not clock.measuring or clock.segment_started_at is None:
        return clock.elapsed_seconds
    return clock.elapsed_seconds + working_seconds_between(calendar, clock.segment_started_at, now)


def transition(
    clock: Clock | None,
    op: Op,
    *,
    target: str,
    plan: ClockPlan | None,
    calendar: BusinessCalendar | None,
    times: SubjectTimes,
    now: datetime,
) -> Clock | None:
    """The clock after ``op``; None when there is no clock and none starts.

    ``calendar`` is the clock's current calendar (it measures the time used so far; None
    only when there is no clock yet); ``plan`` is the policy's target for it now (None:
    the policy has no such target, so a planning op cancels the clock).
    """
    if clock is None:
        if op in (Op.start, Op.restart, Op.replan, Op.resume) and plan is not None:
            start = now if op is Op.restart else times.started_at
            return _fresh(target, plan, times, start=start, now=now)
        return None
    if calendar is None:
        raise ValueError(f"{op.value} on an existing clock needs its calendar")
    if op is Op.start:
        return clock  # already started: starting twice changes nothing
    if op is Op.pause:
        return _pause(clock, calendar, now)
    if op in (Op.meet, Op.cancel) or plan is None:
        return _stop(clock, calendar, now, met=op is Op.meet)
    if op is Op.restart:
        if clock.is_open and clock.state != ClockState.breached:
            return clock  # still running in this cycle: nothing to restart
        return _fresh(target, plan, times, start=now, now=now, cycle=clock.cycle + 1)
    if op is Op.resume and clock.state == ClockState.paused:
        return _resume(clock, plan, times, now)
    if op is Op.resume and not clock.is_pending:
        return clock  # not on hold: nothing to resume
    return _replan(clock, plan, calendar, times, now)


def _pause(clock: Clock, calendar: BusinessCalendar, now: datetime) -> Clock:
    if clock.state != ClockState.running:
        return clock  # breached keeps escalating; paused or pending stay as they are
    return replace(
        clock,
        state=ClockState.paused,
        elapsed_seconds=used_now(clock, calendar, now),
        segment_started_at=None,
        due_at=None,
        warn_at=None,
        next_check_at=None,
        paused_segments=(*clock.paused_segments, {"from": jsonable(now), "to": None}),
    )


def _stop(clock: Clock, calendar: BusinessCalendar, now: datetime, *, met: bool) -> Clock:
    if not (clock.is_open or clock.is_pending):
        return clock
    stopped = replace(
        clock,
        elapsed_seconds=used_now(clock, calendar, now),
        segment_started_at=None,
        next_check_at=None,
        paused_segments=_closed_segments(clock.paused_segments, now),
        pending_reason=None,
    )
    if met:
        state = ClockState.breached if clock.state == ClockState.breached else ClockState.met
        return replace(stopped, met_at=now, state=state)
    return replace(stopped, state=ClockState.cancelled)


def _closed_segments(
    segments: tuple[dict[str, Any], ...], now: datetime
) -> tuple[dict[str, Any], ...]:
    if segments and segments[-1].get("to") is None:
        return (*segments[:-1], {**segments[-1], "to": jsonable(now)})
    return segments


@dataclass(frozen=True)
class _Schedule:
    due_at: datetime | None
    warn_at: datetime | None
    target_seconds: float | None
    remaining_at_warning_seconds: float | None
    pending_reason: str | None = None


def _schedule(
    plan: ClockPlan, times: SubjectTimes, *, started_at: datetime, elapsed: float, start: datetime
) -> _Schedule:
    """Deadline and warning for a clock started at ``started_at`` that has used
    ``elapsed`` working seconds and runs again from ``start``."""
    target = plan.target
    cal = target.calendar
    if isinstance(target, AppointmentEndTarget):
        if times.appointment_end is None:
            return _Schedule(None, None, None, None, pending_reason=PENDING_APPOINTMENT)
        # The appointment is a fixed instant: holds do not move it, so its schedule is
        # the one laid out from the clock's start.
        due = times.appointment_end
        total = working_seconds_between(cal, started_at, due)
        warn = warning_instant(
            cal,
            start=started_at,
            due=due,
            target_seconds=total,
            elapsed_seconds=0.0,
            window=plan.window,
        )
        return _Schedule(due, warn, total, _left_at(cal, warn, due))
    original = due_at(target, started_at)
    assert original is not None  # only appointment targets can lack a deadline
    total = working_seconds_between(cal, started_at, original)
    if elapsed == 0 and start == started_at:
        due = original  # the exact deadline, not a round trip through working seconds
    else:
        due = add_working_time(cal, start, timedelta(seconds=max(0.0, total - elapsed)))
    warn = warning_instant(
        cal, start=start, due=due, target_seconds=total, elapsed_seconds=elapsed, window=plan.window
    )
    return _Schedule(due, warn, total, _left_at(cal, warn, due))


def _left_at(cal: BusinessCalendar, warn: datetime | None, due: datetime) -> float | None:
    return None if warn is None else working_seconds_between(cal, warn, due)


def _fresh(
    target: str,
    plan: ClockPlan,
    times: SubjectTimes,
    *,
    start: datetime,
    now: datetime,
    cycle: int = 1,
) -> Clock:
    planned = _schedule(plan, times, started_at=start, elapsed=0.0, start=start)
    pending = planned.pending_reason is not None
    paused = times.on_hold and not pending
    clock = Clock(
        target=target,
        policy_id=plan.policy_id,
        calendar_id=plan.calendar_id,
        state=ClockState.pending if pending else ClockState.running,
        cycle=cycle,
        started_at=start,
        due_at=planned.due_at,
        warn_at=planned.warn_at,
        target_seconds=planned.target_seconds,
        elapsed_seconds=0.0,
        segment_started_at=None if pending else start,
        paused_segments=(),
        stage=ON_TRACK,
        met_at=None,
        breached_at=None,
        next_check_at=None
        if pending
        else next_check(
            ON_TRACK, warn_at=planned.warn_at, due_at=planned.due_at, ladder=plan.ladder
        ),
        remaining_at_warning_seconds=planned.remaining_at_warning_seconds,
        pending_reason=planned.pending_reason,
    )
    if paused:
        # Started during a hold (a target added by a re-plan): it waits for the resume.
        # Nothing was used yet, so the clock is paused from its start.
        return replace(
            clock,
            state=ClockState.paused,
            segment_started_at=None,
            due_at=None,
            warn_at=None,
            next_check_at=None,
            paused_segments=({"from": jsonable(now), "to": None},),
        )
    return clock


def _stage_after_replan(
    clock: Clock, planned: _Schedule, *, gives_time: bool
) -> tuple[int, float | None]:
    """The warning rule across a cycle (module docstring): (stage, remaining_at_warning_seconds)."""
    if clock.stage != WARNED:
        return clock.stage, planned.remaining_at_warning_seconds
    left = (planned.target_seconds or 0.0) - clock.elapsed_seconds
    warned_with = clock.remaining_at_warning_seconds
    if gives_time and warned_with is not None and left > warned_with:
        return ON_TRACK, planned.remaining_at_warning_seconds
    return WARNED, warned_with


def _running(
    clock: Clock,
    plan: ClockPlan,
    planned: _Schedule,
    stage: int,
    remaining: float | None,
    now: datetime,
) -> Clock:
    # A clock that was pending since its start has been in use all along (nothing paused
    # it): its time is measured from its start.
    segment_from = clock.started_at if clock.is_pending and not clock.paused_segments else now
    return replace(
        clock,
        policy_id=plan.policy_id,
        calendar_id=plan.calendar_id,
        state=ClockState.running,
        due_at=planned.due_at,
        warn_at=planned.warn_at,
        target_seconds=planned.target_seconds,
        segment_started_at=min(segment_from, now),
        stage=stage,
        next_check_at=next_check(
            stage, warn_at=planned.warn_at, due_at=planned.due_at, ladder=plan.ladder
        ),
        remaining_at_warning_seconds=remaining,
        pending_reason=None,
    )


def _resume(clock: Clock, plan: ClockPlan, times: SubjectTimes, now: datetime) -> Clock:
    planned = _schedule(
        plan, times, started_at=clock.started_at, elapsed=clock.elapsed_seconds, start=now
    )
    segments = _closed_segments(clock.paused_segments, now)
    if planned.pending_reason is not None:
        return replace(
            clock,
            state=ClockState.pending,
            policy_id=plan.policy_id,
            calendar_id=plan.calendar_id,
            paused_segments=segments,
            pending_reason=planned.pending_reason,
        )
    # A resume gives no time back: a warned clock stays warned.
    stage, remaining = _stage_after_replan(clock, planned, gives_time=False)
    return replace(_running(clock, plan, planned, stage, remaining, now), paused_segments=segments)


def _replan(
    clock: Clock, plan: ClockPlan, calendar: BusinessCalendar, times: SubjectTimes, now: datetime
) -> Clock:
    if not (clock.is_open or clock.is_pending) or clock.state == ClockState.breached:
        return clock  # finished, or missed: a missed deadline stays missed
    elapsed = used_now(clock, calendar, now)
    measured = replace(clock, elapsed_seconds=elapsed)
    planned = _schedule(plan, times, started_at=clock.started_at, elapsed=elapsed, start=now)
    if planned.pending_reason is not None:
        return replace(
            measured,
            state=ClockState.paused if clock.state == ClockState.paused else ClockState.pending,
            policy_id=plan.policy_id,
            calendar_id=plan.calendar_id,
            due_at=None,
            warn_at=None,
            target_seconds=None,
            segment_started_at=None,
            next_check_at=None,
            pending_reason=planned.pending_reason,
        )
    stage, remaining = _stage_after_replan(measured, planned, gives_time=True)
    if clock.state == ClockState.paused or (clock.is_pending and times.on_hold):
        # Re-planned during a hold: the new target applies, the deadline waits for resume.
        segments = clock.paused_segments or ({"from": jsonable(now), "to": None},)
        return replace(
            measured,
            state=ClockState.paused,
            policy_id=plan.policy_id,
            calendar_id=plan.calendar_id,
            target_seconds=planned.target_seconds,
            due_at=None,
            warn_at=None,
            segment_started_at=None,
            next_check_at=None,
            stage=stage,
            remaining_at_warning_seconds=remaining,
            pending_reason=None,
            paused_segments=segments,
        )
    return _running(measured, plan, planned, stage, remaining, now)


class ExtensionRefused(ValueError):
    """The clock cannot be extended as asked (the message says why)."""


def extend(
    clock: Clock,
    plan: ClockPlan,
    calendar: BusinessCalendar,
    *,
    now: datetime,
    reason: str,
    new_due_at: datetime | None = None,
    working_days: int | None = None,
) -> Clock:
    """The clock with its deadline moved to ``new_due_at`` or ``working_days`` later."""
    if clock.state == ClockState.breached:
        raise ExtensionRefused("the deadline has already passed: a missed deadline stays missed")
    if clock.state != ClockState.running or clock.due_at is None:
        raise ExtensionRefused(f"only a running clock can be extended; this one is {clock.state}")
    if (new_due_at is None) == (working_days is None):
        raise ExtensionRefused("give exactly one of new_due_at or working_days")
    base = clock.due_at
    due = (
        new_due_at
        if new_due_at is not None
        else add_working_days(calendar, base, working_days or 0)
    )
    if due <= base:
        raise ExtensionRefused(
            f"the new deadline must be later than the current one ({jsonable(base)})"
        )
    added = working_seconds_between(calendar, base, due)
    target_seconds = (clock.target_seconds or 0.0) + added
    measured = replace(
        clock, elapsed_seconds=used_now(clock, calendar, now), segment_started_at=now
    )
    warn = warning_instant(
        calendar,
        start=now,
        due=due,
        target_seconds=target_seconds,
        elapsed_seconds=measured.elapsed_seconds,
        window=plan.window,
    )
    planned = _Schedule(due, warn, target_seconds, _left_at(calendar, warn, due))
    stage, remaining = _stage_after_replan(measured, planned, gives_time=True)
    entry = {"at": jsonable(now), "from": jsonable(base), "to": jsonable(due), "reason": reason}
    return replace(
        measured,
        due_at=due,
        warn_at=warn,
        target_seconds=target_seconds,
        stage=stage,
        remaining_at_warning_seconds=remaining,
        next_check_at=next_check(stage, warn_at=warn, due_at=due, ladder=plan.ladder),
        extensions=(*clock.extensions, entry),
    )
