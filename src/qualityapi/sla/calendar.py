"""Business calendars: working time over local wall-clock hours, holidays and DST.

Pure: no I/O, no database, no framework. Every function takes timezone-aware datetimes
(naive ones raise ValueError) and returns UTC. Durations are real elapsed time measured in
UTC; wall-clock times only lay out the working intervals of each local day.

Rules
- A `WorkingInterval` belongs to the local date it starts on and is half-open
  [start, end). Its length is (end - start) modulo 24 h, with 0 read as 24 h: 09:00-18:00
  is 9 h, 22:00-06:00 ends on the next day, and 00:00-00:00 is the whole day.
- Wall-clock times are resolved with fold=0 (PEP 495). A time skipped by a spring-forward
  gap takes the offset in force before the gap, so it moves forward by the gap (Berlin
  02:30 -> 03:30 CEST); a time repeated by a fall-back is its first occurrence. Real
  elapsed time is what counts: 00:00-06:00 holds 5 h on Berlin's spring day and 7 h on its
  autumn day. Both ends follow the rule, so an interval lying inside the gap moves forward
  whole, and one that starts in the gap may shrink or vanish (02:30-03:00 holds nothing).
  A time at the very start of a gap maps to the transition instant itself.
- The schedule of a local date, first match wins: custom closed day (closed) > custom extra
  working day > public holiday (closed) > substituted working day reported by the
  `holidays` library > the weekday's intervals. Extra and substituted working days use
  `extra_working_day_intervals`, which defaults to Monday's intervals (or the first
  weekday after Monday that has any).
- `add_working_days`: the local date of `start` is day 0 and never counts, whatever the
  time; the result is the end of the Nth following working day's last interval.
- Searches give up with ValueError after `_HORIZON_DAYS` consecutive days without working
  time, so a calendar with no working time can never loop forever.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

__all__ = [
    "BusinessCalendar",
    "WorkingInterval",
    "add_working_days",
    "add_working_time",
    "is_working_instant",
    "next_working_instant",
    "working_seconds_between",
]

_DAY = timedelta(days=1)
_ZERO = timedelta(0)
_HORIZON_DAYS = 3 * 366

_Span = tuple[datetime, datetime]


@dataclass(frozen=True)
class WorkingInterval:
    """Local wall-clock working hours; `end <= start` crosses midnight, `end == start` is 24 h."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            # The calendar's zone decides the offset per date; a fixed tzinfo here would
            # silently ignore DST.
            raise ValueError("WorkingInterval times are wall-clock times and take no tzinfo")


