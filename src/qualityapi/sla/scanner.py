"""The scanner: moves due clocks blue → yellow → red → escalation levels.

Each pass claims clocks whose ``next_check_at`` has come (SKIP LOCKED on PostgreSQL, so
several replicas share the work), applies every stage each one has reached, and in the
same transaction records the transition (unique per clock, cycle and stage: applied
exactly once whoever gets there first), the outbox message for the webhooks, the
timeline entry and the subject's new warning level.

A pass costs a fixed number of statements, whatever the number of clocks it claimed:
one INSERT ... ON CONFLICT DO NOTHING RETURNING for the transitions (only the returned,
new ones produce messages), one query for the subjects' descriptions, one executemany
each for the outbox, the timeline and the clocks, and one locked read, one clock read
and one executemany for the subjects' levels. If any of it fails, the pass goes back to
a savepoint and applies the clocks one by one, each in its own savepoint: one failing
clock is logged and retried later; it never stops the batch.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qualityapi.auth.principal import SYSTEM_PRINCIPAL
from qualityapi.common.jsonable import jsonable
from qualityapi.common.signals import commit
from qualityapi.db import health
from qualityapi.events import repository as events
from qualityapi.sla import compiled, engine, replans, repository, subjects
from qualityapi.sla import metrics as sla_metrics
from qualityapi.sla.clockwork import next_check, stages_due
from qualityapi.sla.compiled import CompiledPolicy
from qualityapi.sla.events import event_of, notified_for
from qualityapi.sla.models import ClockState
from qualityapi.sla.subjects import Description
from qualityapi.sla.vocabulary import BREACHED, WarningLevel, escalation_level, level_of_stage
from qualityapi.timeline import repository as timeline

log = structlog.get_logger("qualityapi.sla.scanner")

# A clock whose processing failed is tried again after this long, not on every pass.
RETRY_AFTER = timedelta(seconds=30)

SubjectKey = tuple[str, uuid.UUID]
TransitionKey = tuple[uuid.UUID, int, int]


@dataclass(frozen=True)
class ScanResult:
    claimed: int
    transitions: int
    failed: int
    replanned: int = 0
    # Claimed, but their subject was being changed by a request: taken on the next pass.
    deferred: int = 0


def _messages(
    *,
    clock: repository.ClaimedClock,
    stage: int,
    policy: CompiledPolicy | None,
    described: Description | None,
    now: datetime,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The outbox row and the timeline entry of one new transition."""
    message_type, timeline_type = event_of(stage)
    level = escalation_level(stage)
    notified = notified_for(policy.ladder if policy else None, stage, described)
    data = {
        "subject": {
            "type": clock.subject_type,
            "id": str(clock.subject_id),
            "number": described.number if described else None,
            "title": described.title if described else None,
        },
        "target": clock.target,
        "due_at": jsonable(clock.due_at),
        # An extended deadline says so, with the reasons (the first "from" is the original).
        "original_due_at": clock.extensions[0]["from"]
        if clock.extensions
        else jsonable(clock.due_at),
        "extensions": list(clock.extensions or []),
        "warning_level": level_of_stage(stage).value,
        "escalation_level": level,
        "notified": notified,
        "assignee_id": _assignee(described),
        "clock_id": str(clock.id),
    }
    message = events.row(
        type=message_type,
        subject_key=f"{clock.subject_type}:{clock.subject_id}",
        data=data,
        at=now,
    )
    unreachable = [n for n in notified if n["staff_id"] is None]
    note = f"{clock.target}: {message_type}" + (f" level {level}" if level else "")
    if unreachable:
        note += "; not notified: " + "; ".join(f"{n['role']} ({n['reason']})" for n in unreachable)
    entry = timeline.row(
        subject_type=clock.subject_type,
        subject_id=clock.subject_id,
        type=timeline_type,
        at=now,
        actor=SYSTEM_PRINCIPAL,
        changes={"stage": {"old": stage - 1 if stage != BREACHED else None, "new": stage}},
        note=note,
    )
    return message, entry


