"""Stored calendars ↔ pure ``BusinessCalendar``s, and their life cycle (audited)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.audit import repository as audit
from qualityapi.auth.principal import Principal
from qualityapi.errors import Conflict, NotFound, Unprocessable
from qualityapi.sla import policy_cache, repository
from qualityapi.sla.calendar import BusinessCalendar, WorkingInterval
from qualityapi.sla.models import Calendar
from qualityapi.sla.schemas import WEEKDAYS, CalendarCreate, CalendarRead, CalendarUpdate

ALWAYS_OPEN = "24x7"
BUSINESS = "business"


def _pure(
    time_zone: str,
    working_hours: Mapping[str, Any],
    country: str | None,
    subdivision: str | None,
    closed_days: list[Any],
    extra_working_days: list[Any],
) -> BusinessCalendar:
    week = {
        WEEKDAYS.index(day): tuple(
            WorkingInterval(_time(i["start"]), _time(i["end"])) for i in intervals
        )
        for day, intervals in working_hours.items()
    }
    return BusinessCalendar(
        tz=time_zone,
        week=week,
        holiday_country=country,
        holiday_subdivision=subdivision,
        closed_days=frozenset(_date(d) for d in closed_days),
        extra_working_days=frozenset(_date(d) for d in extra_working_days),
    )


def _time(value: Any) -> time:
    return value if isinstance(value, time) else time.fromisoformat(value)


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


# (id, version) names one content of one calendar: rebuilt only after an edit.
_PURE: dict[tuple[uuid.UUID, int], BusinessCalendar] = {}


def business_calendar(cal: Calendar) -> BusinessCalendar:
    """The pure calendar for a stored one, built once per (id, version)."""
    key = (cal.id, cal.version)
    pure = _PURE.get(key)
    if pure is None:
        if len(_PURE) > 1000:
            _PURE.clear()
        pure = _PURE[key] = _pure(
            cal.time_zone,
            cal.working_hours,
            cal.holiday_country,
            cal.holiday_subdivision,
            cal.closed_days,
            cal.extra_working_days,
        )
    return pure


def read(cal: Calendar) -> CalendarRead:
    holidays = (
        {"country": cal.holiday_country, "subdivision": cal.holiday_subdivision}
        if cal.holiday_country
        else None
    )
    return CalendarRead.model_validate(
        {
            "id": cal.id,
            "name": cal.name,
            "time_zone": cal.time_zone,
            "working_hours": cal.working_hours,
            "holidays": holidays,
            "closed_days": cal.closed_days,
            "extra_working_days": cal.extra_working_days,
            "builtin": cal.builtin,
            "version": cal.version,
            "created_at": cal.created_at,
            "updated_at": cal.updated_at,
        }
    )


def _columns(data: CalendarCreate) -> dict[str, Any]:
    dumped = data.model_dump(mode="json")
    return {
        "name": data.name,
        "time_zone": data.time_zone,
        "working_hours": dumped["working_hours"],
        "holiday_country": data.holidays.country if data.holidays else None,
        "holiday_subdivision": data.holidays.subdivision if data.holidays else None,
        "closed_days": dumped["closed_days"],
        "extra_working_days": dumped["extra_working_days"],
    }


def _validate(columns: Mapping[str, Any]) -> None:
    _check_days(columns["closed_days"], columns["extra_working_days"])
    _check_intervals(columns["working_hours"])
    try:
        _pure(
            columns["time_zone"],
            columns["working_hours"],
            columns["holiday_country"],
            columns["holiday_subdivision"],
            columns["closed_days"],
            columns["extra_working_days"],
        )
    except ValueError as exc:  # CalendarHorizonError included: both are about the input
        raise Unprocessable(f"calendar: {exc}") from exc


def _check_days(closed_days: list[Any], extra_working_days: list[Any]) -> None:
    # The pure calendar lets closed win; from a client, a date in both lists is a typo or a
    # misunderstanding, and silently closing it would hide that.
    both = sorted({_date(d) for d in closed_days} & {_date(d) for d in extra_working_days})
    if both:
        listed = ", ".join(d.isoformat() for d in both)
        raise Unprocessable(
            f"calendar: {listed} listed both in closed_days and in extra_working_days; "
            "a date is either closed or an extra working day"
        )


def _check_intervals(working_hours: Mapping[str, Any]) -> None:
    """Overlapping intervals would count once without a word; say which ones instead."""
    week = {
        day: [WorkingInterval(_time(i["start"]), _time(i["end"])) for i in intervals]
        for day, intervals in working_hours.items()
    }
    for index, day in enumerate(WEEKDAYS):
        # Sorted by start, any overlap shows between neighbours.
        ordered = sorted(week.get(day, []), key=lambda i: i.offsets)
        for first, second in itertools.pairwise(ordered):
            if second.offsets[0] < first.offsets[1]:
                raise Unprocessable(
                    f"calendar: working_hours.{day}: {_text(first)} overlaps {_text(second)}"
                )
        following = WEEKDAYS[(index + 1) % 7]
        for overnight in ordered:
            spill = overnight.offsets[1] - timedelta(days=1)
            for other in week.get(following, []):
                if other.offsets[0] < spill:
                    raise Unprocessable(
                        f"calendar: working_hours.{day}: {_text(overnight)} runs into "
                        f"{following}'s {_text(other)}"
                    )


def _text(interval: WorkingInterval) -> str:
    return f"{interval.start:%H:%M}-{interval.end:%H:%M}"


async def get(session: AsyncSession, calendar_id: uuid.UUID) -> Calendar:
    cal = await repository.get_calendar(session, calendar_id)
    if cal is None:
        raise NotFound(f"calendar {calendar_id} does not exist")
    return cal


async def ensure_exists(session: AsyncSession, calendar_id: uuid.UUID, field: str) -> Calendar:
    cal = await repository.get_calendar(session, calendar_id)
    if cal is None:
        raise Unprocessable(f"{field}: calendar {calendar_id} does not exist")
    return cal


async def _unique_name(session: AsyncSession, name: str, own: uuid.UUID | None) -> None:
    other = await repository.get_calendar_by_name(session, name)
    if other is not None and other.id != own:
        raise Conflict(f"a calendar named '{name}' already exists")


def _audit(
    session: AsyncSession,
    actor: Principal,
    at: datetime,
    action: str,
    cal: Calendar,
    before: dict[str, Any] | None,
) -> None:
    audit.record(
        session,
        at=at,
        actor=actor,
        action=action,
        resource_type="calendar",
        resource_id=cal.id,
        before=before,
        after=read(cal).model_dump(mode="json"),
    )


async def create(
    session: AsyncSession,
    data: CalendarCreate,
    *,
    actor: Principal,
    now: datetime,
    builtin: bool = False,
) -> Calendar:
    columns = _columns(data)
    _validate(columns)
    await _unique_name(session, data.name, None)
    cal = Calendar(**columns, builtin=builtin, created_at=now, updated_at=now)
    session.add(cal)
    await session.flush()
    policy_cache.invalidate()
    _audit(session, actor, now, "calendar.created", cal, None)
    return cal


async def update(
    session: AsyncSession, cal: Calendar, data: CalendarUpdate, *, actor: Principal, now: datetime
) -> Calendar:
    if cal.builtin:
        raise Conflict(f"calendar '{cal.name}' is built in and cannot be changed")
    before = read(cal).model_dump(mode="json")
    current = {k: v for k, v in before.items() if k in CalendarCreate.model_fields}
    try:
        merged = CalendarCreate.model_validate({**current, **data.model_dump(exclude_unset=True)})
    except ValueError as exc:
        raise Unprocessable(str(exc)) from exc
    columns = _columns(merged)
    _validate(columns)
    await _unique_name(session, merged.name, cal.id)
    for field, value in columns.items():
        setattr(cal, field, value)
    cal.updated_at = now
    await session.flush()
    policy_cache.invalidate()
    _audit(session, actor, now, "calendar.updated", cal, before)
    return cal