@dataclass(frozen=True)
class BusinessCalendar:
    """When work happens: a weekly schedule in one IANA zone, plus holidays and exceptions."""

    tz: str
    week: Mapping[int, tuple[WorkingInterval, ...]]
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    closed_days: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()
    extra_working_day_intervals: tuple[WorkingInterval, ...] | None = None
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _extra: tuple[WorkingInterval, ...] = field(init=False, repr=False, compare=False)
    _always_open: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            zone = ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {self.tz!r}") from exc
        if not set(self.week) <= set(range(7)):
            raise ValueError("week keys are weekdays: 0 (Monday) to 6 (Sunday)")
        # A private read-only copy: the caller's dict must not be able to change a
        # calendar that is used as a hash key.
        week = MappingProxyType({d: tuple(self.week.get(d, ())) for d in range(7)})
        if self.extra_working_day_intervals is not None:
            extra = tuple(self.extra_working_day_intervals)
        else:
            extra = next((week[d] for d in range(7) if week[d]), ())
        if self.holiday_subdivision is not None and self.holiday_country is None:
            raise ValueError("holiday_subdivision needs a holiday_country")
        if self.holiday_country is not None:
            try:
                holidays.country_holidays(self.holiday_country, subdiv=self.holiday_subdivision)
            except NotImplementedError as exc:
                raise ValueError(str(exc)) from exc
        may_add_days = bool(self.extra_working_days) or self.holiday_country is not None
        if not any(week.values()) and not (extra and may_add_days):
            raise ValueError("calendar has no working time at all")
        always_open = (
            self.holiday_country is None
            and not self.closed_days
            and all(any(i.start == i.end for i in week[d]) for d in range(7))
        )
        object.__setattr__(self, "week", week)
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_extra", extra)
        object.__setattr__(self, "_always_open", always_open)

    def __hash__(self) -> int:
        # The generated hash would fail on the Mapping field.
        return hash(
            (
                self.tz,
                tuple(self.week.items()),
                self.holiday_country,
                self.holiday_subdivision,
                self.closed_days,
                self.extra_working_days,
                self.extra_working_day_intervals,
            )
        )

    @classmethod
    def always_open(cls) -> BusinessCalendar:
        """The built-in `24x7` calendar: UTC, every day 00:00-24:00, no holidays."""
        full_day = (WorkingInterval(time(0), time(0)),)
        return cls(tz="UTC", week=dict.fromkeys(range(7), full_day))

    @classmethod
    def china_business(cls) -> BusinessCalendar:
        """Asia/Shanghai, Mon-Fri 09:00-12:00 and 13:30-18:00, CN holidays and 调休 days."""
        day = (WorkingInterval(time(9), time(12)), WorkingInterval(time(13, 30), time(18)))
        return cls(tz="Asia/Shanghai", week=dict.fromkeys(range(5), day), holiday_country="CN")

    def intervals_on(self, day: date) -> tuple[WorkingInterval, ...]:
        """The working intervals that start on local date `day`, after all exceptions."""
        if day in self.closed_days:
            return ()
        if day in self.extra_working_days:
            return self._extra
        if self.holiday_country is not None:
            closed, worked = _public_days(self.holiday_country, self.holiday_subdivision, day.year)
            if day in closed:
                return ()
            if day in worked:
                return self._extra
        return self.week[day.weekday()]


@functools.lru_cache(maxsize=512)
def _public_days(
    country: str, subdiv: str | None, year: int
) -> tuple[frozenset[date], frozenset[date]]:
    """Public holidays and substituted (weekend) working days falling in `year`."""
    # Neighbouring years are generated too because both kinds of day cross year ends: a
    # holiday observed in the next January, a December weekend worked for the next year's
    # Spring Festival.
    table = holidays.country_holidays(country, subdiv=subdiv, years=range(year - 1, year + 2))
    closed = frozenset(d for d in table if d.year == year)
    # weekend_workdays is the library's documented set of "working days moved to
    # weekends"; is_working_day confirms each against the library's own weekend.
    worked = frozenset(
        d for d in table.weekend_workdays if d.year == year and table.is_working_day(d)
    )
    return closed, worked


def _wall_to_utc(day: date, wall: time, zone: ZoneInfo) -> datetime:
    # fold=0 is the documented rule for gaps and repeated hours (module docstring).
    return datetime.combine(day, wall.replace(fold=0), tzinfo=zone).astimezone(UTC)


def _day_spans(cal: BusinessCalendar, day: date) -> list[_Span]:
    spans = []
    for interval in cal.intervals_on(day):
        end_day = day + _DAY if interval.end <= interval.start else day
        start = _wall_to_utc(day, interval.start, cal._zone)
        end = _wall_to_utc(end_day, interval.end, cal._zone)
        if end > start:
            spans.append((start, end))
    spans.sort()
    return spans


