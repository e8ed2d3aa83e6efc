"""SLA policies: their life cycle (audited), matching, preview and the defaults."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.audit import repository as audit
from qualityapi.auth.principal import Principal
from qualityapi.errors import Conflict, NotFound, Unprocessable
from qualityapi.sla import calendars, compiled, offload, policy_cache, repository, subjects
from qualityapi.sla.calendar import CalendarHorizonError
from qualityapi.sla.deadlines import (
    due_at,
    warn_at,
)
from qualityapi.sla.models import SlaPolicy
from qualityapi.sla.schemas import (
    WEEKDAYS,
    CalendarCreate,
    PreviewDeadline,
    PreviewRead,
    PreviewRequest,
    SlaPolicyCreate,
    SlaPolicyRead,
    SlaPolicyUpdate,
)
from qualityapi.staff.service import ensure_staff_exists

_CLEARABLE = frozenset({"max_extensions"})


def read(policy: SlaPolicy, *, replanning: bool = False) -> SlaPolicyRead:
    return SlaPolicyRead.model_validate(policy).model_copy(update={"replanning": replanning})


async def get(session: AsyncSession, policy_id: uuid.UUID) -> SlaPolicy:
    policy = await repository.get_policy(session, policy_id)
    if policy is None:
        raise NotFound(f"SLA policy {policy_id} does not exist")
    return policy


async def _check_references(session: AsyncSession, data: SlaPolicyCreate) -> None:
    await calendars.ensure_exists(session, data.calendar_id, "calendar_id")
    for name, target in data.targets.items():
        if target.calendar_id is not None:
            await calendars.ensure_exists(
                session, target.calendar_id, f"targets.{name}.calendar_id"
            )
    for level in data.escalation:
        for notify in level.notify:
            await ensure_staff_exists(
                session, notify.staff_id, f"escalation.{level.level}.staff_id"
            )


async def _unique_name(session: AsyncSession, name: str, own: uuid.UUID | None) -> None:
    other = await repository.get_policy_by_name(session, name)
    if other is not None and other.id != own:
        raise Conflict(f"an SLA policy named '{name}' already exists")


def _columns(data: SlaPolicyCreate) -> dict[str, Any]:
    dumped = data.model_dump(mode="json", exclude_none=True)
    return {
        "name": data.name,
        "subject": data.subject,
        "rank": data.rank,
        "match": dumped["match"],
        "calendar_id": data.calendar_id,
        "targets": dumped["targets"],
        "warning": dumped.get("warning", {}),
        "escalation": dumped["escalation"],
        "max_extensions": data.max_extensions,
        "enabled": data.enabled,
    }


def _audit(
    session: AsyncSession,
    actor: Principal,
    at: datetime,
    action: str,
    policy: SlaPolicy,
    before: dict[str, Any] | None,
) -> None:
    audit.record(
        session,
        at=at,
        actor=actor,
        action=action,
        resource_type="sla_policy",
        resource_id=policy.id,
        before=before,
        after=read(policy).model_dump(mode="json", exclude={"replanning"}),
    )


async def create(
    session: AsyncSession, data: SlaPolicyCreate, *, actor: Principal, now: datetime
) -> SlaPolicy:
    await _unique_name(session, data.name, None)
    await _check_references(session, data)
    policy = SlaPolicy(**_columns(data), created_at=now, updated_at=now)
    session.add(policy)
    await session.flush()
    policy_cache.invalidate()
    _audit(session, actor, now, "sla_policy.created", policy, None)
    return policy


async def update(
    session: AsyncSession,
    policy: SlaPolicy,
    data: SlaPolicyUpdate,
    *,
    actor: Principal,
    now: datetime,
) -> SlaPolicy:
    before = read(policy).model_dump(mode="json", exclude={"replanning"})
    changes = data.model_dump(mode="json", exclude_unset=True)
    for required in changes:
        # Null clears only what a new policy may leave null: max_extensions (no limit).
        if changes[required] is None and required not in _CLEARABLE:
            raise Unprocessable(f"{required}: may not be null")
    try:
        current = {k: v for k, v in before.items() if k in SlaPolicyCreate.model_fields}
        merged = SlaPolicyCreate.model_validate({**current, **changes})
    except ValueError as exc:
        raise Unprocessable(str(exc)) from exc
    await _unique_name(session, merged.name, policy.id)
    await _check_references(session, merged)
    for field, value in _columns(merged).items():
        setattr(policy, field, value)
    policy.updated_at = now
    await session.flush()
    policy_cache.invalidate()
    _audit(session, actor, now, "sla_policy.updated", policy, before)
    return policy


# --- matching and deadlines -------------------------------------------------------------------


async def preview(session: AsyncSession, request: PreviewRequest) -> PreviewRead:
    # The same matching as the clocks of a real subject (``sla.compiled``).
    policy = await compiled.match(
        session, request.subject, priority=request.priority, category=request.category
    )
    if policy is None:
        return PreviewRead(policy_id=None, policy_name=None, deadlines=[])
    window = policy.window

    def deadlines() -> list[PreviewDeadline]:
        found = []
        for name, resolved in policy.targets.items():
            target = resolved.target
            try:
                due = due_at(target, request.start, appointment_end=request.appointment_end)
                warn = warn_at(target, request.start, due, window) if due else None
            except (CalendarHorizonError, OverflowError) as exc:
                # Input decides this (a start or appointment decades away, a calendar with
                # no working time ahead): a 422 that says where, never a 500. OverflowError
                # is datetime's own range, reached by a lead before a deadline in year 1.
                reason = str(exc)
                if isinstance(exc, OverflowError):
                    reason = "the deadline lies outside the years 1 to 9999"
                raise Unprocessable(
                    f"targets.{name} on calendar '{resolved.calendar_name}': {reason}"
                ) from exc
            found.append(
                PreviewDeadline(
                    target=name,
                    calendar_id=resolved.calendar_id,
                    calendar_name=resolved.calendar_name,
                    due_at=due,
                    warn_at=warn,
                )
            )
        return found

    # Off the event loop when the walk is long: a calendar may need years of days.
    return PreviewRead(
        policy_id=policy.id, policy_name=policy.name, deadlines=await offload.bounded(deadlines)
    )


# --- defaults (domain.md) ---------------------------------------------------------------------

_WEEKDAY_HOURS = [{"start": "09:00", "end": "12:00"}, {"start": "13:30", "end": "18:00"}]
DEFAULT_LADDER = [
    # red: put a coordinator on it at once (001 §2.2.2), then the manager (or, in a team
    # without one, the supervisor again rather than nobody).
    {"level": 1, "after": "PT0S", "notify": [{"role": "assignee"}, {"role": "team_supervisor"}]},
    {
        "level": 2,
        "after": "PT30M",
        "notify": [{"role": "team_manager", "fallback": [{"role": "team_supervisor"}]}],
    },
]


async def seed_defaults(session: AsyncSession, *, actor: Principal, now: datetime) -> bool:
    """On first start: the 24x7 and business calendars; on every start, the default
    policies of each registered kind that has none (``seed_subject_defaults``).

    Returns True when anything was created. Everything created here is editable (but 24x7).
    """
    created = await _seed_calendars(session, actor=actor, now=now)
    return bool(await seed_subject_defaults(session, actor=actor, now=now)) or created


async def _seed_calendars(session: AsyncSession, *, actor: Principal, now: datetime) -> bool:
    if await repository.count_calendars(session) > 0:
        return False
    await calendars.create(
        session,
        CalendarCreate.model_validate(
            {
                "name": calendars.ALWAYS_OPEN,
                "time_zone": "UTC",
                # 00:00-00:00 is the whole day (sla/calendar.py).
                "working_hours": {day: [{"start": "00:00", "end": "00:00"}] for day in WEEKDAYS},
            }
        ),
        actor=actor,
        now=now,
        builtin=True,
    )
    await calendars.create(
        session,
        CalendarCreate.model_validate(
            {
                "name": calendars.BUSINESS,
                "time_zone": "Asia/Shanghai",
                "working_hours": dict.fromkeys(WEEKDAYS[:5], _WEEKDAY_HOURS),
                "holidays": {"country": "CN"},
            }
        ),
        actor=actor,
        now=now,
    )
    return True


async def _calendar_ids(session: AsyncSession) -> dict[str, uuid.UUID]:
    return {c.name: c.id for c in await repository.list_calendars(session)}


def _resolve_calendars(spec: dict[str, Any], ids: dict[str, uuid.UUID]) -> dict[str, Any]:
    """A default policy names its calendars; stored policies hold their ids."""
    resolved = {k: v for k, v in spec.items() if k != "calendar"}
    resolved["calendar_id"] = ids[spec["calendar"]]
    targets = {}
    for name, target in spec["targets"].items():
        if isinstance(target, dict) and "calendar" in target:
            target = {k: v for k, v in target.items() if k != "calendar"}
            target["calendar_id"] = str(ids[spec["targets"][name]["calendar"]])
        targets[name] = target
    resolved["targets"] = targets
    resolved.setdefault("warning", {"percent": 80})
    resolved.setdefault("escalation", DEFAULT_LADDER)
    resolved["subject"] = spec["subject"]
    return resolved


async def seed_subject_defaults(
    session: AsyncSession, *, actor: Principal, now: datetime
) -> list[str]:
    """Each registered kind's default policies, for every kind that has no policy yet
    (so a kind added to an existing installation gets its defaults on the next start).
    Returns the kinds seeded."""
    seeded = []
    ids: dict[str, uuid.UUID] | None = None
    for kind in subjects.kinds():
        adapter = subjects.get(kind)
        specs = adapter.default_policies
        if not specs or await repository.list_policies(session, subject=kind):
            continue
        ids = ids if ids is not None else await _calendar_ids(session)
        for spec in specs:
            data = SlaPolicyCreate.model_validate(
                _resolve_calendars({**spec, "subject": kind}, ids)
            )
            await create(session, data, actor=actor, now=now)
        seeded.append(kind)
    return seeded
