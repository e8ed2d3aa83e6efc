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
  `holidays` library > the weekday's intervals.
- An extra or substituted working day works its own weekday's intervals when that weekday
  has any (a Thursday public holiday listed as an extra day keeps Thursday's hours). On a
  weekday without hours it works `extra_working_day_intervals`, which defaults to the
  intervals of the first weekday, from Monday on, that has any.
- Overlapping intervals count once: the later one is clipped to start where the earlier
  ends. Adjacent ones are not merged (the sum is the same), so a calendar that works every
  minute still advances one day at a time and its walks stay bounded.
- `add_working_days`: the local date of `start` is day 0 and never counts, whatever the
  time; the result is the end of the Nth following working day's last interval.
- Horizon: a walk covers local dates from the day before the starting instant's (an
  overnight interval may still run) to `HORIZON_DAYS` after it. An answer that lies beyond,
  or beyond the end of year 9999, raises `CalendarHorizonError` (a ValueError), and so does
  `working_seconds_between` over a longer range. On a calendar whose every weekday is
  worked around the clock (00:00-00:00, or intervals that tile the day such as
  00:00-22:00 + 22:00-00:00), with no holidays and no closed days, everything but
  `add_working_days` is plain UTC arithmetic without a walk, so only datetime's own range
  limits it.
- Work budget: inside `day_budget(n)`, all calls together walk at most n local days, then
  raise `BudgetExceeded` (sla/offload.py retries such a call off the event loop).
- Around year 1 and year 9999 a wall-clock time whose UTC instant does not exist is clamped
  to datetime's range; every answer that is itself representable stays exact. An instant
  before the zone's first local midnight of year 1 has no local date and is never working
  time.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

__all__ = [
    "HORIZON_DAYS",
    "BudgetExceeded",
    "BusinessCalendar",
    "CalendarHorizonError",
    "WorkingInterval",
    "add_working_days",
    "add_working_time",
    "day_budget",
    "is_working_instant",
    "next_working_instant",
    "working_seconds_between",
]

# Three years: a year-long target on a sparse calendar still fits, and the worst walk
# (about 1100 days of cached spans) stays a few milliseconds of CPU.
HORIZON_DAYS = 3 * 366

_DAY = timedelta(days=1)
_ZERO = timedelta(0)
_MIN_UTC = datetime.min.replace(tzinfo=UTC)
_MAX_UTC = datetime.max.replace(tzinfo=UTC)

_Span = tuple[datetime, datetime]


class CalendarHorizonError(ValueError):
    """No answer within `HORIZON_DAYS` (or before the end of year 9999)."""


class BudgetExceeded(Exception):
    """The walk needs more days than the current `day_budget` allows.

    Internal: the caller reruns the call where it may take longer (sla/offload.py). Not a
    ValueError, so that code turning bad input into a 422 never swallows it.
    """


class _Budget:
    __slots__ = ("left",)

    def __init__(self, days: int) -> None:
        self.left = days


# A context variable rather than a parameter: the budget must reach walks made deep inside
# deadline functions that know nothing about it, and asyncio.to_thread copies it.
_BUDGET: ContextVar[_Budget | None] = ContextVar("calendar_day_budget", default=None)


@contextmanager
def day_budget(days: int | None) -> Iterator[None]:
    """Within the block, calendar calls together walk at most `days` local days.

    Past it they raise BudgetExceeded. None lifts the budget; the horizon still applies.
    """
    token = _BUDGET.set(None if days is None else _Budget(days))
    try:
        yield
    finally:
        _BUDGET.reset(token)


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

    @property
    def offsets(self) -> tuple[timedelta, timedelta]:
        """Start and end as offsets from the local midnight of its own date (end <= 48 h)."""
        start = _offset(self.start)
        length = (_offset(self.end) - start) % _DAY or _DAY
        return start, start + length


def _offset(wall: time) -> timedelta:
    return timedelta(
        hours=wall.hour, minutes=wall.minute, seconds=wall.second, microseconds=wall.microsecond
    )


# Files in the zone database that are not zones but the host's setting: a calendar or a
# report in "localtime" would mean something else on every server.
_HOST_ZONES = frozenset({"localtime", "posixrules"})