def _assignee(described: Description | None) -> str | None:
    contact = described.people.get("assignee") if described is not None else None
    return None if contact is None or contact.staff_id is None else str(contact.staff_id)


def _by_kind(subjects_: Iterable[SubjectKey]) -> dict[str, set[uuid.UUID]]:
    by_kind: dict[str, set[uuid.UUID]] = defaultdict(set)
    for subject_type, subject_id in subjects_:
        by_kind[subject_type].add(subject_id)
    return by_kind


async def _describe(
    session: AsyncSession, touched: Iterable[SubjectKey]
) -> dict[SubjectKey, Description]:
    """The subjects as SLA events show them: one query per kind of subject."""
    described: dict[SubjectKey, Description] = {}
    for subject_type, ids in _by_kind(touched).items():
        adapter = subjects.find(subject_type)
        if adapter is not None:
            found = await adapter.describe_many(session, ids)
            described.update(((subject_type, i), d) for i, d in found.items())
    return described


async def _sync_subjects(
    session: AsyncSession, touched: Iterable[SubjectKey], now: datetime
) -> None:
    # Another scanner may have moved a different clock of the same subject: the subjects
    # are locked (in id order, so two scanners cannot deadlock) before their clocks are read.
    by_kind = _by_kind(touched)
    for subject_type in sorted(by_kind):
        adapter = subjects.find(subject_type)
        if adapter is not None:
            await engine.sync_levels_locked(session, adapter, by_kind[subject_type], now)


# -- the batched pass ---------------------------------------------------------------------


async def _scan_batch(
    session: AsyncSession,
    due: Sequence[repository.ClaimedClock],
    now: datetime,
    policies: compiled.CompiledSet,
) -> int:
    """Applies every claimed clock with a fixed number of statements; transitions made."""
    reached_by_clock: list[list[int]] = []
    keys: list[TransitionKey] = []
    updates: list[dict[str, Any]] = []
    for clock in due:
        policy = policies.get(clock.policy_id)
        ladder = policy.delays if policy is not None else ()
        reached = stages_due(
            clock.stage, warn_at=clock.warn_at, due_at=clock.due_at, ladder=ladder, now=now
        )
        stage, state, breached_at = clock.stage, clock.state, clock.breached_at
        for reached_stage in reached:
            stage = reached_stage
            if reached_stage == BREACHED:
                state, breached_at = ClockState.breached, clock.due_at
        updates.append(
            {
                "id": clock.id,
                "stage": stage,
                "state": state,
                "breached_at": breached_at,
                "next_check_at": next_check(
                    stage, warn_at=clock.warn_at, due_at=clock.due_at, ladder=ladder
                ),
                "updated_at": now,
            }
        )
        keys.extend((clock.id, clock.cycle, s) for s in reached)
        reached_by_clock.append(reached)

    # Only the transitions this pass recorded produce messages: one another scanner
    # recorded first was already announced by it.
    fresh = await repository.insert_transitions(session, keys, now)
    applied = [
        [s for s in reached if (clock.id, clock.cycle, s) in fresh]
        for clock, reached in zip(due, reached_by_clock, strict=True)
    ]
    touched = {(c.subject_type, c.subject_id) for c, new in zip(due, applied, strict=True) if new}
    described = await _describe(session, touched)
    outbox: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for clock, new in zip(due, applied, strict=True):
        for stage in new:
            message, entry = _messages(
                clock=clock,
                stage=stage,
                policy=policies.get(clock.policy_id),
                described=described.get((clock.subject_type, clock.subject_id)),
                now=now,
            )
            outbox.append(message)
            entries.append(entry)
    await events.emit_many(session, outbox)
    await timeline.add_many(session, entries)
    await repository.update_clocks(session, updates)
    await _sync_subjects(session, touched, now)
    sla_metrics.count_transitions(outbox)
    return len(outbox)


# -- a new subject already due --------------------------------------------------------------


