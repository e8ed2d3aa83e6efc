"""Business-calendar arithmetic. Every expected value below is worked out by hand.

2026 facts used throughout: Jun 8 is a Monday and Jun 19 (Fri) is Dragon Boat Festival;
National Day closes Oct 1-7 and Sep 20 (Sun) and Oct 10 (Sat) are substituted working days;
Europe/Berlin springs forward on Mar 29 (02:00 CET -> 03:00 CEST) and falls back on Oct 25
(03:00 CEST -> 02:00 CET); America/New_York on Mar 8 (02:00 EST -> 03:00 EDT) and Nov 1
(02:00 EDT -> 01:00 EST).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from qualityapi.sla import calendar as calendar_module
from qualityapi.sla.calendar import (
    HORIZON_DAYS,
    BudgetExceeded,
    BusinessCalendar,
    CalendarHorizonError,
    WorkingInterval,
    add_working_days,
    add_working_time,
    day_budget,
    is_working_instant,
    next_working_instant,
    working_seconds_between,
)

SH = ZoneInfo("Asia/Shanghai")
BER = ZoneInfo("Europe/Berlin")
NY = ZoneInfo("America/New_York")

H = timedelta(hours=1)
M = timedelta(minutes=1)

OFFICE = (WorkingInterval(time(9), time(12)), WorkingInterval(time(13, 30), time(18)))
OFFICE_WEEK = dict.fromkeys(range(5), OFFICE)

CHINA = BusinessCalendar.china_business()
ALWAYS = BusinessCalendar.always_open()
# Mon-Fri night shift, each ending the next morning.
NIGHT = BusinessCalendar(
    tz="Asia/Shanghai", week=dict.fromkeys(range(5), (WorkingInterval(time(22), time(6)),))
)
# Every day 00:00-06:00 local: spans the changed hour on both DST days.
BERLIN_EARLY = BusinessCalendar(
    tz="Europe/Berlin", week=dict.fromkeys(range(7), (WorkingInterval(time(0), time(6)),))
)
# Every day 02:30-04:00 local: starts inside the spring-forward gap.
BERLIN_GAP = BusinessCalendar(
    tz="Europe/Berlin", week=dict.fromkeys(range(7), (WorkingInterval(time(2, 30), time(4)),))
)
NY_NIGHT = BusinessCalendar(
    tz="America/New_York", week=dict.fromkeys(range(7), (WorkingInterval(time(1), time(4)),))
)
NY_ALWAYS = BusinessCalendar(
    tz="America/New_York", week=dict.fromkeys(range(7), (WorkingInterval(time(0), time(0)),))
)
CUSTOM = BusinessCalendar(
    tz="Asia/Shanghai",
    week=OFFICE_WEEK,
    holiday_country="CN",
    # Jun 10 is a plain Wednesday; Jun 27 (Sat) is both closed and extra; Oct 10 is CN's
    # substituted Saturday.
    closed_days=frozenset({date(2026, 6, 10), date(2026, 6, 27), date(2026, 10, 10)}),
    # Jun 13 is a Saturday; Oct 1 is National Day.
    extra_working_days=frozenset({date(2026, 6, 13), date(2026, 6, 27), date(2026, 10, 1)}),
)
SHORT_EXTRA = (WorkingInterval(time(10), time(14)),)
CHINA_SHORT_EXTRA = BusinessCalendar(
    tz="Asia/Shanghai",
    week=OFFICE_WEEK,
    holiday_country="CN",
    extra_working_day_intervals=SHORT_EXTRA,
)


def sh(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SH)


def utc(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cal", "start", "duration", "expected"),
    [
        pytest.param(ALWAYS, utc(3, 10, 15), 90 * M, utc(3, 10, 16, 30), id="24x7-plain-addition"),
        pytest.param(ALWAYS, utc(3, 10, 15), timedelta(0), utc(3, 10, 15), id="24x7-zero"),
        pytest.param(
            ALWAYS,
            utc(1, 1),
            timedelta(days=400),
            datetime(2027, 2, 5, tzinfo=UTC),
            id="24x7-400-days",
        ),
        # 12:00 CET = 11:00Z; 24 real hours later is 11:00Z = 13:00 CEST (not 12:00 wall).
        pytest.param(
            ALWAYS,
            datetime(2026, 3, 28, 12, tzinfo=BER),
            24 * H,
            utc(3, 29, 11),
            id="24x7-real-hours-over-berlin-dst",
        ),
        pytest.param(
            NY_ALWAYS,
            datetime(2026, 11, 1, tzinfo=NY),
            25 * H,
            utc(11, 2, 5),
            id="ny-24x7-fall-day-is-25h",
        ),
        pytest.param(CHINA, sh(6, 8, 9, 30), 2 * H, sh(6, 8, 11, 30), id="inside-morning"),
        pytest.param(
            CHINA, sh(6, 8, 9), 3 * H, sh(6, 8, 12), id="used-up-at-interval-end-stays-12:00"
        ),
        pytest.param(CHINA, sh(6, 8, 11), 2 * H, sh(6, 8, 14, 30), id="crossing-lunch-1h+1h"),
        pytest.param(
            CHINA, sh(6, 8, 12, 30), H, sh(6, 8, 14, 30), id="start-in-lunch-counts-from-13:30"
        ),
        pytest.param(CHINA, sh(6, 8, 7), H, sh(6, 8, 10), id="before-09:00"),
        pytest.param(CHINA, sh(6, 8, 19), H, sh(6, 9, 10), id="after-18:00-next-morning"),
        pytest.param(CHINA, sh(6, 8, 9), 7 * H + 30 * M, sh(6, 8, 18), id="one-full-day-7.5h"),
        pytest.param(CHINA, sh(6, 8, 9), 15 * H, sh(6, 9, 18), id="two-full-days"),
        pytest.param(CHINA, sh(6, 12, 17), 2 * H, sh(6, 15, 10), id="friday-evening-1h+monday-1h"),
        pytest.param(CHINA, sh(6, 18, 17), 2 * H, sh(6, 22, 10), id="dragon-boat-friday-skipped"),
        pytest.param(CHINA, sh(10, 1, 10), H, sh(10, 8, 10), id="national-day-start-to-oct-8"),
        pytest.param(
            CHINA, sh(9, 30, 17), 2 * H, sh(10, 8, 10), id="eve-of-national-day-1h+oct-8-1h"
        ),
        pytest.param(
            CHINA, sh(10, 9, 17), 2 * H, sh(10, 10, 10), id="substituted-saturday-oct-10-works"
        ),
        pytest.param(CHINA, sh(9, 19, 10), H, sh(9, 20, 10), id="substituted-sunday-sep-20-works"),
        pytest.param(
            CHINA,
            sh(6, 8, 12, 30),
            timedelta(0),
            sh(6, 8, 13, 30),
            id="zero-in-lunch-next-working-instant",
        ),
        pytest.param(CHINA, sh(6, 8, 10), timedelta(0), sh(6, 8, 10), id="zero-inside-unchanged"),
        pytest.param(NIGHT, sh(6, 8, 23), 2 * H, sh(6, 9, 1), id="night-shift-past-midnight"),
        pytest.param(NIGHT, sh(6, 8, 21), H, sh(6, 8, 23), id="night-shift-starts-22:00"),
        pytest.param(
            NIGHT, sh(6, 9, 3), 4 * H, sh(6, 9, 23), id="night-inside-mondays-shift-3h+1h"
        ),
        pytest.param(
            NIGHT, sh(6, 13, 3), 3 * H, sh(6, 13, 6), id="night-saturday-morning-is-fridays-shift"
        ),
        pytest.param(NIGHT, sh(6, 13, 3), 4 * H, sh(6, 15, 23), id="night-weekend-skipped"),
        pytest.param(NIGHT, sh(6, 14, 3), H, sh(6, 15, 23), id="night-sunday-03:00-not-a-shift"),
        # Spring: 00:00 CET = Mar 28 23:00Z, 06:00 CEST = 04:00Z: 5 real hours.
        pytest.param(
            BERLIN_EARLY,
            datetime(2026, 3, 29, tzinfo=BER),
            5 * H,
            utc(3, 29, 4),
            id="berlin-spring-5h-fill-day",
        ),
        pytest.param(
            BERLIN_EARLY,
            datetime(2026, 3, 29, 1, 30, tzinfo=BER),
            H,
            utc(3, 29, 1, 30),
            id="berlin-spring-01:30CET+1h=03:30CEST",
        ),
        # Autumn: 00:00 CEST = Oct 24 22:00Z, 06:00 CET = 05:00Z: 7 real hours.
        pytest.param(
            BERLIN_EARLY,
            datetime(2026, 10, 25, tzinfo=BER),
            7 * H,
            utc(10, 25, 5),
            id="berlin-fall-7h-fill-day",
        ),
        pytest.param(
            BERLIN_EARLY,
            datetime(2026, 10, 25, tzinfo=BER),
            150 * M,
            utc(10, 25, 0, 30),
            id="berlin-fall-02:30-first-pass",
        ),
        pytest.param(
            BERLIN_EARLY,
            datetime(2026, 10, 25, tzinfo=BER),
            210 * M,
            utc(10, 25, 1, 30),
            id="berlin-fall-02:30-second-pass",
        ),
        # 02:30 does not exist on Mar 29: read as 02:30+01:00 = 01:30Z (03:30 CEST).
        pytest.param(
            BERLIN_GAP,
            datetime(2026, 3, 29, tzinfo=BER),
            10 * M,
            utc(3, 29, 1, 40),
            id="berlin-gap-start-moves-to-03:30",
        ),
        # Mar 29 holds 03:30-04:00 CEST (30 min); Mar 30 starts 02:30 CEST = 00:30Z.
        pytest.param(
            BERLIN_GAP,
            datetime(2026, 3, 29, tzinfo=BER),
            40 * M,
            utc(3, 30, 0, 40),
            id="berlin-gap-day-holds-30min",
        ),
        # Spring: 01:00 EST = 06:00Z to 04:00 EDT = 08:00Z: 2 real hours.
        pytest.param(
            NY_NIGHT,
            datetime(2026, 3, 8, 1, tzinfo=NY),
            90 * M,
            utc(3, 8, 7, 30),
            id="ny-spring-01:00+90m=03:30EDT",
        ),
        pytest.param(
            NY_NIGHT,
            datetime(2026, 3, 8, 1, tzinfo=NY),
            2 * H,
            utc(3, 8, 8),
            id="ny-spring-day-holds-2h",
        ),
        # Fall: 01:00 EDT = 05:00Z to 04:00 EST = 09:00Z: 4 real hours.
        pytest.param(
            NY_NIGHT,
            datetime(2026, 11, 1, 1, tzinfo=NY),
            90 * M,
            utc(11, 1, 6, 30),
            id="ny-fall-01:00+90m=01:30EST",
        ),
        pytest.param(
            NY_NIGHT,
            datetime(2026, 11, 1, 1, tzinfo=NY),
            4 * H,
            utc(11, 1, 9),
            id="ny-fall-day-holds-4h",
        ),
        pytest.param(CUSTOM, sh(6, 9, 17), 2 * H, sh(6, 11, 10), id="custom-closed-wednesday"),
        pytest.param(CUSTOM, sh(6, 12, 17), 2 * H, sh(6, 13, 10), id="custom-extra-saturday"),
        pytest.param(CUSTOM, sh(9, 30, 17), 2 * H, sh(10, 1, 10), id="extra-beats-public-holiday"),
        pytest.param(CUSTOM, sh(6, 26, 17), 2 * H, sh(6, 29, 10), id="closed-beats-extra"),
        pytest.param(CUSTOM, sh(10, 9, 17), 2 * H, sh(10, 12, 10), id="closed-beats-substituted"),
        pytest.param(
            CHINA_SHORT_EXTRA,
            sh(10, 9, 17),
            2 * H,
            sh(10, 10, 11),
            id="substituted-uses-extra-intervals-10:00",
        ),
    ],
)
def test_add_working_time(
    cal: BusinessCalendar, start: datetime, duration: timedelta, expected: datetime
) -> None:
    result = add_working_time(cal, start, duration)
    assert result == expected
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    ("cal", "start", "n", "expected"),
    [
        pytest.param(CHINA, sh(6, 10, 10), 1, sh(6, 11, 18), id="wed-morning-n1-thu-end"),
        pytest.param(CHINA, sh(6, 10, 23), 1, sh(6, 11, 18), id="day0-never-counts-even-late"),
        pytest.param(CHINA, sh(6, 10, 7), 1, sh(6, 11, 18), id="day0-never-counts-even-early"),
        pytest.param(CHINA, sh(6, 12, 10), 1, sh(6, 15, 18), id="friday-n1-monday"),
        pytest.param(CHINA, sh(6, 18, 10), 1, sh(6, 22, 18), id="dragon-boat-and-weekend-skipped"),
        pytest.param(CHINA, sh(9, 30, 10), 1, sh(10, 8, 18), id="national-day-week-skipped"),
        pytest.param(CHINA, sh(9, 30, 10), 3, sh(10, 10, 18), id="oct8-oct9-then-substituted-sat"),
        pytest.param(CHINA, sh(9, 30, 10), 4, sh(10, 12, 18), id="sunday-oct11-skipped"),
        # Sep 29, 30, Oct 8, 9, 10 (Sat), 12, 13: the 7-working-day complaint rule.
        pytest.param(CHINA, sh(9, 28, 15), 7, sh(10, 13, 18), id="seven-days-over-golden-week"),
        pytest.param(CHINA, sh(9, 19, 10), 1, sh(9, 20, 18), id="substituted-sunday-counts"),
        pytest.param(
            CHINA_SHORT_EXTRA, sh(10, 9, 10), 1, sh(10, 10, 14), id="substituted-day-ends-14:00"
        ),
        pytest.param(ALWAYS, utc(3, 10, 15), 1, utc(3, 12), id="24x7-end-of-next-day"),
        pytest.param(NIGHT, sh(6, 8, 10), 1, sh(6, 10, 6), id="overnight-day-ends-next-morning"),
        pytest.param(
            BERLIN_EARLY,
            datetime(2026, 10, 24, 12, tzinfo=BER),
            1,
            utc(10, 25, 5),
            id="berlin-fall-06:00CET",
        ),
        pytest.param(
            NY_ALWAYS,
            datetime(2026, 10, 31, 12, tzinfo=NY),
            1,
            utc(11, 2, 5),
            id="ny-fall-full-day-ends-midnight-EST",
        ),
        pytest.param(CUSTOM, sh(6, 9, 10), 1, sh(6, 11, 18), id="custom-closed-day-not-counted"),
        pytest.param(CUSTOM, sh(6, 12, 10), 1, sh(6, 13, 18), id="custom-extra-saturday-counted"),
    ],
)
def test_add_working_days(
    cal: BusinessCalendar, start: datetime, n: int, expected: datetime
) -> None:
    result = add_working_days(cal, start, n)
    assert result == expected
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    ("cal", "a", "b", "expected"),
    [
        pytest.param(ALWAYS, utc(3, 10), utc(3, 11, 6), 30 * 3600.0, id="24x7-30h"),
        pytest.param(CHINA, sh(6, 8, 12), sh(6, 8, 10), 0.0, id="b-before-a-is-zero"),
        pytest.param(CHINA, sh(6, 8), sh(6, 9), 7.5 * 3600, id="one-office-day"),
        pytest.param(CHINA, sh(6, 8, 11), sh(6, 8, 14), 1.5 * 3600, id="lunch-not-counted"),
        pytest.param(CHINA, sh(6, 12, 17), sh(6, 15, 10), 2 * 3600.0, id="weekend-not-counted"),
        pytest.param(
            CHINA, sh(9, 30), sh(10, 11), 4 * 7.5 * 3600, id="golden-week-sep30-oct8-9-10"
        ),
        pytest.param(NIGHT, sh(6, 8, 20), sh(6, 10, 12), 16 * 3600.0, id="two-night-shifts"),
        pytest.param(
            BERLIN_EARLY,
            datetime(2026, 3, 29, tzinfo=BER),
            datetime(2026, 3, 29, 12, tzinfo=BER),
            5 * 3600.0,
            id="berlin-spring-5h",
        ),
        pytest.param(
            BERLIN_EARLY,
            datetime(2026, 10, 25, tzinfo=BER),
            datetime(2026, 10, 25, 12, tzinfo=BER),
            7 * 3600.0,
            id="berlin-fall-7h",
        ),
        pytest.param(
            BERLIN_GAP,
            datetime(2026, 3, 29, tzinfo=BER),
            datetime(2026, 3, 29, 12, tzinfo=BER),
            1800.0,
            id="berlin-gap-03:30-04:00",
        ),
        pytest.param(
            NY_NIGHT,
            datetime(2026, 3, 8, tzinfo=NY),
            datetime(2026, 3, 8, 12, tzinfo=NY),
            2 * 3600.0,
            id="ny-spring-2h",
        ),
        pytest.param(
            NY_NIGHT,
            datetime(2026, 11, 1, tzinfo=NY),
            datetime(2026, 11, 1, 12, tzinfo=NY),
            4 * 3600.0,
            id="ny-fall-4h",
        ),
    ],
)
def test_working_seconds_between(
    cal: BusinessCalendar, a: datetime, b: datetime, expected: float
) -> None:
    assert working_seconds_between(cal, a, b) == expected


def test_overlapping_intervals_are_merged() -> None:
    # Mon 22:00-Tue 06:00 and Tue 05:00-07:00 overlap by an hour: 9 h, not 10 h.
    cal = BusinessCalendar(
        tz="UTC",
        week={0: (WorkingInterval(time(22), time(6)),), 1: (WorkingInterval(time(5), time(7)),)},
    )
    assert working_seconds_between(cal, utc(6, 8), utc(6, 10)) == 9 * 3600.0
    assert add_working_time(cal, utc(6, 8, 22), 9 * H) == utc(6, 9, 7)


@pytest.mark.parametrize(
    ("cal", "t", "expected"),
    [
        pytest.param(CHINA, sh(6, 8, 9), True, id="09:00-inclusive"),
        pytest.param(CHINA, sh(6, 8, 11, 59), True, id="11:59"),
        pytest.param(CHINA, sh(6, 8, 12), False, id="12:00-exclusive"),
        pytest.param(CHINA, sh(6, 8, 18), False, id="18:00-exclusive"),
        pytest.param(CHINA, sh(10, 1, 10), False, id="national-day"),
        pytest.param(CHINA, sh(10, 10, 10), True, id="substituted-saturday"),
        pytest.param(CHINA, sh(9, 20, 10), True, id="substituted-sunday"),
        pytest.param(NIGHT, sh(6, 13, 5, 59), True, id="saturday-05:59-in-fridays-shift"),
        pytest.param(NIGHT, sh(6, 13, 6), False, id="saturday-06:00"),
        pytest.param(NIGHT, sh(6, 13, 22, 30), False, id="saturday-22:30"),
        pytest.param(ALWAYS, utc(6, 13, 3), True, id="24x7"),
    ],
)
def test_is_working_instant(cal: BusinessCalendar, t: datetime, expected: bool) -> None:
    assert is_working_instant(cal, t) is expected


@pytest.mark.parametrize(
    ("cal", "t", "expected"),
    [
        pytest.param(CHINA, sh(6, 8, 10), sh(6, 8, 10), id="inside-unchanged"),
        pytest.param(CHINA, sh(6, 8, 12, 30), sh(6, 8, 13, 30), id="lunch"),
        pytest.param(CHINA, sh(6, 12, 19), sh(6, 15, 9), id="friday-evening"),
        pytest.param(CHINA, sh(10, 1, 10), sh(10, 8, 9), id="national-day"),
        pytest.param(
            BERLIN_GAP,
            datetime(2026, 3, 29, tzinfo=BER),
            utc(3, 29, 1, 30),
            id="gap-02:30-is-03:30CEST",
        ),
    ],
)
def test_next_working_instant(cal: BusinessCalendar, t: datetime, expected: datetime) -> None:
    assert next_working_instant(cal, t) == expected


CLOSED: tuple[WorkingInterval, ...] = ()
# Monday differs from Tuesday-Friday, so which weekday an extra day borrows from shows.
MONDAY = (WorkingInterval(time(8), time(12)),)
MIXED_WEEK = {0: MONDAY, **dict.fromkeys(range(1, 5), OFFICE)}
MIXED = BusinessCalendar(
    tz="Asia/Shanghai",
    week=MIXED_WEEK,
    holiday_country="CN",
    # Oct 1 is National Day (a Thursday); Jun 13 is a Saturday.
    extra_working_days=frozenset({date(2026, 10, 1), date(2026, 6, 13)}),
)
MIXED_SHORT_EXTRA = BusinessCalendar(
    tz="Asia/Shanghai",
    week=MIXED_WEEK,
    holiday_country="CN",
    extra_working_days=frozenset({date(2026, 10, 1)}),
    extra_working_day_intervals=SHORT_EXTRA,
)


@pytest.mark.parametrize(
    ("cal", "day", "expected"),
    [
        pytest.param(CUSTOM, date(2026, 6, 27), CLOSED, id="closed>extra"),
        pytest.param(CUSTOM, date(2026, 10, 1), OFFICE, id="extra>public-holiday"),
        pytest.param(CUSTOM, date(2026, 10, 10), CLOSED, id="closed>substituted"),
        pytest.param(CUSTOM, date(2026, 6, 10), CLOSED, id="closed>weekday"),
        pytest.param(CHINA, date(2026, 10, 2), CLOSED, id="public-holiday>weekday"),
        pytest.param(CHINA, date(2026, 10, 10), OFFICE, id="substituted>weekend"),
        pytest.param(CHINA, date(2026, 10, 11), CLOSED, id="plain-sunday"),
        pytest.param(
            CHINA_SHORT_EXTRA, date(2026, 9, 20), SHORT_EXTRA, id="substituted-uses-extra-intervals"
        ),
        # An extra or substituted day keeps its own weekday's hours when it has any...
        pytest.param(MIXED, date(2026, 10, 1), OFFICE, id="extra-thursday-keeps-thursday-hours"),
        pytest.param(
            MIXED_SHORT_EXTRA, date(2026, 10, 1), OFFICE, id="own-weekday-beats-extra-intervals"
        ),
        # ...and only a weekday without hours borrows: the first weekday with any (Monday).
        pytest.param(MIXED, date(2026, 6, 13), MONDAY, id="extra-saturday-gets-mondays-hours"),
        pytest.param(MIXED, date(2026, 10, 10), MONDAY, id="substituted-saturday-mondays-hours"),
        pytest.param(
            MIXED_SHORT_EXTRA, date(2026, 10, 10), SHORT_EXTRA, id="saturday-uses-extra-intervals"
        ),
    ],
)
def test_precedence(
    cal: BusinessCalendar, day: date, expected: tuple[WorkingInterval, ...]
) -> None:
    assert cal.intervals_on(day) == expected


def test_public_holiday_beats_substituted_working_day(monkeypatch: pytest.MonkeyPatch) -> None:
    # Real data never lists a date as both, so feed the calendar one that is.
    saturday = date(2026, 6, 13)

    def both(
        country: str, subdiv: str | None, year: int
    ) -> tuple[frozenset[date], frozenset[date]]:
        return frozenset({saturday}), frozenset({saturday})

    monkeypatch.setattr(calendar_module, "_public_days", both)
    assert CHINA.intervals_on(saturday) == ()


def test_substituted_day_on_a_weekday_with_hours_keeps_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Real CN data only moves work to weekends; a library reporting a Tuesday must not
    # shorten that Tuesday to the borrowed hours.
    tuesday = date(2026, 6, 9)

    def worked(
        country: str, subdiv: str | None, year: int
    ) -> tuple[frozenset[date], frozenset[date]]:
        return frozenset(), frozenset({tuesday})

    monkeypatch.setattr(calendar_module, "_public_days", worked)
    assert MIXED_SHORT_EXTRA.intervals_on(tuesday) == OFFICE


@pytest.mark.parametrize(
    "day", [date(2026, 10, d) for d in range(1, 8)], ids=lambda d: f"oct-{d.day}"
)
def test_china_national_day_week_is_closed(day: date) -> None:
    assert CHINA.intervals_on(day) == ()


ROUND_TRIP_CALENDARS = [CHINA, NIGHT, BERLIN_EARLY, BERLIN_GAP, NY_NIGHT, CUSTOM]


@pytest.mark.parametrize(
    ("cal", "start", "duration"),
    [
        pytest.param(CHINA, sh(6, 8, 9, 17), 13 * H + 7 * M, id="china-over-lunch-and-night"),
        pytest.param(CHINA, sh(9, 30, 17, 59), 40 * H, id="china-over-golden-week"),
        pytest.param(NIGHT, sh(6, 12, 23), 20 * H, id="night-over-weekend"),
        pytest.param(
            BERLIN_EARLY, datetime(2026, 10, 24, 5, tzinfo=BER), 9 * H, id="berlin-over-fall-back"
        ),
        pytest.param(
            NY_NIGHT, datetime(2026, 3, 7, 2, tzinfo=NY), 5 * H, id="ny-over-spring-forward"
        ),
    ],
)
def test_round_trip_examples(cal: BusinessCalendar, start: datetime, duration: timedelta) -> None:
    due = add_working_time(cal, start, duration)
    assert working_seconds_between(cal, start, due) == duration.total_seconds()


def _random_round_trips() -> list[Any]:
    # A seeded sample rather than hypothesis: hypothesis writes a cache into the repo.
    rng = random.Random(20261001)
    cases = []
    for i in range(60):
        cal = rng.choice(ROUND_TRIP_CALENDARS)
        start = utc(1, 1) + timedelta(minutes=rng.randrange(365 * 24 * 60))
        duration = timedelta(minutes=rng.randrange(80 * 60), microseconds=rng.randrange(10**6))
        cases.append(pytest.param(cal, start, duration, id=f"sample-{i}-{cal.tz}"))
    return cases


@pytest.mark.parametrize(("cal", "start", "duration"), _random_round_trips())
def test_round_trip_property(cal: BusinessCalendar, start: datetime, duration: timedelta) -> None:
    due = add_working_time(cal, start, duration)
    assert working_seconds_between(cal, start, due) == duration.total_seconds()
    assert due >= start


NAIVE = datetime(2026, 6, 8, 10)
AWARE = sh(6, 8, 10)
CALLS: list[Any] = [
    pytest.param(lambda: add_working_time(CHINA, NAIVE, H), id="add_working_time"),
    pytest.param(lambda: add_working_days(CHINA, NAIVE, 1), id="add_working_days"),
    pytest.param(lambda: working_seconds_between(CHINA, NAIVE, AWARE), id="between-naive-a"),
    pytest.param(lambda: working_seconds_between(CHINA, AWARE, NAIVE), id="between-naive-b"),
    pytest.param(lambda: is_working_instant(CHINA, NAIVE), id="is_working_instant"),
    pytest.param(lambda: next_working_instant(CHINA, NAIVE), id="next_working_instant"),
    pytest.param(lambda: add_working_time(ALWAYS, NAIVE, H), id="24x7-shortcut-too"),
]


@pytest.mark.parametrize("call", CALLS)
def test_naive_input_raises(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        call()


# Only working time ever: one Monday in 2020, so every search from 2026 runs dry.
PAST_ONLY = BusinessCalendar(
    tz="UTC",
    week={},
    extra_working_days=frozenset({date(2020, 1, 6)}),
    extra_working_day_intervals=(WorkingInterval(time(9), time(17)),),
)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: add_working_time(PAST_ONLY, utc(1, 1), H), id="add_working_time"),
        pytest.param(lambda: add_working_days(PAST_ONLY, utc(1, 1), 1), id="add_working_days"),
        pytest.param(lambda: next_working_instant(PAST_ONLY, utc(1, 1)), id="next_working_instant"),
        pytest.param(lambda: add_working_time(CHINA, AWARE, -M), id="negative-duration"),
        pytest.param(lambda: add_working_days(CHINA, AWARE, 0), id="zero-working-days"),
        pytest.param(lambda: BusinessCalendar(tz="UTC", week={}), id="empty-week"),
        pytest.param(lambda: BusinessCalendar(tz="UTC", week={0: ()}), id="only-empty-days"),
        pytest.param(
            lambda: BusinessCalendar(tz="Mars/Olympus", week=OFFICE_WEEK), id="unknown-zone"
        ),
        # The host's own setting, not a zone: it would mean something else on each server.
        pytest.param(lambda: BusinessCalendar(tz="localtime", week=OFFICE_WEEK), id="localtime"),
        pytest.param(lambda: BusinessCalendar(tz="posixrules", week=OFFICE_WEEK), id="posixrules"),
        pytest.param(lambda: BusinessCalendar(tz="UTC", week={7: OFFICE}), id="weekday-7"),
        pytest.param(
            lambda: BusinessCalendar(tz="UTC", week=OFFICE_WEEK, holiday_country="XX"),
            id="unknown-country",
        ),
        pytest.param(
            lambda: BusinessCalendar(tz="UTC", week=OFFICE_WEEK, holiday_subdivision="BY"),
            id="subdivision-without-country",
        ),
        pytest.param(
            lambda: WorkingInterval(time(9, tzinfo=UTC), time(17)), id="aware-interval-time"
        ),
    ],
)
def test_invalid_or_exhausted_raises(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        call()


def test_between_terminates_on_calendar_without_working_time() -> None:
    # Within the horizon the count is simply zero; a longer range is refused, not walked.
    assert working_seconds_between(PAST_ONLY, utc(1, 1), datetime(2028, 12, 31, tzinfo=UTC)) == 0.0
    with pytest.raises(CalendarHorizonError, match="at most 1098 days"):
        working_seconds_between(PAST_ONLY, utc(1, 1), datetime(2030, 1, 1, tzinfo=UTC))


def test_calendar_is_a_value() -> None:
    week = dict(OFFICE_WEEK)
    cal = BusinessCalendar(tz="Asia/Shanghai", week=week, holiday_country="CN")
    week[5] = OFFICE  # the caller's dict changing later must not reach the calendar
    assert cal == CHINA
    assert hash(cal) == hash(CHINA)
    assert cal.intervals_on(date(2026, 6, 13)) == ()


# --- pathological calendars, the horizon and the work budget ---------------------------------

FULL_DAY = (WorkingInterval(time(0), time(0)),)
SPLIT_DAY = (WorkingInterval(time(0), time(22)), WorkingInterval(time(22), time(0)))
# Open every minute, but the one closed day hides that from the O(1) shortcut: every
# search walks, and used to merge spans until the date overflowed.
ALL_DAY_CLOSED_PAST = BusinessCalendar(
    tz="UTC", week=dict.fromkeys(range(7), FULL_DAY), closed_days=frozenset({date(2020, 1, 1)})
)
ALL_DAY_CLOSED_FUTURE = BusinessCalendar(
    tz="UTC", week=dict.fromkeys(range(7), FULL_DAY), closed_days=frozenset({date(2026, 11, 4)})
)
# Split intervals that tile the day are open around the clock too (the shortcut applies).
SPLIT = BusinessCalendar(tz="Asia/Shanghai", week=dict.fromkeys(range(7), SPLIT_DAY))
SPLIT_CLOSED = BusinessCalendar(
    tz="Asia/Shanghai",
    week=dict.fromkeys(range(7), SPLIT_DAY),
    closed_days=frozenset({date(2020, 1, 1)}),
)
NY_ALL_DAY_CLOSED = BusinessCalendar(
    tz="America/New_York",
    week=dict.fromkeys(range(7), FULL_DAY),
    closed_days=frozenset({date(2020, 1, 1)}),
)
# One hour on each New Year's Day, 2027 to 2035.
ONE_HOUR_A_YEAR = BusinessCalendar(
    tz="UTC",
    week={},
    extra_working_days=frozenset(date(y, 1, 1) for y in range(2027, 2036)),
    extra_working_day_intervals=(WorkingInterval(time(9), time(10)),),
)
OFFICE_UTC = BusinessCalendar(tz="UTC", week=OFFICE_WEEK)
# The extreme offsets: the UTC instant of a local midnight is a whole day off the date.
KIRITIMATI = BusinessCalendar(
    tz="Pacific/Kiritimati", week=dict.fromkeys(range(7), (WorkingInterval(time(22), time(6)),))
)
GMT_MINUS_12 = BusinessCalendar(tz="Etc/GMT+12", week=OFFICE_WEEK)

D = timedelta(days=1)
JUN_1 = utc(6, 1)
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


def y(year: int, month: int = 1, day: int = 1, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


HORIZON = CalendarHorizonError
PATHOLOGICAL: list[Any] = [
    pytest.param(
        lambda: add_working_time(ALL_DAY_CLOSED_PAST, utc(11, 2, 1), H),
        utc(11, 2, 2),
        id="all-day-closed-past-1h",
    ),
    pytest.param(
        lambda: add_working_time(ALL_DAY_CLOSED_PAST, utc(11, 2, 1), 400 * D),
        datetime(2027, 12, 7, 1, tzinfo=UTC),
        id="all-day-closed-past-400-days",
    ),
    # Nov 3 12:00 + 12 h = Nov 4 00:00, closed all day, then 12 h of Nov 5.
    pytest.param(
        lambda: add_working_time(ALL_DAY_CLOSED_FUTURE, utc(11, 3, 12), 24 * H),
        utc(11, 5, 12),
        id="all-day-closed-future-skips-the-day",
    ),
    pytest.param(
        lambda: add_working_time(ALL_DAY_CLOSED_FUTURE, utc(11, 2, 1), 400 * D),
        datetime(2027, 12, 8, 1, tzinfo=UTC),
        id="all-day-closed-future-400-days",
    ),
    pytest.param(
        lambda: add_working_time(ALL_DAY_CLOSED_FUTURE, utc(11, 2, 1), 1200 * D),
        HORIZON("deadline lies more than 1098 days after 2026-11-02"),
        id="all-day-beyond-horizon",
    ),
    pytest.param(
        lambda: working_seconds_between(ALL_DAY_CLOSED_FUTURE, utc(11, 1), utc(11, 1) + 1000 * D),
        999 * 86400.0,
        id="all-day-between-1000-days",
    ),
    pytest.param(
        lambda: working_seconds_between(ALL_DAY_CLOSED_FUTURE, utc(11, 1), utc(11, 1) + 1200 * D),
        HORIZON("at most 1098 days"),
        id="all-day-between-beyond-horizon",
    ),
    pytest.param(
        lambda: add_working_days(ALL_DAY_CLOSED_FUTURE, utc(11, 3, 12), 1), utc(11, 6), id="wd"
    ),
    # Mon 21:30 + 1 h runs on from 00:00-22:00 into 22:00-00:00 without a break.
    pytest.param(
        lambda: add_working_time(SPLIT_CLOSED, sh(6, 8, 21, 30), H),
        sh(6, 8, 22, 30),
        id="split-closed-over-22:00",
    ),
    pytest.param(
        lambda: add_working_time(SPLIT_CLOSED, sh(6, 8, 21, 30), 300 * D),
        sh(6, 8, 21, 30) + 300 * D,
        id="split-closed-300-days",
    ),
    pytest.param(
        lambda: add_working_time(SPLIT, sh(6, 8, 21, 30), 5000 * D),
        sh(6, 8, 21, 30) + 5000 * D,
        id="split-shortcut-has-no-horizon",
    ),
    # 1 h in each of 2027, 2028 and 2029, on Jan 1 from 09:00.
    pytest.param(
        lambda: next_working_instant(ONE_HOUR_A_YEAR, JUN_1),
        y(2027, 1, 1, 9),
        id="one-hour-a-year-next",
    ),
    pytest.param(
        lambda: add_working_time(ONE_HOUR_A_YEAR, JUN_1, 3 * H),
        y(2029, 1, 1, 10),
        id="one-hour-a-year-3h-in-945-days",
    ),
    pytest.param(
        lambda: add_working_time(ONE_HOUR_A_YEAR, JUN_1, 4 * H),
        HORIZON("deadline lies more than 1098 days after 2026-06-01"),
        id="one-hour-a-year-4h-in-1310-days",
    ),
    pytest.param(
        lambda: add_working_days(ONE_HOUR_A_YEAR, JUN_1, 3),
        y(2029, 1, 1, 10),
        id="one-hour-a-year-3-days",
    ),
    pytest.param(
        lambda: add_working_days(ONE_HOUR_A_YEAR, JUN_1, 4),
        HORIZON("working day 4 lies more than 1098 days after 2026-06-01"),
        id="one-hour-a-year-4-days",
    ),
    pytest.param(
        lambda: working_seconds_between(ONE_HOUR_A_YEAR, JUN_1, y(2029, 6, 1)),
        3 * 3600.0,
        id="one-hour-a-year-between",
    ),
    pytest.param(
        lambda: next_working_instant(ONE_HOUR_A_YEAR, y(2036)),
        HORIZON("no working time within 1098 days after 2036-01-01"),
        id="one-hour-a-year-runs-dry",
    ),
    # Year 1: Jan 1 is a Monday.
    pytest.param(
        lambda: add_working_time(OFFICE_UTC, EARLIEST, H), y(1, 1, 1, 10), id="year-1-office"
    ),
    pytest.param(
        lambda: add_working_time(ALL_DAY_CLOSED_PAST, EARLIEST, H),
        y(1, 1, 1, 1),
        id="year-1-all-day",
    ),
    pytest.param(
        lambda: working_seconds_between(OFFICE_UTC, EARLIEST, y(1, 1, 8)),
        5 * 7.5 * 3600,
        id="year-1-between-a-week",
    ),
    # New York's first local midnight (LMT, -4:56:02) is 04:56:02Z: before it lies no date.
    pytest.param(
        lambda: is_working_instant(NY_ALL_DAY_CLOSED, EARLIEST), False, id="year-1-ny-before-date"
    ),
    pytest.param(
        lambda: is_working_instant(NY_ALL_DAY_CLOSED, y(1, 1, 1, 5)), True, id="year-1-ny"
    ),
    pytest.param(
        lambda: add_working_time(NY_ALL_DAY_CLOSED, EARLIEST, H),
        datetime(1, 1, 1, 5, 56, 2, tzinfo=UTC),
        id="year-1-ny-first-hour",
    ),
    pytest.param(
        lambda: add_working_time(ALWAYS, EARLIEST, H), y(1, 1, 1, 1), id="year-1-shortcut"
    ),
    # 2100: Jan 4 is a Monday and no CN holiday.
    pytest.param(
        lambda: add_working_time(CHINA, y(2100, 1, 4, 1), 2 * H),
        y(2100, 1, 4, 3),
        id="year-2100-china",
    ),
    pytest.param(
        lambda: add_working_time(ALL_DAY_CLOSED_PAST, y(2100, 1, 4, 1), 30 * D),
        y(2100, 2, 3, 1),
        id="year-2100-all-day-30-days",
    ),
    # 9999: Dec 30 is a Thursday, Dec 31 a Friday.
    pytest.param(
        lambda: add_working_time(ALL_DAY_CLOSED_PAST, y(9999, 12, 30), H),
        y(9999, 12, 30, 1),
        id="year-9999-representable",
    ),
    pytest.param(
        lambda: add_working_time(OFFICE_UTC, y(9999, 12, 31, 17), H),
        y(9999, 12, 31, 18),
        id="year-9999-last-hour-of-office",
    ),
    pytest.param(
        lambda: add_working_time(OFFICE_UTC, y(9999, 12, 31, 17), 2 * H),
        HORIZON("deadline lies beyond the end of year 9999"),
        id="year-9999-past-the-end",
    ),
    pytest.param(
        lambda: add_working_time(ALWAYS, y(9999, 12, 31, 23), 2 * H),
        HORIZON("beyond the end of year 9999"),
        id="year-9999-shortcut",
    ),
    pytest.param(
        lambda: add_working_days(OFFICE_UTC, y(9999, 12, 31, 12), 1),
        HORIZON("no working time from 9999-12-31 to the end of year 9999"),
        id="year-9999-no-next-day",
    ),
    pytest.param(
        lambda: working_seconds_between(OFFICE_UTC, y(9999, 12, 27), LATEST),
        5 * 7.5 * 3600,
        id="year-9999-last-week",
    ),
    pytest.param(
        lambda: working_seconds_between(OFFICE_UTC, y(2026), y(9999)),
        HORIZON("at most 1098 days"),
        id="appointment-in-year-9999",
    ),
]


@pytest.mark.parametrize(("call", "expected"), PATHOLOGICAL)
def test_pathological_calendars_and_instants(call: Callable[[], object], expected: object) -> None:
    if isinstance(expected, CalendarHorizonError):
        with pytest.raises(CalendarHorizonError, match=str(expected)):
            call()
    else:
        assert call() == expected


EDGE_CALENDARS = [
    ALWAYS,
    NY_ALWAYS,
    CHINA,
    NIGHT,
    NY_NIGHT,
    BERLIN_GAP,
    ALL_DAY_CLOSED_PAST,
    NY_ALL_DAY_CLOSED,
    SPLIT,
    SPLIT_CLOSED,
    ONE_HOUR_A_YEAR,
    KIRITIMATI,
    GMT_MINUS_12,
]
EDGE_INSTANTS = [
    EARLIEST,
    y(1, 1, 1, 12),
    y(2100, 3, 1),
    y(9999, 12, 29),
    y(9999, 12, 31, 23),
    LATEST,
]


@pytest.mark.parametrize("t", EDGE_INSTANTS, ids=lambda t: t.isoformat())
@pytest.mark.parametrize("cal", EDGE_CALENDARS, ids=lambda c: c.tz)
def test_no_overflow_error_escapes(cal: BusinessCalendar, t: datetime) -> None:
    # Every answer is an answer or a CalendarHorizonError, never an OverflowError (a 500).
    later = t + min(D, LATEST - t)
    earlier = t - min(D, t - EARLIEST)
    calls: list[Callable[[], object]] = [
        lambda: add_working_time(cal, t, timedelta(0)),
        lambda: add_working_time(cal, t, H),
        lambda: add_working_time(cal, t, 300 * D),
        lambda: add_working_days(cal, t, 1),
        lambda: add_working_days(cal, t, 365),
        lambda: next_working_instant(cal, t),
        lambda: is_working_instant(cal, t),
        lambda: working_seconds_between(cal, t, later),
        lambda: working_seconds_between(cal, earlier, t),
        lambda: working_seconds_between(cal, EARLIEST, LATEST),
    ]
    for call in calls:
        try:
            result = call()
        except CalendarHorizonError:
            continue
        if isinstance(result, datetime):
            assert result >= t


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        pytest.param(H, y(9999, 12, 31, 9), id="1h"),
        pytest.param(15 * H, y(9999, 12, 31, 23), id="15h"),
        pytest.param(16 * H, None, id="16h-past-the-end"),
    ],
)
def test_results_stay_exact_next_to_the_ends_of_time(
    duration: timedelta, expected: datetime | None
) -> None:
    # Kiritimati is UTC+14: the shift from 22:00 on Dec 31 of year 9999 (08:00Z) ends in
    # year 10000, yet its hours up to the end of datetime's range still count.
    start = datetime(9999, 12, 31, 8, tzinfo=ZoneInfo("Pacific/Kiritimati"))
    if expected is None:
        with pytest.raises(CalendarHorizonError, match="end of year 9999"):
            add_working_time(KIRITIMATI, start, duration)
    else:
        assert add_working_time(KIRITIMATI, start, duration) == expected


@pytest.mark.parametrize(
    ("cal", "works_around_the_clock"),
    [
        pytest.param(ALWAYS, True, id="00:00-00:00"),
        pytest.param(SPLIT, True, id="00:00-22:00+22:00-00:00"),
        pytest.param(
            BusinessCalendar(
                tz="Europe/Berlin",
                week=dict.fromkeys(range(7), (WorkingInterval(time(22), time(22)),)),
            ),
            True,
            id="24h-from-22:00-each-day",
        ),
        pytest.param(
            BusinessCalendar(
                tz="UTC",
                week={
                    **dict.fromkeys(range(7), FULL_DAY),
                    0: (WorkingInterval(time(6), time(6)),),
                    1: (WorkingInterval(time(12), time(12)),),
                },
            ),
            False,
            id="tuesday-06:00-12:00-uncovered",
        ),
        pytest.param(
            BusinessCalendar(
                tz="UTC",
                week=dict.fromkeys(
                    range(7),
                    (WorkingInterval(time(0), time(12)), WorkingInterval(time(11), time(0))),
                ),
            ),
            False,
            id="overlap-left-to-the-walk",
        ),
        pytest.param(
            BusinessCalendar(tz="UTC", week=dict.fromkeys(range(6), FULL_DAY)), False, id="6-days"
        ),
        pytest.param(ALL_DAY_CLOSED_PAST, False, id="closed-day"),
        pytest.param(
            BusinessCalendar(
                tz="Asia/Shanghai", week=dict.fromkeys(range(7), FULL_DAY), holiday_country="CN"
            ),
            False,
            id="public-holidays",
        ),
    ],
)
def test_around_the_clock_calendars_walk_nothing(
    cal: BusinessCalendar, works_around_the_clock: bool
) -> None:
    start = utc(6, 8, 10)
    if works_around_the_clock:
        with day_budget(0):
            assert add_working_time(cal, start, 48 * H) == start + 48 * H
            assert working_seconds_between(cal, start, start + 48 * H) == 48 * 3600.0
            assert next_working_instant(cal, start) == start
    else:
        with day_budget(0), pytest.raises(BudgetExceeded):
            add_working_time(cal, start, 48 * H)


# Dec 22 09:30 (a Tuesday) to the next working time, Jan 1 2027 09:00, walks Dec 21
# (for an overnight interval) to Jan 1: 12 local days.
def _next_new_year() -> object:
    return next_working_instant(ONE_HOUR_A_YEAR, utc(12, 22, 9, 30))


@pytest.mark.parametrize(
    ("budget", "call", "fits"),
    [
        pytest.param(12, _next_new_year, True, id="12-days-fit-12"),
        pytest.param(11, _next_new_year, False, id="12-days-exceed-11"),
        pytest.param(None, _next_new_year, True, id="no-budget"),
        # One span a day, so the walk is linear: 1 h takes yesterday and today...
        pytest.param(
            2, lambda: add_working_time(ALL_DAY_CLOSED_PAST, utc(6, 8, 10), H), True, id="1h-2-days"
        ),
        # ...and 30 days take 32 (yesterday, today and 30 more).
        pytest.param(
            32,
            lambda: add_working_time(ALL_DAY_CLOSED_PAST, utc(6, 8, 10), 30 * D),
            True,
            id="30d-in-32-days",
        ),
        pytest.param(
            31,
            lambda: add_working_time(ALL_DAY_CLOSED_PAST, utc(6, 8, 10), 30 * D),
            False,
            id="30d-not-in-31-days",
        ),
        # A count whose range the budget cannot cover fails before walking.
        pytest.param(
            5, lambda: working_seconds_between(CHINA, sh(6, 8), sh(6, 18)), False, id="between"
        ),
        # Jun 9 to 17: seven working days and a weekend, nine days in all.
        pytest.param(
            9, lambda: add_working_days(CHINA, sh(6, 8, 10), 7), True, id="7-working-days-in-9"
        ),
        pytest.param(8, lambda: add_working_days(CHINA, sh(6, 8, 10), 7), False, id="not-in-8"),
    ],
)
def test_day_budget(budget: int | None, call: Callable[[], object], fits: bool) -> None:
    with day_budget(budget):
        if fits:
            call()
        else:
            with pytest.raises(BudgetExceeded):
                call()


def test_day_budget_is_shared_by_calls_and_restored_after() -> None:
    with day_budget(20):
        _next_new_year()  # 12 days
        with pytest.raises(BudgetExceeded):
            _next_new_year()  # 12 more
        with day_budget(None):
            _next_new_year()
    _next_new_year()  # no budget outside the block
    # Code that turns a bad input (ValueError) into a 422 must never swallow it.
    assert not issubclass(BudgetExceeded, ValueError)
    assert issubclass(CalendarHorizonError, ValueError)


def test_horizon_is_about_three_years() -> None:
    assert 3 * 365 <= HORIZON_DAYS <= 3 * 366


WALKING = [ALL_DAY_CLOSED_PAST, ALL_DAY_CLOSED_FUTURE, SPLIT_CLOSED, NY_ALL_DAY_CLOSED, PAST_ONLY]


@pytest.mark.parametrize("cal", WALKING, ids=lambda c: f"{c.tz}-{sorted(c.closed_days)[:1]}")
def test_every_walk_stops_at_the_horizon(cal: BusinessCalendar) -> None:
    # The most any one call may walk: the day before the start, the start's, the horizon.
    start = utc(11, 2, 1)
    calls: list[Callable[[], object]] = [
        lambda: add_working_time(cal, start, 2000 * D),
        lambda: add_working_days(cal, start, 2000),
        lambda: next_working_instant(cal, start),
        lambda: working_seconds_between(cal, start, start + HORIZON_DAYS * D),
        lambda: working_seconds_between(cal, start, start + 2000 * D),
    ]
    for call in calls:
        with day_budget(HORIZON_DAYS + 2), contextlib.suppress(CalendarHorizonError):
            call()


@pytest.mark.parametrize(
    ("cal", "start", "duration"),
    [
        pytest.param(ALL_DAY_CLOSED_FUTURE, utc(11, 3, 7), 50 * H, id="over-the-closed-day"),
        pytest.param(SPLIT_CLOSED, sh(6, 8, 21, 59), 3 * D + 7 * M, id="split-many-days"),
        pytest.param(NY_ALL_DAY_CLOSED, datetime(2026, 11, 1, tzinfo=NY), 30 * H, id="ny-fall"),
        pytest.param(ONE_HOUR_A_YEAR, JUN_1, 150 * M, id="one-hour-a-year"),
    ],
)
def test_round_trip_on_pathological_calendars(
    cal: BusinessCalendar, start: datetime, duration: timedelta
) -> None:
    due = add_working_time(cal, start, duration)
    assert working_seconds_between(cal, start, due) == duration.total_seconds()
