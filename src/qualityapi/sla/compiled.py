"""Policies ready to apply, cached per process: the create path matches without queries.

A work-order create used to pay for listing the policies and loading their calendars on
every call. The compiled set is rebuilt when this process edits a policy or calendar,
and at least every ``TTL`` seconds, so other replicas' edits reach new orders within it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from qualityapi.sla import calendars, policy_cache, repository
from qualityapi.sla.deadlines import (
    AppointmentEndTarget,
    Candidate,
    DurationTarget,
    Match,
    Target,
    WarningWindow,
    WorkingDaysTarget,
    choose_policy,
)
from qualityapi.sla.models import SlaPolicy, Subject
from qualityapi.sla.schemas import SUBJECT_TARGETS, EscalationLevel, TargetSpec, WarningSpec

TTL = 5.0


@dataclass(frozen=True)
class CompiledPolicy:
    id: uuid.UUID
    name: str
    # target name -> (pure target, calendar id, calendar name)
    targets: dict[str, tuple[Target, uuid.UUID, str]]
    window: WarningWindow
    ladder: tuple[timedelta, ...]


async def resolve_targets(
    session: AsyncSession, policy: SlaPolicy
) -> dict[str, tuple[Target, uuid.UUID, str]]:
    """Each target of the policy as a pure Target, with the calendar it runs on."""
    resolved: dict[str, tuple[Target, uuid.UUID, str]] = {}
    default_cal = await calendars.get(session, policy.calendar_id)
    for name in SUBJECT_TARGETS[policy.subject]:
        raw = policy.targets.get(name)
        if raw is None:
            continue
        spec = TargetSpec.model_validate(raw)
        cal = (
            default_cal
            if spec.calendar_id is None
            else await calendars.get(session, spec.calendar_id)
        )
        pure = calendars.business_calendar(cal)
        target: Target
        if spec.duration is not None:
            target = DurationTarget(spec.duration, pure)
        elif spec.working_days is not None:
            target = WorkingDaysTarget(spec.working_days, pure)
        else:
            target = AppointmentEndTarget(pure)
        resolved[name] = (target, cal.id, cal.name)
    return resolved


def warning_window(policy: SlaPolicy) -> WarningWindow:
    spec = WarningSpec.model_validate(policy.warning or {})
    return WarningWindow(percent=spec.percent, lead=spec.lead)


def ladder(policy: SlaPolicy) -> tuple[timedelta, ...]:
    return tuple(EscalationLevel.model_validate(level).after for level in policy.escalation)


async def _compile(session: AsyncSession, subject: Subject) -> list[Candidate[CompiledPolicy]]:
    candidates = []
    for p in await repository.list_policies(session, subject=subject, enabled=True):
        compiled = CompiledPolicy(
            id=p.id,
            name=p.name,
            targets=await resolve_targets(session, p),
            window=warning_window(p),
            ladder=ladder(p),
        )
        match = Match(
            priorities=frozenset(p.match.get("priorities", [])),
            categories=frozenset(p.match.get("categories", [])),
        )
        candidates.append(Candidate(rank=p.rank, match=match, policy=compiled))
    return candidates


async def match(
    session: AsyncSession, subject: Subject, *, priority: str | None, category: str | None
) -> CompiledPolicy | None:
    bind = session.bind
    assert isinstance(bind, AsyncEngine)
    key = (id(bind.sync_engine), subject)
    hit = policy_cache.entries.get(key)
    if hit is None or hit[0] < time.monotonic():
        hit = (time.monotonic() + TTL, await _compile(session, subject))
        policy_cache.entries[key] = hit
    return choose_policy(hit[1], priority=priority, category=category)