def iana_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (ValueError naming it when there is none)."""
    try:
        if name in _HOST_ZONES:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {name!r}") from exc


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
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        zone = iana_zone(self.tz)
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
            self.holiday_country is None and not self.closed_days and _works_around_clock(week)
        )
        object.__setattr__(self, "week", week)
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_extra", extra)
        object.__setattr__(self, "_always_open", always_open)
        # Computed once: the calendar is half of every span-cache key, hashed per day walked.
        object.__setattr__(
            self,
            "_hash",
            hash(
                (
                    self.tz,
                    tuple(week.items()),
                    self.holiday_country,
                    self.holiday_subdivision,
                    self.closed_days,
                    self.extra_working_days,
                    self.extra_working_day_intervals,
                )
            ),
        )

    def __hash__(self) -> int:
        # The generated hash would fail on the Mapping field.
        return self._hash

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
            return self._worked(day)
        if self.holiday_country is not None:
            closed, worked = _public_days(self.holiday_country, self.holiday_subdivision, day.year)
            if day in closed:
                return ()
            if day in worked:
                return self._worked(day)
        return self.week[day.weekday()]

    def _worked(self, day: date) -> tuple[WorkingInterval, ...]:
        return self.week[day.weekday()] or self._extra


def _works_around_clock(week: Mapping[int, tuple[WorkingInterval, ...]]) -> bool:
    """Whether the intervals of every weekday, with the previous one's overnight part,
    cover all of it (00:00-22:00 + 22:00-00:00 does, like 00:00-00:00)."""
    pieces: dict[int, list[tuple[timedelta, timedelta]]] = {d: [] for d in range(7)}
    for d in range(7):
        for interval in week[d]:
            start, end = interval.offsets
            pieces[d].append((start, min(end, _DAY)))
            if end > _DAY:
                pieces[(d + 1) % 7].append((_ZERO, end - _DAY))
    return all(_covers_day(day_pieces) for day_pieces in pieces.values())


def _covers_day(pieces: list[tuple[timedelta, timedelta]]) -> bool:
    if (_ZERO, _DAY) in pieces:
        return True
    # Only an exact tiling counts: pieces that meet map to the same instant under any DST
    # rule, while overlapping ones may not (an interval starting in a spring-forward gap
    # moves forward and can leave a hole), so those are left to the walk.
    reach = _ZERO
    for start, end in sorted(pieces):
        if start != reach:
            return False
        reach = end
    return reach == _DAY


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


def _wall_to_utc(day: date, wall: time, zone: ZoneInfo, *, next_day: bool = False) -> datetime:
    try:
        if next_day:
            day += _DAY
        # fold=0 is the documented rule for gaps and repeated hours (module docstring).
        return datetime.combine(day, wall.replace(fold=0), tzinfo=zone).astimezone(UTC)
    except OverflowError:
        # The instant falls before year 1 or after year 9999. Clamping is exact for every
        # question asked: a span start before any representable instant is clipped to the
        # query's own start anyway, and a span end after the last one outlasts any answer.
        return _MIN_UTC if day.year == 1 else _MAX_UTC


def _local_date(t: datetime, zone: ZoneInfo) -> date:
    try:
        return t.astimezone(zone).date()
    except OverflowError:
        # The local date would be in year 0 or 10000; the nearest representable one stands in.
        return date.min if t.year == 1 else date.max


def _shift(day: date, days: int) -> date:
    """`day + days`, saturated at the ends of date's range."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.min if days < 0 else date.max


def _reaches_end_of_time(origin: date) -> bool:
    return (date.max - origin).days < HORIZON_DAYS


def _no_working_time(origin: date) -> CalendarHorizonError:
    if _reaches_end_of_time(origin):
        return CalendarHorizonError(f"no working time from {origin} to the end of year 9999")
    return CalendarHorizonError(f"no working time within {HORIZON_DAYS} days after {origin}")


def _too_far(what: str, origin: date) -> CalendarHorizonError:
    if _reaches_end_of_time(origin):
        return CalendarHorizonError(f"{what} lies beyond the end of year 9999")
    return CalendarHorizonError(f"{what} lies more than {HORIZON_DAYS} days after {origin}")


@functools.lru_cache(maxsize=16384)
def _day_spans(cal: BusinessCalendar, day: date) -> tuple[_Span, ...]:
    # Cached because a walk asks for the same days again and again: every clock on a
    # calendar re-plans over the same weeks, and a warning re-walks its own deadline's days.
    spans = []
    for interval in cal.intervals_on(day):
        start = _wall_to_utc(day, interval.start, cal._zone)
        end = _wall_to_utc(day, interval.end, cal._zone, next_day=interval.end <= interval.start)
        if end > start:
            spans.append((start, end))
    spans.sort()
    return tuple(spans)


