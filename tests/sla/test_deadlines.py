"""Deadlines and policy matching: pure, table-driven, expected values worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qualityapi.sla.calendar import BusinessCalendar
from qualityapi.sla.deadlines import (
    AppointmentEndTarget,
    Candidate,
    DurationTarget,
    Match,
    Target,
    WarningWindow,
    WorkingDaysTarget,
    choose_policy,
    due_at,
    warn_at,
)

ALWAYS = BusinessCalendar.always_open()
CN = BusinessCalendar.china_business()  # Asia/Shanghai, 09-12 and 13:30-18, CN holidays


def z(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


DUE_CASES = [
    ("24x7 1h", DurationTarget(timedelta(hours=1), ALWAYS), z(2026, 10, 1, 10), z(2026, 10, 1, 11)),
    # Mon 09:00 local (01:00Z) + 2 working hours = 11:00 local.
    (
        "business 2h from opening",
        DurationTarget(timedelta(hours=2), CN),
        z(2026, 11, 2, 1),
        z(2026, 11, 2, 3),
    ),
    # Mon 11:00 local + 4h: 1h until lunch, 3h from 13:30 -> 16:30 local = 08:30Z.
    (
        "business 4h across lunch",
        DurationTarget(timedelta(hours=4), CN),
        z(2026, 11, 2, 3),
        z(2026, 11, 2, 8, 30),
    ),
    # Fri 9 Oct 17:00 local + 2h: 1h Friday, then Saturday 10 Oct is a substituted working
    # day: 09:00 + 1h = 10:00 local = 02:00Z.
    (
        "substituted Saturday",
        DurationTarget(timedelta(hours=2), CN),
        z(2026, 10, 9, 9),
        z(2026, 10, 10, 2),
    ),
    # Reported on National Day (1 Oct, closed to 7 Oct; Sun 4 Oct ordinary weekend),
    # 8 Oct is Thursday, a working day: 09:00 + 1h = 10:00 local = 02:00Z.
    ("holiday start", DurationTarget(timedelta(hours=1), CN), z(2026, 10, 1, 2), z(2026, 10, 8, 2)),
    # Mon 2 Nov any time, 2 working days: Tue 3rd is day 1, Wed 4th day 2, ends 18:00 local.
    ("two working days", WorkingDaysTarget(2, CN), z(2026, 11, 2, 6), z(2026, 11, 4, 10)),
]


@pytest.mark.parametrize(
    ("target", "start", "expected"), [c[1:] for c in DUE_CASES], ids=[c[0] for c in DUE_CASES]
)
def test_due_at(target: Target, start: datetime, expected: datetime) -> None:
    assert due_at(target, start) == expected


def test_appointment_target_is_the_appointment_end_or_unknown() -> None:
    target = AppointmentEndTarget(CN)
    assert due_at(target, z(2026, 11, 2, 1), appointment_end=z(2026, 11, 3, 6)) == z(2026, 11, 3, 6)
    assert due_at(target, z(2026, 11, 2, 1)) is None


WARN_CASES = [
    # 80% of 1h plain = 48 min.
    (
        "percent 24x7",
        DurationTarget(timedelta(hours=1), ALWAYS),
        WarningWindow(percent=80),
        z(2026, 1, 1, 10),
        z(2026, 1, 1, 10, 48),
    ),
    # 80% of 4 working hours = 3h12m working from Mon 11:00 local: 1h to lunch, 2h12m
    # from 13:30 -> 15:42 local = 07:42Z.
    (
        "percent business",
        DurationTarget(timedelta(hours=4), CN),
        WarningWindow(percent=80),
        z(2026, 11, 2, 3),
        z(2026, 11, 2, 7, 42),
    ),
    # lead 30 min before an 11:00Z deadline; 80% would be 10:48Z: the earlier wins.
    (
        "lead earlier",
        DurationTarget(timedelta(hours=1), ALWAYS),
        WarningWindow(percent=80, lead=timedelta(minutes=30)),
        z(2026, 1, 1, 10),
        z(2026, 1, 1, 10, 30),
    ),
    # lead 5 min -> 10:55Z, 80% -> 10:48Z: the percent wins.
    (
        "percent earlier",
        DurationTarget(timedelta(hours=1), ALWAYS),
        WarningWindow(percent=80, lead=timedelta(minutes=5)),
        z(2026, 1, 1, 10),
        z(2026, 1, 1, 10, 48),
    ),
    # a lead longer than the target would warn before the start: it warns at the start.
    (
        "lead clamped to start",
        DurationTarget(timedelta(hours=1), ALWAYS),
        WarningWindow(lead=timedelta(hours=3)),
        z(2026, 1, 1, 10),
        z(2026, 1, 1, 10),
    ),
]


@pytest.mark.parametrize(
    ("target", "window", "start", "expected"),
    [c[1:] for c in WARN_CASES],
    ids=[c[0] for c in WARN_CASES],
)
def test_warn_at(
    target: Target, window: WarningWindow, start: datetime, expected: datetime
) -> None:
    due = due_at(target, start)
    assert due is not None
    assert warn_at(target, start, due, window) == expected


def test_no_window_means_no_warning() -> None:
    target = DurationTarget(timedelta(hours=1), ALWAYS)
    assert warn_at(target, z(2026, 1, 1), z(2026, 1, 1, 1), WarningWindow()) is None


POLICIES = [
    Candidate(rank=30, match=Match(priorities=frozenset({"normal"})), policy="normal"),
    Candidate(rank=10, match=Match(priorities=frozenset({"urgent"})), policy="urgent"),
    Candidate(
        rank=5,
        match=Match(priorities=frozenset({"urgent"}), categories=frozenset({"lift"})),
        policy="lift",
    ),
    Candidate(rank=99, match=Match(), policy="catch-all"),
]


@pytest.mark.parametrize(
    ("priority", "category", "expected"),
    [
        ("urgent", "lift", "lift"),  # rank 5 beats rank 10
        ("urgent", "hvac", "urgent"),
        ("urgent", None, "urgent"),  # a category filter needs a category
        ("normal", "hvac", "normal"),
        ("high", None, "catch-all"),
        (None, None, "catch-all"),
    ],
)
def test_choose_policy_by_rank_and_match(
    priority: str | None, category: str | None, expected: str
) -> None:
    assert choose_policy(POLICIES, priority=priority, category=category) == expected


def test_no_candidate_no_policy() -> None:
    assert choose_policy(POLICIES[:2], priority="high", category=None) is None
