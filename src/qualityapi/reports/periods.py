"""Periods as instants (pure): months and days in a time zone, and how a period splits
into the whole UTC buckets its sums cover and the partial edges read from the ledger."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from qualityapi.sla.calendar import iana_zone

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class PeriodError(ValueError):
    """A month or time zone that cannot be read (the message says which)."""


def zone(name: str) -> ZoneInfo:
    try:
        return iana_zone(name)
    except ValueError as exc:
        raise PeriodError(f"tz: unknown time zone {name!r}") from exc


def parse_month(text: str) -> tuple[int, int]:
    found = _MONTH.match(text)
    if found is None:
        raise PeriodError(f"month: expected YYYY-MM, got {text!r}")
    year, month = int(found.group(1)), int(found.group(2))
    if not 1900 <= year <= 9998:
        raise PeriodError("month: the year must lie between 1900 and 9998")
    return year, month


def month_name(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def previous_month(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of ``day`` in ``tz``, in UTC (a zone that skips midnight for
    daylight saving starts the day at the first wall time that exists)."""
    local = datetime.combine(day, time.min, tzinfo=tz)
    as_utc = local.astimezone(UTC)
    # A wall time in a spring-forward gap maps forward; round trip to check it is that day.
    if as_utc.astimezone(tz).date() != day:
        as_utc = datetime.combine(day, time(1), tzinfo=tz).astimezone(UTC)
    return as_utc


def month_bounds(year: int, month: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    nxt = (year + 1, 1) if month == 12 else (year, month + 1)
    return local_midnight(date(year, month, 1), tz), local_midnight(date(*nxt, 1), tz)


def day_starts(first: date, count: int, tz: ZoneInfo) -> list[datetime]:
    """The starts of ``count`` local days from ``first``, and the end of the last one."""
    return [local_midnight(first + timedelta(days=i), tz) for i in range(count + 1)]


def floor_to(t: datetime, grain: timedelta) -> datetime:
    t = t.astimezone(UTC)
    if grain == DAY:
        return t.replace(hour=0, minute=0, second=0, microsecond=0)
    return t.replace(minute=0, second=0, microsecond=0)


def ceil_to(t: datetime, grain: timedelta) -> datetime:
    floored = floor_to(t, grain)
    return floored if floored == t else floored + grain


def aligned(t: datetime, grain: timedelta) -> bool:
    return floor_to(t, grain) == t


@dataclass(frozen=True)
class Split:
    """How ``[lo, hi)`` is read: the sums for the whole buckets in ``[whole_lo,
    whole_hi)`` (``grain`` wide), the ledger for the rest (``edges``)."""

    grain: timedelta | None
    whole_lo: datetime
    whole_hi: datetime
    edges: tuple[tuple[datetime, datetime], ...]

    @property
    def has_whole(self) -> bool:
        return self.grain is not None and self.whole_lo < self.whole_hi


def split(boundaries: list[datetime], *, grains: tuple[timedelta, ...]) -> Split:
    """The coarsest of ``grains`` at which every inner boundary falls on a bucket edge
    (a bucket must lie inside one period); none such: the ledger alone."""
    lo, hi = boundaries[0], boundaries[-1]
    inner = boundaries[1:-1]
    for grain in sorted(grains, reverse=True):
        if not all(aligned(b, grain) for b in inner):
            continue
        whole_lo, whole_hi = ceil_to(lo, grain), floor_to(hi, grain)
        if whole_lo >= whole_hi:
            continue  # too short for a whole bucket of this grain; try a finer one
        edges = tuple((a, b) for a, b in ((lo, whole_lo), (whole_hi, hi)) if a < b)
        return Split(grain, whole_lo, whole_hi, edges)
    return Split(None, lo, lo, ((lo, hi),))


@dataclass(frozen=True)
class Piece:
    """One part of a read: the ``ledger`` rows of ``[lo, hi)``, the ``sums`` of its whole
    ``grain`` buckets, or the ledger rows ``unfolded`` into those sums yet. ``bucket``:
    the period it all counts in; None when it spans several (the caller sorts each row
    by the inner boundaries)."""

    source: str
    lo: datetime
    hi: datetime
    grain: timedelta | None
    bucket: int | None


def _pieces_of(plan: Split, bucket: int | None) -> list[Piece]:
    found = [Piece("ledger", a, b, None, bucket) for a, b in plan.edges]
    if plan.has_whole:
        found.append(Piece("sums", plan.whole_lo, plan.whole_hi, plan.grain, bucket))
        found.append(Piece("unfolded", plan.whole_lo, plan.whole_hi, plan.grain, bucket))
    return found


def pieces(boundaries: list[datetime], *, grains: tuple[timedelta, ...]) -> list[Piece]:
    """How to read the consecutive periods between ``boundaries``: in one split when
    every inner boundary falls on a bucket edge (the board's 30 local days on hourly
    sums: three pieces), else period by period, each with its own edges (a Shanghai
    month on UTC-day sums)."""
    together = split(boundaries, grains=grains)
    if together.has_whole or len(boundaries) == 2:
        return _pieces_of(together, 0 if len(boundaries) == 2 else None)
    found: list[Piece] = []
    for i, (lo, hi) in enumerate(itertools.pairwise(boundaries)):
        found.extend(_pieces_of(split([lo, hi], grains=grains), i))
    return found
