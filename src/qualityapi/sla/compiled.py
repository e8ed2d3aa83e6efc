"""Policies ready to apply, cached per process: matching and planning cost no query.

The one place where a stored policy is parsed (targets, calendars, warning window,
escalation ladder) and where policies are matched to a subject. The compiled set is
rebuilt when this process edits a policy or calendar, and at least every ``TTL``
seconds, so other replicas' edits reach new clocks within it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from qualityapi.sla import calendars, policy_cache, repository, subjects
from qualityapi.sla.calendar import BusinessCalendar
from qualityapi.sla.clockwork import ClockPlan
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
from qualityapi.sla.models import SlaPolicy
from qualityapi.sla.schemas import EscalationLevel, Notify, TargetSpec, WarningSpec

TTL = 5.0


@dataclass(frozen=True)
class Rung:
    """One level of the escalation ladder: its delay after the breach and whom it calls."""

    after: timedelta
    notify: tuple[Notify, ...]


@dataclass(frozen=True)
class ResolvedTarget:
    target: Target
    calendar_id: uuid.UUID
    calendar_name: str


@dataclass(frozen=True)
class CompiledPolicy:
    id: uuid.UUID
    name: str
    subject: str
    targets: dict[str, ResolvedTarget]
    window: WarningWindow
    ladder: tuple[Rung, ...]
    max_extensions: int | None = None

    @property
    def delays(self) -> tuple[timedelta, ...]:
        return tuple(rung.after for rung in self.ladder)

    def plan(self, target: str) -> ClockPlan | None:
        resolved = self.targets.get(target)
        if resolved is None:
            return None
        return ClockPlan(
            policy_id=self.id,
            calendar_id=resolved.calendar_id,
            target=resolved.target,
            window=self.window,
            ladder=self.delays,
        )


@dataclass(frozen=True)
class CompiledSet:
    by_id: dict[uuid.UUID, CompiledPolicy]
    candidates: dict[str, list[Candidate[CompiledPolicy]]]
    # Every calendar some policy's target runs on, in its pure form.
    calendars: dict[uuid.UUID, BusinessCalendar]

    def match(
        self, subject: str, *, priority: str | None, category: str | None
    ) -> CompiledPolicy | None:
        return choose_policy(self.candidates.get(subject, []), priority=priority, category=category)

    def get(self, policy_id: uuid.UUID | None) -> CompiledPolicy | None:
        return None if policy_id is None else self.by_id.get(policy_id)


async def resolve_targets(session: AsyncSession, policy: SlaPolicy) -> dict[str, ResolvedTarget]:
    """Each target of the policy as a pure Target, with the calendar it runs on."""
    resolved: dict[str, ResolvedTarget] = {}
    default_cal = await calendars.get(session, policy.calendar_id)
    # In the subject kind's own order (response, arrival, ...), not the stored JSON's:
    # PostgreSQL's JSONB orders keys by length.
    adapter = subjects.find(policy.subject)
    order = adapter.targets if adapter is not None else ()
    names = sorted(policy.targets, key=lambda n: (order.index(n) if n in order else len(order), n))
    for name in names:
        spec = TargetSpec.model_validate(policy.targets[name])
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
        resolved[name] = ResolvedTarget(target, cal.id, cal.name)
    return resolved


def warning_window(policy: SlaPolicy) -> WarningWindow:
    spec = WarningSpec.model_validate(policy.warning or {})
    return WarningWindow(percent=spec.percent, lead=spec.lead)


def ladder(policy: SlaPolicy) -> tuple[Rung, ...]:
    levels = (EscalationLevel.model_validate(level) for level in policy.escalation)
    return tuple(Rung(after=lvl.after, notify=tuple(lvl.notify)) for lvl in levels)


async def compile_policy(session: AsyncSession, policy: SlaPolicy) -> CompiledPolicy:
    return CompiledPolicy(
        id=policy.id,
        name=policy.name,
        subject=policy.subject,
        targets=await resolve_targets(session, policy),
        window=warning_window(policy),
        ladder=ladder(policy),
        max_extensions=policy.max_extensions,
    )


async def _compile(session: AsyncSession) -> CompiledSet:
    by_id: dict[uuid.UUID, CompiledPolicy] = {}
    candidates: dict[str, list[Candidate[CompiledPolicy]]] = {}
    cals: dict[uuid.UUID, BusinessCalendar] = {}
    for p in await repository.list_policies(session):
        compiled = await compile_policy(session, p)
        by_id[p.id] = compiled
        cals.update((t.calendar_id, t.target.calendar) for t in compiled.targets.values())
        if not p.enabled:
            continue  # disabled: matches nothing, but its running clocks still escalate
        match = Match(
            priorities=frozenset(p.match.get("priorities", [])),
            categories=frozenset(p.match.get("categories", [])),
        )
        candidates.setdefault(p.subject, []).append(
            Candidate(rank=p.rank, match=match, policy=compiled)
        )
    return CompiledSet(by_id=by_id, candidates=candidates, calendars=cals)


async def current(session: AsyncSession, needed: Iterable[uuid.UUID | None] = ()) -> CompiledSet:
    """Every policy compiled, from the per-process cache (rebuilt after ``TTL``).

    ``needed``: policy ids the caller's clocks refer to. One the cache does not know was
    created by another replica since the cache was built: it is rebuilt at once, or this
    process would escalate that policy's clocks by no ladder at all (a deleted policy
    stays unknown, and costs one rebuild per call until the clocks move on)."""
    bind = session.bind
    # A session bound to one connection (the demo's single-transaction load): its engine.
    if isinstance(bind, AsyncConnection):
        bind = bind.engine
    assert isinstance(bind, AsyncEngine)
    key = id(bind.sync_engine)
    hit = policy_cache.entries.get(key)
    known = hit[1] if hit is not None else None
    if isinstance(known, CompiledSet) and any(
        i is not None and i not in known.by_id for i in needed
    ):
        hit = None
    if hit is None or hit[0] < time.monotonic():
        compiled = await _compile(session)
        hit = (time.monotonic() + TTL, compiled)
        policy_cache.entries[key] = hit
    result = hit[1]
    assert isinstance(result, CompiledSet)
    return result


async def match(
    session: AsyncSession, subject: str, *, priority: str | None, category: str | None
) -> CompiledPolicy | None:
    return (await current(session)).match(subject, priority=priority, category=category)