def _walk(first: date, last: date) -> Iterator[date]:
    """Local dates from `first` to `last` inclusive, each charged to the day budget."""
    budget = _BUDGET.get()
    day = first
    while day <= last:
        if budget is not None:
            budget.left -= 1
            if budget.left < 0:
                raise BudgetExceeded
        yield day
        if day == last:  # date.max has no successor
            return
        day += _DAY


def _check_budget(days: int) -> None:
    # For walks whose length is known up front: fail before doing work that cannot finish.
    budget = _BUDGET.get()
    if budget is not None and days > budget.left:
        raise BudgetExceeded


def _spans_from(cal: BusinessCalendar, t: datetime, last: date) -> Iterator[_Span]:
    """Disjoint working spans in UTC, in order, that end after `t`; the first starts >= t.

    Covers the intervals of local dates up to `last`, then stops.
    """
    # Start a day early: an overnight interval from yesterday may still be running.
    first = _shift(_local_date(t, cal._zone), -1)
    reach = t
    for day in _walk(first, last):
        for start, end in _day_spans(cal, day):
            if end > reach:
                yield max(start, reach), end
                reach = end


def _utc(name: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value!r}")
    return value.astimezone(UTC)


def is_working_instant(cal: BusinessCalendar, t: datetime) -> bool:
    """Whether `t` lies inside working time (intervals are half-open)."""
    t = _utc("t", t)
    if cal._always_open:
        return True
    local_day = _local_date(t, cal._zone)
    return any(
        start <= t < end
        for day in _walk(_shift(local_day, -1), local_day)
        for start, end in _day_spans(cal, day)
    )


def next_working_instant(cal: BusinessCalendar, t: datetime) -> datetime:
    """`t` itself if it is working time, else the start of the next working interval."""
    t = _utc("t", t)
    if cal._always_open:
        return t
    origin = _local_date(t, cal._zone)
    span = next(_spans_from(cal, t, _shift(origin, HORIZON_DAYS)), None)
    if span is None:
        raise _no_working_time(origin)
    return span[0]


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
        try:
            # In UTC, so that a day across a DST change is 24 real hours.
            return start + duration
        except OverflowError:
            raise CalendarHorizonError("deadline lies beyond the end of year 9999") from None
    origin = _local_date(start, cal._zone)
    remaining = duration
    worked = False
    for span_start, span_end in _spans_from(cal, start, _shift(origin, HORIZON_DAYS)):
        worked = True
        if remaining <= span_end - span_start:
            return span_start + remaining
        remaining -= span_end - span_start
    raise _too_far("deadline", origin) if worked else _no_working_time(origin)


def add_working_days(cal: BusinessCalendar, start: datetime, n: int) -> datetime:
    """The end of the last working interval of the Nth working day after `start`'s date.

    The local date of `start` is day 0 and never counts, whatever the time of day: a
    complaint logged at 08:00 or at 23:00 on Monday with n=1 is due at the end of Tuesday.
    """
    start = _utc("start", start)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    origin = _local_date(start, cal._zone)
    remaining = n
    worked = False
    if origin < date.max:
        for day in _walk(origin + _DAY, _shift(origin, HORIZON_DAYS)):
            spans = _day_spans(cal, day)
            if spans:
                worked = True
                remaining -= 1
                if remaining == 0:
                    return max(end for _, end in spans)
    raise _too_far(f"working day {n}", origin) if worked else _no_working_time(origin)


def working_seconds_between(cal: BusinessCalendar, a: datetime, b: datetime) -> float:
    """Working seconds in [a, b); 0 when b <= a. Inverse of `add_working_time`.

    Raises CalendarHorizonError when b's local date is more than `HORIZON_DAYS` after a's
    (unless the calendar works around the clock, which needs no walk).
    """
    a = _utc("a", a)
    b = _utc("b", b)
    if b <= a:
        return 0.0
    if cal._always_open:
        return (b - a).total_seconds()
    first, last = _local_date(a, cal._zone), _local_date(b, cal._zone)
    days = (last - first).days
    if days > HORIZON_DAYS:
        raise CalendarHorizonError(
            f"working time is counted over at most {HORIZON_DAYS} days; "
            f"{first} to {last} is {days} days"
        )
    _check_budget(days + 2)
    # timedelta keeps microseconds exact, so the round trip with add_working_time is exact.
    total = _ZERO
    for start, end in _spans_from(cal, a, last):
        if start >= b:
            break
        total += min(end, b) - start
    return total.total_seconds()