async def settle(
    session: AsyncSession, adapter: subjects.SubjectAdapter, subject_id: uuid.UUID, now: datetime
) -> engine.Derived:
    """The stages a new subject's clocks reached before it was entered (reported two hours
    ago, due one hour ago), applied now as the next pass would apply them: recorded once,
    announced after the subject's own event, and its level right in the response instead
    of blue until the pass. Call after the subject and its event are written; returns the
    subject's level and summary then."""
    due = await repository.due_clocks_of(session, adapter.kind, subject_id, now)
    if due:
        policies = await compiled.current(session, (c.policy_id for c in due))
        await _scan_batch(session, due, now, policies)
    level, summary = (await repository.lock_levels(session, adapter.store, [subject_id]))[
        subject_id
    ]
    return engine.Derived(WarningLevel(level), summary)


# -- the fallback: one clock at a time ----------------------------------------------------


async def _scan_each(
    session: AsyncSession,
    due: Sequence[repository.ClaimedClock],
    now: datetime,
    policies: compiled.CompiledSet,
) -> tuple[int, int]:
    """The batch path for one clock at a time, each in its own savepoint, so a clock that
    fails is set aside (retried later) and the others still move; (transitions, failed)."""
    transitions = failed = 0
    for clock in due:
        try:
            async with session.begin_nested():
                transitions += await _scan_batch(session, [clock], now, policies)
        except Exception:
            failed += 1
            log.exception("sla_clock_failed", clock_id=str(clock.id))
            await repository.retry_later(session, clock.id, now + RETRY_AFTER)
    return transitions, failed


async def scan_once(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime, *, batch: int = 500
) -> ScanResult:
    """One pass: a batch of pending re-plans, then the clocks due at ``now`` (at most
    ``batch`` of them)."""
    replanned = await _replan_once(sessionmaker, now)
    async with sessionmaker() as session:
        due = await repository.claim_due(session, now, batch)
        if not due:
            return ScanResult(claimed=0, transitions=0, failed=0, replanned=replanned)
        claimed = len(due)
        due = await _writable(session, due)
        deferred = claimed - len(due)
        if not due:
            return ScanResult(claimed, 0, 0, replanned=replanned, deferred=deferred)
        policies = await compiled.current(session, (c.policy_id for c in due))
        failed = 0
        try:
            async with session.begin_nested():
                transitions = await _scan_batch(session, due, now, policies)
        except Exception as exc:
            if health.is_unavailable(exc):
                raise  # no connection: one clock at a time would fail the same way
            log.exception("sla_batch_failed", claimed=len(due))
            transitions, failed = await _scan_each(session, due, now, policies)
        await commit(session)
    return ScanResult(
        claimed=claimed,
        transitions=transitions,
        failed=failed,
        replanned=replanned,
        deferred=deferred,
    )


async def _writable(
    session: AsyncSession, due: Sequence[repository.ClaimedClock]
) -> list[repository.ClaimedClock]:
    """The claimed clocks whose subjects this pass could lock. A subject's row is locked
    before any of its events is written, by requests and by the scanner alike, so its
    events are numbered in commit order (what webhooks deliver in order); a subject a
    request holds now is skipped, not waited for (no deadlock with that request, which
    locks the subject and then its clocks)."""
    free: set[SubjectKey] = set()
    by_kind = _by_kind((c.subject_type, c.subject_id) for c in due)
    for subject_type in sorted(by_kind):
        ids = sorted(by_kind[subject_type])
        adapter = subjects.find(subject_type)
        if adapter is None:
            free.update((subject_type, i) for i in ids)
            continue
        locked = await repository.lock_subjects(session, adapter.store, ids)
        free.update((subject_type, i) for i in locked)
    return [c for c in due if (c.subject_type, c.subject_id) in free]


async def _replan_once(sessionmaker: async_sessionmaker[AsyncSession], now: datetime) -> int:
    """A re-plan batch in its own transaction: one that fails is logged and tried again
    on the next pass; it never stops the scan."""
    if not replans.should_look():
        return 0
    try:
        async with sessionmaker() as session:
            done = await replans.run_batch(session, now)
            await commit(session)
            return done
    except Exception as exc:
        if not health.outage(exc):
            log.exception("sla_replan_failed")
        replans.retry_later(RETRY_AFTER.total_seconds())
        return 0