def _spans_from(
    cal: BusinessCalendar, t: datetime, until: datetime | None = None
) -> Iterator[_Span]:
    """Disjoint working spans in UTC, in order, that end after `t`; the first starts >= t.

    With `until`, stops once no further span can start before it. Without it, never ends
    normally: raises ValueError after `_HORIZON_DAYS` days in a row without working time.
    """
    zone = cal._zone
    # Start a day early: an overnight interval from yesterday may still be running.
    day = t.astimezone(zone).date() - _DAY
    pending: _Span | None = None
    idle_days = 0
    while True:
        day_start = _wall_to_utc(day, time(0), zone)
        # Spans of this day and later start at or after day_start, so a pending span
        # that ends before it can no longer grow by merging.
        if pending is not None and day_start > pending[1]:
            yield pending
            pending = None
        if until is not None and day_start >= until:
            break
        spans = _day_spans(cal, day)
        idle_days = 0 if spans else idle_days + 1
        if until is None and idle_days > _HORIZON_DAYS:
            raise ValueError(f"no working time within {_HORIZON_DAYS} days after {t.isoformat()}")
        for start, end in spans:
            if end <= t:
                continue
            start = max(start, t)
            if pending is None:
                pending = (start, end)
            elif start <= pending[1]:
                pending = (pending[0], max(pending[1], end))
            else:
                yield pending
                pending = (start, end)
        day += _DAY
    if pending is not None:
        yield pending


def _utc(name: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value!r}")
    return value.astimezone(UTC)


def is_working_instant(cal: BusinessCalendar, t: datetime) -> bool:
    """Whether `t` lies inside working time (intervals are half-open)."""
    t = _utc("t", t)
    if cal._always_open:
        return True
    local_day = t.astimezone(cal._zone).date()
    return any(
        start <= t < end
        for day in (local_day - _DAY, local_day)
        for start, end in _day_spans(cal, day)
    )


def next_working_instant(cal: BusinessCalendar, t: datetime) -> datetime:
    """`t` itself if it is working time, else the start of the next working interval."""
    t = _utc("t", t)
    if cal._always_open:
        return t
    return next(_spans_from(cal, t))[0]


def add_working_time(cal: BusinessCalendar, start: datetime, duration: timedelta) -> datetime:
    """The instant at which `duration` of working time has elapsed since `start`.

    Counting begins at `next_working_instant(start)`, so a zero duration returns that
    instant (`start` itself when it is working time): the result never sits in closed time
    just because the duration is zero. A duration used up exactly at an interval's end is
    due at that end, not at the start of the next interval.
    """
    start = _utc("start", start)
    if duration < _ZERO:
        raise ValueError(f"duration must be >= 0, got {duration}")
    if cal._always_open:
        # In UTC, so that a day across a DST change is 24 real hours.
        return start + duration
    remaining = duration
    spans = _spans_from(cal, start)
    while True:
        span_start, span_end = next(spans)
        if remaining <= span_end - span_start:
            return span_start + remaining
        remaining -= span_end - span_start


def add_working_days(cal: BusinessCalendar, start: datetime, n: int) -> datetime:
    """The end of the last working interval of the Nth working day after `start`'s date.

    The local date of `start` is day 0 and never counts, whatever the time of day: a
    complaint logged at 08:00 or at 23:00 on Monday with n=1 is due at the end of Tuesday.
    """
    start = _utc("start", start)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    day = start.astimezone(cal._zone).date()
    remaining = n
    idle_days = 0
    while True:
        day += _DAY
        spans = _day_spans(cal, day)
        if not spans:
            idle_days += 1
            if idle_days > _HORIZON_DAYS:
                raise ValueError(f"no working day within {_HORIZON_DAYS} days after {day}")
            continue
        idle_days = 0
        remaining -= 1
        if remaining == 0:
            return max(end for _, end in spans)


def working_seconds_between(cal: BusinessCalendar, a: datetime, b: datetime) -> float:
    """Working seconds in [a, b); 0 when b <= a. Inverse of `add_working_time`."""
    a = _utc("a", a)
    b = _utc("b", b)
    if b <= a:
        return 0.0
    if cal._always_open:
        return (b - a).total_seconds()
    # timedelta keeps microseconds exact, so the round trip with add_working_time is exact.
    total = _ZERO
    for start, end in _spans_from(cal, a, until=b):
        if start >= b:
            break
        total += min(end, b) - start
    return total.total_seconds()
