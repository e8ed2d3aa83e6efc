"""SLA policies: their life cycle (audited), matching, preview and the defaults."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.audit import repository as audit
from qualityapi.auth.principal import Principal
from qualityapi.errors import Conflict, NotFound, Unprocessable
from qualityapi.sla import calendars, policy_cache, repository
from qualityapi.sla.compiled import resolve_targets, warning_window
from qualityapi.sla.deadlines import (
    Candidate,
    Match,
    choose_policy,
    due_at,
    warn_at,
)
from qualityapi.sla.models import SlaPolicy, Subject
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


def read(policy: SlaPolicy) -> SlaPolicyRead:
    return SlaPolicyRead.model_validate(policy)


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
        after=read(policy).model_dump(mode="json"),
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
    before = read(policy).model_dump(mode="json")
    changes = data.model_dump(mode="json", exclude_unset=True)
    for required in changes:
        if changes[required] is None:
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


async def match(
    session: AsyncSession, subject: Subject, *, priority: str | None, category: str | None
) -> SlaPolicy | None:
    policies = await repository.list_policies(session, subject=subject, enabled=True)
    candidates = [
        Candidate(
            rank=p.rank,
            match=Match(
                priorities=frozenset(p.match.get("priorities", [])),
                categories=frozenset(p.match.get("categories", [])),
            ),
            policy=p,
        )
        for p in policies
    ]
    return choose_policy(candidates, priority=priority, category=category)


async def preview(session: AsyncSession, request: PreviewRequest) -> PreviewRead:
    policy = await match(
        session, request.subject, priority=request.priority, category=request.category
    )
    if policy is None:
        return PreviewRead(policy_id=None, policy_name=None, deadlines=[])
    window = warning_window(policy)
    deadlines = []
    for name, (target, cal_id, cal_name) in (await resolve_targets(session, policy)).items():
        due = due_at(target, request.start, appointment_end=request.appointment_end)
        deadlines.append(
            PreviewDeadline(
                target=name,
                calendar_id=cal_id,
                calendar_name=cal_name,
                due_at=due,
                warn_at=warn_at(target, request.start, due, window) if due else None,
            )
        )
    return PreviewRead(policy_id=policy.id, policy_name=policy.name, deadlines=deadlines)


# --- defaults (domain.md) ---------------------------------------------------------------------

_WEEKDAY_HOURS = [{"start": "09:00", "end": "12:00"}, {"start": "13:30", "end": "18:00"}]
_LADDER = [
    # red: put a coordinator on it at once (001 §2.2.2), then the manager.
    {"level": 1, "after": "PT0S", "notify": [{"role": "assignee"}, {"role": "team_supervisor"}]},
    {"level": 2, "after": "PT30M", "notify": [{"role": "team_manager"}]},
]


async def seed_defaults(session: AsyncSession, *, actor: Principal, now: datetime) -> bool:
    """On first start: the 24x7 and business calendars and one policy per priority tier.

    Returns True when anything was created. Everything created here is editable (but 24x7).
    """
    if await repository.count_calendars(session) > 0:
        return False
    always = await calendars.create(
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
    business = await calendars.create(
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
    defaults = [
        # 001 §2.2: urgent — respond within 1 h, on site within 4 h, around the clock.
        {
            "name": "urgent",
            "rank": 10,
            "match": {"priorities": ["urgent"]},
            "calendar_id": always.id,
            "targets": {"response": "PT1H", "arrival": "PT4H"},
        },
        # high — respond within 2 h (business hours), arrive within the appointment window.
        {
            "name": "high",
            "rank": 20,
            "match": {"priorities": ["high"]},
            "calendar_id": business.id,
            "targets": {"response": "PT2H", "arrival": {"until": "appointment_end"}},
        },
        # normal — respond within 4 h (business hours), resolve within 24 plain hours.
        {
            "name": "normal",
            "rank": 30,
            "match": {"priorities": ["normal"]},
            "calendar_id": business.id,
            "targets": {
                "response": "PT4H",
                "resolution": {"duration": "PT24H", "calendar_id": str(always.id)},
            },
        },
    ]
    for spec in defaults:
        data = SlaPolicyCreate.model_validate(
            {**spec, "warning": {"percent": 80}, "escalation": _LADDER}
        )
        await create(session, data, actor=actor, now=now)
    return True
