"""Deadlines from SLA targets: pure functions over a business calendar.

A target is one of
- a duration of working time on a calendar (a 24x7 calendar makes it plain elapsed time),
- N working days (due at the end of the Nth working day after the start's local date;
  0 means by the end of the same working day, see ``end_of_working_day``),
- the subject's appointment end (``arrive by the end of the appointment window``).

The warning instant is the earlier of "percent of the target elapsed" (measured in working
time) and "lead time before the deadline" (wall-clock), never before the start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from qualityapi.sla.calendar import (
    BusinessCalendar,
    add_working_days,
    add_working_time,
    next_working_instant,
    working_seconds_between,
)


@dataclass(frozen=True)
class DurationTarget:
    duration: timedelta
    calendar: BusinessCalendar


@dataclass(frozen=True)
class WorkingDaysTarget:
    days: int
    calendar: BusinessCalendar


@dataclass(frozen=True)
class AppointmentEndTarget:
    calendar: BusinessCalendar


Target = DurationTarget | WorkingDaysTarget | AppointmentEndTarget


@dataclass(frozen=True)
class WarningWindow:
    percent: float | None = None
    lead: timedelta | None = None


def due_at(
    target: Target, start: datetime, *, appointment_end: datetime | None = None
) -> datetime | None:
    """When the target falls due for a clock started at ``start``.

    None when it cannot be known (an appointment target without an appointment).
    """
    match target:
        case DurationTarget(duration=duration, calendar=calendar):
            return add_working_time(calendar, start, duration)
        case WorkingDaysTarget(days=0, calendar=calendar):
            return end_of_working_day(calendar, start)
        case WorkingDaysTarget(days=days, calendar=calendar):
            return add_working_days(calendar, start, days)
        case AppointmentEndTarget():
            return appointment_end
    raise TypeError(f"unknown target {target!r}")


def end_of_working_day(calendar: BusinessCalendar, start: datetime) -> datetime:
    """ "By the end of the same working day": the end of the local working day on which work
    can start (the next working day's end when ``start`` is after hours or on a day off)."""
    first = next_working_instant(calendar, start)
    local = first.astimezone(ZoneInfo(calendar.tz))
    # add_working_days counts days after its start's local date: start from the day before.
    day_before = datetime.combine(local.date() - timedelta(days=1), time(12), tzinfo=local.tzinfo)
    return add_working_days(calendar, day_before, 1)


def warning_instant(
    calendar: BusinessCalendar,
    *,
    start: datetime,
    due: datetime,
    target_seconds: float,
    elapsed_seconds: float,
    window: WarningWindow,
) -> datetime | None:
    """The warning rule, the one place it is written: the earlier of "``percent`` of the
    target used" (working time, counted from ``start`` with ``elapsed_seconds`` already
    used) and "``lead`` before the deadline" (wall-clock), never before ``start``."""
    candidates: list[datetime] = []
    if window.percent is not None:
        left = max(0.0, target_seconds * window.percent / 100 - elapsed_seconds)
        candidates.append(add_working_time(calendar, start, timedelta(seconds=left)))
    if window.lead is not None:
        candidates.append(due - window.lead)
    if not candidates:
        return None
    return max(min(candidates), min(start, due))


def warn_at(
    target: Target, start: datetime, due: datetime, window: WarningWindow
) -> datetime | None:
    """The warning instant of a clock that starts at ``start`` and is due at ``due``."""
    return warning_instant(
        target.calendar,
        start=start,
        due=due,
        target_seconds=working_seconds_between(target.calendar, start, due),
        elapsed_seconds=0.0,
        window=window,
    )


@dataclass(frozen=True)
class Match:
    priorities: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()

    def accepts(self, priority: str | None, category: str | None) -> bool:
        # An empty set matches anything, including a subject without that attribute.
        if self.priorities and priority not in self.priorities:
            return False
        return not (self.categories and category not in self.categories)


P = TypeVar("P")


@dataclass(frozen=True)
class Candidate(Generic[P]):
    rank: int
    match: Match
    policy: P


def choose_policy(
    candidates: Sequence[Candidate[P]], *, priority: str | None, category: str | None
) -> P | None:
    """The first policy, by rank (lowest first), whose match accepts the subject."""
    for candidate in sorted(candidates, key=lambda c: c.rank):
        if candidate.match.accepts(priority, category):
            return candidate.policy
    return None
