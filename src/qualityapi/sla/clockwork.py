"""The life of one clock as pure functions: stages, next check, pause, re-plan.

Stages: 0 on track (blue), 1 warned (yellow), 2 breached (red), 2 + n escalation level n.
A breach happens at the due instant, and escalation level n at ``due + ladder[n-1]``: the
schedule depends on the data only, never on when a scanner happened to look.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from qualityapi.sla.calendar import BusinessCalendar, add_working_time, working_seconds_between
from qualityapi.sla.deadlines import WarningWindow

ON_TRACK, WARNED, BREACHED = 0, 1, 2


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
class Plan:
    due_at: datetime
    warn_at: datetime | None


def plan_remaining(
    calendar: BusinessCalendar,
    *,
    now: datetime,
    target_seconds: float,
    elapsed_seconds: float,
    window: WarningWindow,
) -> Plan:
    """Deadline and warning for a clock that has used ``elapsed_seconds`` of working time
    and runs again from ``now`` (after a pause, or on a changed policy or calendar)."""
    remaining = max(0.0, target_seconds - elapsed_seconds)
    due = add_working_time(calendar, now, timedelta(seconds=remaining))
    candidates: list[datetime] = []
    if window.percent is not None:
        warn_used = target_seconds * window.percent / 100
        candidates.append(
            add_working_time(
                calendar, now, timedelta(seconds=max(0.0, warn_used - elapsed_seconds))
            )
        )
    if window.lead is not None:
        candidates.append(due - window.lead)
    warn = max(min(candidates), min(now, due)) if candidates else None
    return Plan(due_at=due, warn_at=warn)


def used_seconds(calendar: BusinessCalendar, since: datetime | None, now: datetime) -> float:
    return 0.0 if since is None else working_seconds_between(calendar, since, now)
