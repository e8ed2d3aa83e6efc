"""The clock transition function, table-driven: every target kind x every op x inside and
outside working hours, and the defects found around hold, resume and re-plan.

Expected values are worked out by hand on two calendars: 24x7, and the business calendar
(Asia/Shanghai, Mon-Fri 09:00-12:00 and 13:30-18:00, CN holidays). 2026-11-02 is a Monday;
01:00Z is 09:00 local, 10:00Z is 18:00 local (closing), 12:00Z is 20:00 local (closed).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from qualityapi.sla.calendar import BusinessCalendar
from qualityapi.sla.clockwork import (
    PENDING_APPOINTMENT,
    Clock,
    ClockPlan,
    ExtensionRefused,
    SubjectTimes,
    extend,
    stages_due,
    transition,
    used_now,
)
from qualityapi.sla.deadlines import (
    AppointmentEndTarget,
    DurationTarget,
    Target,
    WarningWindow,
    WorkingDaysTarget,
)
from qualityapi.sla.vocabulary import BREACHED, ON_TRACK, WARNED, ClockState, Op

ALWAYS = BusinessCalendar.always_open()
CN = BusinessCalendar.china_business()
H = timedelta(hours=1)
M = timedelta(minutes=1)
POLICY = uuid.UUID(int=1)
OTHER_POLICY = uuid.UUID(int=2)
CAL = uuid.UUID(int=10)
WINDOW = WarningWindow(percent=80)


def z(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


MON_0900 = z(2026, 11, 2, 1)  # opening
MON_1100 = z(2026, 11, 2, 3)
MON_2000 = z(2026, 11, 2, 12)  # closed
MON_LUNCH = z(2026, 11, 2, 4, 30)  # 12:30 local: the lunch break
TUE_0900 = z(2026, 11, 3, 1)


def plan(target: Target, policy: uuid.UUID = POLICY, **window: object) -> ClockPlan:
    return ClockPlan(
        policy_id=policy,
        calendar_id=CAL,
        target=target,
        window=WarningWindow(**window) if window else WINDOW,  # type: ignore[arg-type]
        ladder=(timedelta(0), 30 * M),
    )


def step(
    clock: Clock | None,
    op: Op,
    at: datetime,
    p: ClockPlan | None,
    *,
    times: SubjectTimes | None = None,
) -> Clock:
    cal = p.target.calendar if p is not None else CN
    result = transition(
        clock,
        op,
        target="t",
        plan=p,
        calendar=cal if clock is not None else None,
        times=times or SubjectTimes(started_at=MON_0900),
        now=at,
    )
    assert result is not None
    return result


def started(p: ClockPlan, at: datetime = MON_0900, **times: object) -> Clock:
    return step(None, Op.start, at, p, times=SubjectTimes(started_at=at, **times))  # type: ignore[arg-type]


# --- start, per target kind --------------------------------------------------------------

START_CASES = [
    # 24x7, 4 h: due 4 h later; warns at 80 % = 3 h 12 min.
    (
        "24x7 duration",
        DurationTarget(4 * H, ALWAYS),
        MON_0900,
        None,
        z(2026, 11, 2, 5),
        z(2026, 11, 2, 4, 12),
    ),
    # business, 4 h from 09:00: 09-12 (3 h) + 13:30-14:30 -> 14:30 local = 06:30Z;
    # 80 % = 3 h 12 min -> 13:42 local = 05:42Z.
    (
        "business duration",
        DurationTarget(4 * H, CN),
        MON_0900,
        None,
        z(2026, 11, 2, 6, 30),
        z(2026, 11, 2, 5, 42),
    ),
    # Started at 20:00 (closed): counting starts Tuesday 09:00.
    (
        "business duration, closed",
        DurationTarget(4 * H, CN),
        MON_2000,
        None,
        z(2026, 11, 3, 6, 30),
        z(2026, 11, 3, 5, 42),
    ),
    # 2 working days from Monday: the end of Wednesday = 18:00 local = 10:00Z; Monday
    # itself is working time too: 3 x 7.5 h, 80 % = 18 h -> Wednesday 12:00 local.
    (
        "working days",
        WorkingDaysTarget(2, CN),
        MON_0900,
        None,
        z(2026, 11, 4, 10),
        z(2026, 11, 4, 4),
    ),
    # Appointment end Tuesday 12:00 local (04:00Z): 7.5 + 3 = 10.5 working hours; 80 % =
    # 8.4 h -> Tuesday 09:54 local.
    (
        "appointment",
        AppointmentEndTarget(CN),
        MON_0900,
        z(2026, 11, 3, 4),
        z(2026, 11, 3, 4),
        z(2026, 11, 3, 1, 54),
    ),
]


@pytest.mark.parametrize(
    ("target", "at", "appointment", "due", "warn"),
    [c[1:] for c in START_CASES],
    ids=[c[0] for c in START_CASES],
)
def test_start(
    target: Target, at: datetime, appointment: datetime | None, due: datetime, warn: datetime
) -> None:
    clock = started(plan(target), at, appointment_end=appointment)
    assert (clock.state, clock.stage, clock.cycle) == (ClockState.running, ON_TRACK, 1)
    assert (clock.due_at, clock.warn_at) == (due, warn)
    assert clock.next_check_at == warn
    assert clock.elapsed_seconds == 0.0


def test_an_appointment_target_without_an_appointment_is_pending_and_not_watched() -> None:
    clock = started(plan(AppointmentEndTarget(CN)))
    assert clock.state == ClockState.pending
    assert clock.pending_reason == PENDING_APPOINTMENT
    assert (clock.due_at, clock.next_check_at) == (None, None)
    assert not clock.is_open  # does not count towards the level
    # The appointment arrives (a PATCH re-plans): due at its end, measured from the start.
    times = SubjectTimes(started_at=MON_0900, appointment_end=z(2026, 11, 3, 4))
    planned = step(clock, Op.replan, MON_1100, plan(AppointmentEndTarget(CN)), times=times)
    assert planned.state == ClockState.running
    assert planned.due_at == z(2026, 11, 3, 4)
    assert planned.pending_reason is None
    assert used_now(planned, CN, MON_1100) == 2 * 3600


# --- hold and resume ---------------------------------------------------------------------

HOLD_CASES = [
    # (name, target, hold at, resume at, expected due after resume)
    # 24x7 4 h: 2 h used at hold, 2 h left from the resume.
    (
        "24x7",
        DurationTarget(4 * H, ALWAYS),
        z(2026, 11, 2, 3),
        z(2026, 11, 2, 8),
        z(2026, 11, 2, 10),
    ),
    # business 4 h: 2 h used (09-11); resumed at 20:00 local (closed): 2 h from Tuesday
    # 09:00 -> 11:00 local = 03:00Z.
    (
        "business, resumed when closed",
        DurationTarget(4 * H, CN),
        MON_1100,
        MON_2000,
        z(2026, 11, 3, 3),
    ),
    # business 4 h: held at 20:00 (closed, so 7.5 h of Monday... but only 4 h needed: the
    # clock was due 14:30) -- instead hold at 11:00 and resume Tuesday 09:00.
    (
        "business, resumed at opening",
        DurationTarget(4 * H, CN),
        MON_1100,
        TUE_0900,
        z(2026, 11, 3, 3),
    ),
    # 2 working days (Monday 09:00 to the end of Wednesday: 22.5 working hours); 2 h
    # used; resumed Tuesday 09:00: 20.5 h left -> Tuesday 7.5 + Wednesday 7.5 + Thursday
    # 5.5 h -> 16:00 local = 08:00Z (the deadline is working time, not a day boundary).
    ("working days", WorkingDaysTarget(2, CN), MON_1100, TUE_0900, z(2026, 11, 5, 8)),
]


@pytest.mark.parametrize(
    ("target", "hold_at", "resume_at", "due"),
    [c[1:] for c in HOLD_CASES],
    ids=[c[0] for c in HOLD_CASES],
)
def test_hold_keeps_the_time_used_and_resume_plans_the_rest(
    target: Target, hold_at: datetime, resume_at: datetime, due: datetime
) -> None:
    p = plan(target)
    held = step(started(p), Op.pause, hold_at, p)
    assert held.state == ClockState.paused
    assert held.elapsed_seconds == 2 * 3600
    assert (held.due_at, held.next_check_at) == (None, None)
    resumed = step(held, Op.resume, resume_at, p)
    assert resumed.state == ClockState.running
    assert resumed.due_at == due
    assert resumed.elapsed_seconds == 2 * 3600
    assert resumed.paused_segments == (
        {
            "from": hold_at.isoformat().replace("+00:00", "Z"),
            "to": resume_at.isoformat().replace("+00:00", "Z"),
        },
    )


def test_an_appointment_does_not_move_with_a_hold() -> None:
    # Found: after respond, hold and resume, the arrival due_at came out an hour early.
    appointment = z(2026, 11, 3, 4)
    times = SubjectTimes(started_at=MON_0900, appointment_end=appointment)
    p = plan(AppointmentEndTarget(CN))
    clock = started(p, appointment_end=appointment)
    held = step(clock, Op.pause, MON_1100, p, times=times)
    resumed = step(held, Op.resume, MON_2000, p, times=times)
    assert resumed.due_at == appointment
    assert resumed.warn_at == clock.warn_at


def test_a_replan_with_no_change_changes_nothing_on_an_appointment_clock() -> None:
    # Found: patching the policy with no real change doubled elapsed_seconds (3600 -> 7200).
    appointment = z(2026, 11, 3, 4)
    times = SubjectTimes(started_at=MON_0900, appointment_end=appointment)
    p = plan(AppointmentEndTarget(CN))
    clock = started(p, appointment_end=appointment)
    once = step(clock, Op.replan, z(2026, 11, 2, 2), p, times=times)
    twice = step(once, Op.replan, z(2026, 11, 2, 2), p, times=times)
    for replanned in (once, twice):
        assert used_now(replanned, CN, z(2026, 11, 2, 2)) == 3600
        assert replanned.due_at == appointment


@pytest.mark.parametrize(
    "target",
    [DurationTarget(4 * H, ALWAYS), DurationTarget(4 * H, CN), WorkingDaysTarget(2, CN)],
    ids=["24x7", "business", "working days"],
)
@pytest.mark.parametrize("at", [MON_1100, MON_LUNCH], ids=["open", "closed"])
def test_a_replan_with_no_change_keeps_the_deadline(target: Target, at: datetime) -> None:
    p = plan(target)
    clock = started(p)
    replanned = step(clock, Op.replan, at, p)
    again = step(replanned, Op.replan, at, p)
    assert replanned.due_at == again.due_at == clock.due_at
    assert again.elapsed_seconds == replanned.elapsed_seconds


# --- the warning rule across a cycle -------------------------------------------------------


def _warned(p: ClockPlan) -> Clock:
    clock = started(p)
    assert clock.warn_at is not None
    reached = stages_due(
        clock.stage, warn_at=clock.warn_at, due_at=clock.due_at, ladder=p.ladder, now=clock.warn_at
    )
    assert reached == [WARNED]
    return replace(clock, stage=WARNED)  # what the scanner writes


@pytest.mark.parametrize(
    ("target", "resume_at"),
    [
        (DurationTarget(4 * H, CN), MON_2000),  # found: 6 of 6 turned blue outside hours
        (DurationTarget(4 * H, CN), TUE_0900),
        (DurationTarget(4 * H, ALWAYS), MON_2000),
        (WorkingDaysTarget(1, CN), MON_2000),
        (AppointmentEndTarget(CN), MON_2000),
    ],
    ids=["business, closed", "business, opening", "24x7", "working days", "appointment"],
)
def test_a_warned_clock_stays_yellow_through_hold_and_resume(
    target: Target, resume_at: datetime
) -> None:
    appointment = z(2026, 11, 3, 4)
    times = SubjectTimes(started_at=MON_0900, appointment_end=appointment)
    p = plan(target)
    clock = started(p, appointment_end=appointment)
    assert clock.warn_at is not None
    warned = replace(clock, stage=WARNED)
    hold_at = clock.warn_at + M
    held = step(warned, Op.pause, hold_at, p, times=times)
    resumed = step(held, Op.resume, max(resume_at, hold_at + M), p, times=times)
    assert resumed.stage == WARNED
    assert resumed.remaining_at_warning_seconds == clock.remaining_at_warning_seconds
    # Its next check is the deadline, not a second warning.
    assert resumed.next_check_at == resumed.due_at


def test_a_replan_that_gives_more_time_than_at_the_warning_makes_it_blue_again() -> None:
    p = plan(DurationTarget(4 * H, ALWAYS))
    warned = _warned(p)
    assert warned.remaining_at_warning_seconds == 48 * 60  # 20 % of 4 h
    at = warned.warn_at + M  # type: ignore[operator]
    same = step(warned, Op.replan, at, p)
    assert same.stage == WARNED
    shorter = step(warned, Op.replan, at, plan(DurationTarget(3 * H, ALWAYS)))
    assert shorter.stage == WARNED
    # 8 h target: 3 h 13 min used, 4 h 47 min left > 48 min left when it warned.
    longer = step(warned, Op.replan, at, plan(DurationTarget(8 * H, ALWAYS)))
    assert longer.stage == ON_TRACK
    assert longer.warn_at == MON_0900 + timedelta(hours=6, minutes=24)
    assert longer.next_check_at == longer.warn_at


# --- re-plan during a hold, breach, meet, cancel, restart -----------------------------------


def test_a_priority_change_during_a_hold_applies_at_the_resume() -> None:
    # Found: 41 of 41 changes made on hold never applied.
    normal = plan(DurationTarget(4 * H, ALWAYS))
    urgent = plan(DurationTarget(1 * H, ALWAYS), policy=OTHER_POLICY)
    held = step(started(normal), Op.pause, MON_0900 + 30 * M, normal)
    replanned = step(held, Op.replan, MON_0900 + 40 * M, urgent)
    assert replanned.state == ClockState.paused
    assert (replanned.policy_id, replanned.target_seconds) == (OTHER_POLICY, 3600)
    resumed = step(replanned, Op.resume, MON_0900 + 2 * H, urgent)
    assert resumed.policy_id == OTHER_POLICY
    assert resumed.due_at == MON_0900 + 2 * H + 30 * M  # 30 min left of 1 h


def test_a_breached_clock_stays_breached_and_keeps_escalating() -> None:
    p = plan(DurationTarget(1 * H, ALWAYS))
    breached = replace(
        started(p), stage=BREACHED, state=ClockState.breached, breached_at=MON_0900 + H
    )
    at = MON_0900 + 2 * H
    assert step(breached, Op.pause, at, p) == breached
    assert step(breached, Op.replan, at, plan(DurationTarget(8 * H, ALWAYS))) == breached
    met = step(breached, Op.meet, at, p)
    assert (met.state, met.met_at, met.elapsed_seconds) == (ClockState.breached, at, 7200)


@pytest.mark.parametrize(
    ("target", "at", "used"),
    [
        (DurationTarget(4 * H, ALWAYS), MON_0900 + 10 * M, 600),
        (DurationTarget(4 * H, CN), MON_2000, 7.5 * 3600),  # the whole working Monday
        (WorkingDaysTarget(2, CN), MON_1100, 7200),
    ],
    ids=["24x7", "business, closed", "working days"],
)
@pytest.mark.parametrize("op", [Op.meet, Op.cancel])
def test_meet_and_cancel_keep_the_time_used(
    target: Target, at: datetime, used: float, op: Op
) -> None:
    # Found: a met clock showed elapsed 0 and the whole target remaining.
    p = plan(target)
    stopped = step(started(p), op, at, p)
    assert stopped.state == (ClockState.met if op is Op.meet else ClockState.cancelled)
    assert stopped.elapsed_seconds == used
    assert used_now(stopped, target.calendar, at + 5 * H) == used
    assert stopped.next_check_at is None


def test_restart_begins_a_new_cycle_from_now() -> None:
    p = plan(DurationTarget(4 * H, CN))
    met = step(started(p), Op.meet, MON_1100, p)
    restarted = step(met, Op.restart, MON_2000, p)
    assert (restarted.cycle, restarted.state, restarted.stage) == (2, ClockState.running, ON_TRACK)
    assert restarted.started_at == MON_2000
    assert restarted.elapsed_seconds == 0
    assert restarted.met_at is None
    assert restarted.due_at == z(2026, 11, 3, 6, 30)  # 4 h from Tuesday's opening
    # A clock still running in its cycle is not restarted.
    running = started(p)
    assert step(running, Op.restart, MON_1100, p) == running


def test_a_target_the_policy_no_longer_has_is_cancelled() -> None:
    p = plan(DurationTarget(4 * H, ALWAYS))
    clock = started(p)
    for op in (Op.replan, Op.resume, Op.restart):
        source = clock if op is not Op.resume else step(clock, Op.pause, MON_1100, p)
        gone = transition(
            source,
            op,
            target="t",
            plan=None,
            calendar=ALWAYS,
            times=SubjectTimes(MON_0900),
            now=MON_1100,
        )
        assert gone is not None and gone.state == ClockState.cancelled, op


def test_a_target_added_during_a_hold_starts_paused() -> None:
    p = plan(DurationTarget(4 * H, ALWAYS))
    clock = transition(
        None,
        Op.replan,
        target="t",
        plan=p,
        calendar=None,
        times=SubjectTimes(started_at=MON_0900, on_hold=True),
        now=MON_1100,
    )
    assert clock is not None
    assert clock.state == ClockState.paused
    assert clock.next_check_at is None


# --- extensions ------------------------------------------------------------------------------


def test_an_extension_moves_the_deadline_and_keeps_the_original() -> None:
    p = plan(DurationTarget(4 * H, CN))  # due Monday 14:30 local (06:30Z)
    clock = started(p)
    extended = extend(clock, p, CN, now=MON_1100, reason="waiting for a part", working_days=1)
    # One working day past Monday's deadline: the end of Tuesday, 18:00 local.
    assert extended.due_at == z(2026, 11, 3, 10)
    assert extended.extensions == (
        {
            "at": "2026-11-02T03:00:00Z",
            "from": "2026-11-02T06:30:00Z",
            "to": "2026-11-03T10:00:00Z",
            "reason": "waiting for a part",
        },
    )
    # The added working time (Monday 14:30-18:00 and Tuesday: 3.5 + 7.5 h) joins the target.
    assert extended.target_seconds == 4 * 3600 + 11 * 3600
    assert extended.next_check_at == extended.warn_at
    again = extend(extended, p, CN, now=MON_1100, reason="again", new_due_at=z(2026, 11, 4, 10))
    assert [e["from"] for e in again.extensions] == ["2026-11-02T06:30:00Z", "2026-11-03T10:00:00Z"]


def test_an_extension_of_a_warned_clock_that_gives_time_makes_it_blue() -> None:
    p = plan(DurationTarget(4 * H, ALWAYS))
    warned = _warned(p)
    at = warned.warn_at + M  # type: ignore[operator]
    extended = extend(
        warned, p, ALWAYS, now=at, reason="customer asked", new_due_at=MON_0900 + 8 * H
    )
    assert extended.stage == ON_TRACK


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"stage": BREACHED, "state": ClockState.breached}, "already passed"),
        ({"state": ClockState.paused, "due_at": None}, "only a running clock"),
        ({"state": ClockState.met}, "only a running clock"),
    ],
    ids=["breached", "paused", "met"],
)
def test_what_cannot_be_extended(change: dict[str, object], message: str) -> None:
    p = plan(DurationTarget(4 * H, ALWAYS))
    clock = replace(started(p), **change)  # type: ignore[arg-type]
    with pytest.raises(ExtensionRefused, match=message):
        extend(clock, p, ALWAYS, now=MON_1100, reason="r", working_days=1)


def test_an_extension_must_move_the_deadline_later() -> None:
    p = plan(DurationTarget(4 * H, ALWAYS))
    with pytest.raises(ExtensionRefused, match="later than the current one"):
        extend(started(p), p, ALWAYS, now=MON_1100, reason="r", new_due_at=MON_0900 + H)
