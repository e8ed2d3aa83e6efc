"""The one deadline engine: every subject's clocks, level and SLA summary, via its adapter.

Domain services call ``start``, ``act`` and ``replan`` inside their own transaction (the
engine flushes, never commits) with the subject's facts as they are after the change,
and store the returned ``Derived`` level and summary on the subject. What each action
does to which clock is the adapter's declarative map; what an op does to one clock is
``clockwork.transition``; deadline maths runs through ``offload.bounded``, so no calendar
an admin configures can hold the event loop.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.auth.principal import SYSTEM_PRINCIPAL
from qualityapi.common.jsonable import jsonable
from qualityapi.db.base import new_id
from qualityapi.errors import Conflict, Unprocessable
from qualityapi.sla import calendars, clockwork, compiled, repository, signals
from qualityapi.sla.calendar import BusinessCalendar, CalendarHorizonError
from qualityapi.sla.clockwork import Clock, SubjectTimes, transition, used_now
from qualityapi.sla.models import SlaClock
from qualityapi.sla.offload import bounded
from qualityapi.sla.schemas import ClockRead, SubjectSlaRead
from qualityapi.sla.subjects import SubjectAdapter, SubjectFacts, ops_for
from qualityapi.sla.vocabulary import (
    ClockState,
    Op,
    WarningLevel,
    escalation_level,
    level_of_stage,
    worst,
)
from qualityapi.timeline import repository as timeline


@dataclass(frozen=True)
class Derived:
    """What a subject shows of its clocks: its warning level and the SLA summary."""

    level: WarningLevel
    summary: list[dict[str, Any]]
    # A clock started already past a check (a back-dated report: due before it was
    # entered): the caller settles it (``scanner.settle``) once the subject is written.
    due_now: bool = False


def show(adapter: SubjectAdapter, subject: object, derived: Derived) -> None:
    """Writes the derived level and summary onto the subject's ORM object (the columns its
    ``LevelStore`` names), only where they differ: an unchanged JSON value must not dirty
    the row and bump its version."""
    store = adapter.store
    if getattr(subject, store.summary) != derived.summary:
        setattr(subject, store.summary, derived.summary)
    if getattr(subject, store.level) != derived.level:
        setattr(subject, store.level, derived.level)


def clock_level(clock: Clock) -> WarningLevel:
    return level_of_stage(clock.stage) if clock.is_open else WarningLevel.none


def derive(clocks: Iterable[Clock]) -> Derived:
    listed = list(clocks)
    return Derived(
        level=worst([clock_level(c) for c in listed]),
        summary=[
            {
                "target": c.target,
                "state": c.state.value,
                "due_at": jsonable(c.due_at),
                "warn_at": jsonable(c.warn_at),
            }
            for c in listed
        ],
    )


_CLOCK_FIELDS = tuple(f.name for f in fields(Clock))


def pure(row: SlaClock) -> Clock:
    """A stored clock as the pure function sees it (the fields are the column names)."""
    values = {name: getattr(row, name) for name in _CLOCK_FIELDS}
    values["paused_segments"] = tuple(values["paused_segments"])
    values["extensions"] = tuple(values["extensions"] or ())
    values["state"] = ClockState(values["state"])
    return Clock(**values)


def _columns(clock: Clock) -> dict[str, Any]:
    values = {name: getattr(clock, name) for name in _CLOCK_FIELDS}
    values["paused_segments"] = list(clock.paused_segments)
    values["extensions"] = list(clock.extensions)
    return values


def _store(row: SlaClock, clock: Clock, now: datetime) -> bool:
    """Writes ``clock`` into its row; whether anything changed."""
    changed = False
    for key, value in _columns(clock).items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    if changed:
        row.updated_at = now
    return changed


def _wake_scanner(session: AsyncSession, clocks: Iterable[Clock]) -> None:
    """After the commit, the scanner looks no later than the earliest next check among
    ``clocks`` (the ones written); clocks with no next check need no look at all."""
    checks = [c.next_check_at for c in clocks if c.next_check_at is not None]
    if checks:
        signals.CLOCK_CHANGED.after_commit(session, at=min(checks))


def _times(facts: SubjectFacts) -> SubjectTimes:
    return SubjectTimes(
        started_at=facts.started_at,
        appointment_end=facts.appointment_end,
        on_hold=facts.on_hold,
    )


async def _calendar_of(
    session: AsyncSession, policies: compiled.CompiledSet, calendar_id: uuid.UUID
) -> BusinessCalendar:
    known = policies.calendars.get(calendar_id)
    if known is not None:
        return known
    return calendars.business_calendar(await calendars.get(session, calendar_id))


async def _transition(
    clock: Clock | None,
    op: Op,
    *,
    target: str,
    policy: compiled.CompiledPolicy | None,
    calendar: BusinessCalendar | None,
    facts: SubjectFacts,
    now: datetime,
) -> Clock | None:
    try:
        return await bounded(
            transition,
            clock,
            op,
            target=target,
            plan=policy.plan(target) if policy is not None else None,
            calendar=calendar,
            times=_times(facts),
            now=now,
        )
    except CalendarHorizonError as exc:
        # Only input can get here (a far appointment, a calendar with no working time):
        # the client hears which target and why, and nothing is stored.
        raise Unprocessable(f"SLA target {target}: {exc}") from exc
    except OverflowError as exc:
        # A warning lead or escalation delay before year 1 or after year 9999.
        raise Unprocessable(f"SLA target {target}: its deadline is out of range") from exc


async def start(
    session: AsyncSession, adapter: SubjectAdapter, facts: SubjectFacts, now: datetime
) -> Derived:
    """Starts the clocks of a new subject (one INSERT for all of them)."""
    policies = await compiled.current(session)
    policy = policies.match(adapter.kind, priority=facts.priority, category=facts.category)
    started: list[Clock] = []
    if policy is not None:
        for target in adapter.targets:
            if target not in policy.targets:
                continue
            clock = await _transition(
                None, Op.start, target=target, policy=policy, calendar=None, facts=facts, now=now
            )
            if clock is not None:
                started.append(clock)
    if started:
        # A plain INSERT of all of them: the ORM's unit of work is the dearer part of a
        # create.
        await repository.insert_clocks(
            session,
            [
                {
                    "id": new_id(),
                    "subject_type": adapter.kind,
                    "subject_id": facts.id,
                    **_columns(c),
                    "created_at": now,
                    "updated_at": now,
                }
                for c in started
            ],
        )
        _wake_scanner(session, started)
    derived = derive(started)
    due = any(c.next_check_at is not None and c.next_check_at <= now for c in started)
    return replace(derived, due_now=due) if due else derived


async def act(
    session: AsyncSession,
    adapter: SubjectAdapter,
    facts: SubjectFacts,
    action: str,
    now: datetime,
    *,
    level: WarningLevel,
) -> Derived:
    """Applies what ``action`` does to each clock (the adapter's map)."""
    ops = {t: op for t in adapter.targets if (op := ops_for(adapter, action, t)) is not None}
    return await _apply(session, adapter, facts, ops, now, level=level)


async def replan(
    session: AsyncSession,
    adapter: SubjectAdapter,
    facts: SubjectFacts,
    now: datetime,
    *,
    level: WarningLevel,
) -> Derived:
    """Re-matches the policy and re-plans every clock (an attribute, policy or calendar
    changed); a target the policy no longer has is cancelled, a new one starts from the
    subject's start unless the subject is finished."""
    ops = dict.fromkeys(adapter.targets, Op.replan)
    return await _apply(session, adapter, facts, ops, now, level=level)


async def _apply(
    session: AsyncSession,
    adapter: SubjectAdapter,
    facts: SubjectFacts,
    ops: dict[str, Op],
    now: datetime,
    *,
    level: WarningLevel,
) -> Derived:
    rows = await repository.clocks_for(session, adapter.kind, facts.id)
    if not ops:
        return await _derived(session, adapter, facts.id, [pure(r) for r in rows], now, level)
    policies = await compiled.current(session, (r.policy_id for r in rows))
    planning = any(op in (Op.resume, Op.replan, Op.restart) for op in ops.values())
    # The policy is matched again with the subject's facts as they are now, so a priority
    # or category change made during a hold applies at the resume.
    policy = (
        policies.match(adapter.kind, priority=facts.priority, category=facts.category)
        if planning
        else None
    )
    by_target = {r.target: r for r in rows}
    changed: list[Clock] = []
    new_rows: list[dict[str, Any]] = []
    new_clocks: list[Clock] = []
    for target, op in ops.items():
        row = by_target.get(target)
        if row is None and (op not in (Op.replan, Op.restart) or facts.finished):
            continue
        if row is None and (policy is None or target not in policy.targets):
            continue
        before = pure(row) if row is not None else None
        calendar = await _calendar_of(session, policies, row.calendar_id) if row else None
        after = await _transition(
            before,
            op,
            target=target,
            policy=policy if planning else policies.get(row.policy_id if row else None),
            calendar=calendar,
            facts=facts,
            now=now,
        )
        if after is None:
            continue
        if row is None:
            new_clocks.append(after)
            new_rows.append(
                {
                    "id": new_id(),
                    "subject_type": adapter.kind,
                    "subject_id": facts.id,
                    **_columns(after),
                    "created_at": now,
                    "updated_at": now,
                }
            )
        elif _store(row, after, now):
            changed.append(after)
    if new_rows:
        await repository.insert_clocks(session, new_rows)
    _wake_scanner(session, changed + new_clocks)
    # The rows as changed in this session (not re-read: that would drop unflushed
    # changes), then the new ones, in the order ``clocks_for`` gives.
    final = [pure(r) for r in rows] + new_clocks
    return await _derived(session, adapter, facts.id, final, now, level)


async def extend(
    session: AsyncSession,
    adapter: SubjectAdapter,
    facts: SubjectFacts,
    target: str,
    now: datetime,
    *,
    reason: str,
    level: WarningLevel,
    new_due_at: datetime | None = None,
    working_days: int | None = None,
) -> Derived:
    """Moves one clock's deadline later, with the reason (an event, not an edit: the
    original deadline stays on the clock). 409 when the clock cannot be extended or the
    policy's ``max_extensions`` is used up."""
    rows = await repository.clocks_for(session, adapter.kind, facts.id)
    row = next((r for r in rows if r.target == target), None)
    if row is None:
        raise Conflict(f"{adapter.kind} has no {target} clock to extend")
    policies = await compiled.current(session, [row.policy_id])
    policy = policies.get(row.policy_id)
    plan = policy.plan(target) if policy is not None else None
    if plan is None:
        raise Conflict(f"the {target} clock has no policy any more and cannot be extended")
    clock = pure(row)
    assert policy is not None  # the plan came from it
    limit = policy.max_extensions
    if limit is not None and len(clock.extensions) >= limit:
        raise Conflict(
            f"policy {policy.name!r} allows {limit} extension(s) of the {target} clock; "
            f"it has been extended {len(clock.extensions)} time(s)"
        )
    calendar = await _calendar_of(session, policies, row.calendar_id)
    try:
        extended = await bounded(
            clockwork.extend,
            clock,
            plan,
            calendar,
            now=now,
            reason=reason,
            new_due_at=new_due_at,
            working_days=working_days,
        )
    except clockwork.ExtensionRefused as exc:
        raise Conflict(f"the {target} clock cannot be extended: {exc}") from exc
    except CalendarHorizonError as exc:
        raise Unprocessable(f"SLA target {target}: {exc}") from exc
    _store(row, extended, now)
    _wake_scanner(session, [extended])
    return await _derived(session, adapter, facts.id, [pure(r) for r in rows], now, level)


async def _derived(
    session: AsyncSession,
    adapter: SubjectAdapter,
    subject_id: uuid.UUID,
    clocks: Sequence[Clock],
    now: datetime,
    level: WarningLevel,
) -> Derived:
    derived = derive(clocks)
    if derived.level != level:
        await timeline.add(
            session,
            subject_type=adapter.kind,
            subject_id=subject_id,
            type="warning_level_changed",
            at=now,
            actor=SYSTEM_PRINCIPAL,
            changes={"warning_level": {"old": level.value, "new": derived.level.value}},
        )
    return derived


async def sync_levels_locked(
    session: AsyncSession, adapter: SubjectAdapter, subject_ids: Iterable[uuid.UUID], now: datetime
) -> None:
    """Re-derives many subjects' levels and summaries from their clocks, safely against
    concurrent scanners and requests.

    The subjects are locked first (PostgreSQL; in id order, so two scanners cannot
    deadlock), then their clocks read as committed, and the subjects that changed are
    written with one executemany (``version`` untouched: it counts client edits), with a
    timeline entry per changed level.
    """
    ids = sorted(set(subject_ids))
    if not ids:
        return
    store = adapter.store
    current = await repository.lock_levels(session, store, ids)
    found = [i for i in ids if i in current]
    clocks_of = await repository.clocks_of_subjects(session, adapter.kind, found)
    updates: list[tuple[uuid.UUID, str, list[dict[str, Any]]]] = []
    entries: list[dict[str, Any]] = []
    for subject_id in found:
        old_level, old_summary = current[subject_id]
        derived = derive(pure(r) for r in clocks_of[subject_id])
        if old_level == derived.level and derived.summary == old_summary:
            continue
        updates.append((subject_id, derived.level.value, derived.summary))
        if old_level != derived.level:
            entries.append(
                timeline.row(
                    subject_type=adapter.kind,
                    subject_id=subject_id,
                    type="warning_level_changed",
                    at=now,
                    actor=SYSTEM_PRINCIPAL,
                    changes={"warning_level": {"old": old_level, "new": derived.level.value}},
                )
            )
    await repository.write_levels(session, store, updates)
    await timeline.add_many(session, entries)


async def replan_subjects(
    session: AsyncSession, adapter: SubjectAdapter, subject_ids: Iterable[uuid.UUID], now: datetime
) -> int:
    """``replan`` for subjects the engine found itself (a policy or calendar edit), each
    locked first (id order); returns how many subjects were re-planned."""
    ids = sorted(set(subject_ids))
    facts = await adapter.facts_many(session, ids)
    current = await repository.lock_levels(session, adapter.store, [i for i in ids if i in facts])
    updates: list[tuple[uuid.UUID, str, list[dict[str, Any]]]] = []
    for subject_id in sorted(current):
        old_level, old_summary = current[subject_id]
        derived = await replan(
            session, adapter, facts[subject_id], now, level=WarningLevel(old_level)
        )
        if derived.level.value != old_level or derived.summary != old_summary:
            updates.append((subject_id, derived.level.value, derived.summary))
    await session.flush()
    await repository.write_levels(session, adapter.store, updates)
    return len(current)


async def explain(
    session: AsyncSession, adapter: SubjectAdapter, subject_id: uuid.UUID, now: datetime
) -> SubjectSlaRead:
    """Every clock of a subject with what it has used and what is left, at ``now``."""
    rows = await repository.clocks_for(session, adapter.kind, subject_id)
    policies = await compiled.current(session, (r.policy_id for r in rows))
    reads = []
    clocks = [pure(r) for r in rows]
    for row, clock in zip(rows, clocks, strict=True):
        cal_row = await calendars.get(session, clock.calendar_id)
        cal = calendars.business_calendar(cal_row)
        elapsed = await bounded(used_now, clock, cal, now)
        reads.append(
            ClockRead(
                id=row.id,
                target=clock.target,
                state=clock.state.value,
                pending_reason=clock.pending_reason,
                cycle=clock.cycle,
                started_at=clock.started_at,
                due_at=clock.due_at,
                warn_at=clock.warn_at,
                met_at=clock.met_at,
                breached_at=clock.breached_at,
                elapsed_seconds=round(elapsed, 3),
                remaining_seconds=None
                if clock.target_seconds is None
                else round(clock.target_seconds - elapsed, 3),
                paused_segments=list(clock.paused_segments),
                original_due_at=clock.extensions[0]["from"] if clock.extensions else clock.due_at,
                extensions=list(clock.extensions),
                escalation_level=escalation_level(clock.stage),
                warning_level=clock_level(clock).value,
                calendar_id=cal_row.id,
                calendar_name=cal_row.name,
                policy_id=clock.policy_id,
            )
        )
    # The policy that plans the subject now: that of its open clocks, else of any.
    ranked = sorted(clocks, key=lambda c: not (c.is_open or c.is_pending))
    policy_id = next((c.policy_id for c in ranked if c.policy_id), None)
    policy = policies.get(policy_id)
    policy_name = policy.name if policy is not None else None
    replanning = await repository.replan_waiting(
        session, {r.policy_id for r in rows}, {r.calendar_id for r in rows}
    )
    return SubjectSlaRead(
        subject_type=adapter.kind,
        subject_id=subject_id,
        warning_level=derive(clocks).level.value,
        policy_id=policy_id,
        policy_name=policy_name,
        replanning=replanning,
        clocks=reads,
    )
