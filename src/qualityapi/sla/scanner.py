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
from qualityapi.events import repository as events
from qualityapi.sla import clocks, repository
from qualityapi.sla.clockwork import BREACHED, WARNED, next_check, stages_due
from qualityapi.sla.models import ClockState, SlaPolicy
from qualityapi.sla.schemas import EscalationLevel
from qualityapi.sla.subjects import KINDS
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


@dataclass(frozen=True)
class _Rules:
    """A clock's policy as the scanner uses it, parsed once per pass."""

    ladder: list[timedelta]
    # None without a policy: a stage then notifies the assignee only.
    levels: list[EscalationLevel] | None

    @classmethod
    def of(cls, policy: SlaPolicy | None) -> _Rules:
        if policy is None:
            return cls(ladder=[], levels=None)
        return cls(
            ladder=clocks.ladder_of(policy),
            levels=[EscalationLevel.model_validate(lvl) for lvl in policy.escalation],
        )


def _event(stage: int) -> tuple[str, str]:
    if stage == WARNED:
        return "sla.warning", "sla_warning"
    if stage == BREACHED:
        return "sla.breached", "sla_breached"
    return "sla.escalated", "sla_escalated"


def _level_name(stage: int) -> str:
    return "yellow" if stage == WARNED else "red"


def _notified(rules: _Rules, stage: int, people: dict[str, Any]) -> list[dict[str, Any]]:
    """Whom the stage notifies: an escalation level's list; a breach notifies level 1."""
    if rules.levels is None or stage < BREACHED:
        return [{"role": "assignee", "staff_id": _str(people.get("assignee"))}]
    index = max(0, stage - BREACHED - 1) if stage > BREACHED else 0
    if index >= len(rules.levels):
        return []
    return [
        {"role": n.role, "staff_id": _str(n.staff_id if n.role == "staff" else people.get(n.role))}
        for n in rules.levels[index].notify
    ]


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _messages(
    *,
    clock_id: uuid.UUID,
    subject_type: str,
    subject_id: uuid.UUID,
    target: str,
    due_at: datetime | None,
    stage: int,
    rules: _Rules,
    described: dict[str, Any],
    now: datetime,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The outbox row and the timeline entry of one new transition."""
    message_type, timeline_type = _event(stage)
    level = max(0, stage - BREACHED)
    data = {
        "subject": described.get("subject", {"type": subject_type, "id": str(subject_id)}),
        "target": target,
        "due_at": jsonable(due_at),
        "warning_level": _level_name(stage),
        "escalation_level": level,
        "notified": _notified(rules, stage, described.get("people", {})),
        "clock_id": str(clock_id),
    }
    message = events.row(
        type=message_type, subject_key=f"{subject_type}:{subject_id}", data=data, at=now
    )
    entry = timeline.row(
        subject_type=subject_type,
        subject_id=subject_id,
        type=timeline_type,
        at=now,
        actor=SYSTEM_PRINCIPAL,
        changes={"stage": {"old": stage - 1 if stage != BREACHED else None, "new": stage}},
        note=f"{target}: {message_type}" + (f" level {level}" if level else ""),
    )
    return message, entry


def _by_kind(subjects: Iterable[SubjectKey]) -> dict[str, set[uuid.UUID]]:
    by_kind: dict[str, set[uuid.UUID]] = defaultdict(set)
    for subject_type, subject_id in subjects:
        by_kind[subject_type].add(subject_id)
    return by_kind


async def _describe(
    session: AsyncSession, subjects: Iterable[SubjectKey]
) -> dict[SubjectKey, dict[str, Any]]:
    """The subjects as SLA events show them: one query per kind of subject."""
    described: dict[SubjectKey, dict[str, Any]] = {}
    for subject_type, ids in _by_kind(subjects).items():
        kind = KINDS.get(subject_type)
        if kind is not None:
            found = await kind.describe_many(session, ids)
            described.update(((subject_type, i), d) for i, d in found.items())
    return described


async def _sync_subjects(
    session: AsyncSession, subjects: Iterable[SubjectKey], now: datetime
) -> None:
    # Another scanner may have moved a different clock of the same subject: the subjects
    # are locked (in id order, so two scanners cannot deadlock) before their clocks are read.
    by_kind = _by_kind(subjects)
    for subject_type in sorted(by_kind):
        kind = KINDS.get(subject_type)
        if kind is not None:
            await kind.sync_levels(session, by_kind[subject_type], now)


# -- the batched pass ---------------------------------------------------------------------


async def _scan_batch(
    session: AsyncSession,
    due: Sequence[repository.ClaimedClock],
    now: datetime,
    rules: dict[uuid.UUID | None, _Rules],
) -> int:
    """Applies every claimed clock with a fixed number of statements; transitions made."""
    reached_by_clock: list[list[int]] = []
    keys: list[TransitionKey] = []
    updates: list[dict[str, Any]] = []
    for clock in due:
        ladder = rules[clock.policy_id].ladder
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
                clock_id=clock.id,
                subject_type=clock.subject_type,
                subject_id=clock.subject_id,
                target=clock.target,
                due_at=clock.due_at,
                stage=stage,
                rules=rules[clock.policy_id],
                described=described.get((clock.subject_type, clock.subject_id), {}),
                now=now,
            )
            outbox.append(message)
            entries.append(entry)
    await events.emit_many(session, outbox)
    await timeline.add_many(session, entries)
    await repository.update_clocks(session, updates)
    await _sync_subjects(session, touched, now)
    return len(outbox)


# -- the fallback: one clock at a time ----------------------------------------------------


async def _scan_each(
    session: AsyncSession,
    due: Sequence[repository.ClaimedClock],
    now: datetime,
    rules: dict[uuid.UUID | None, _Rules],
) -> tuple[int, int]:
    """The batch path for one clock at a time, each in its own savepoint, so a clock that
    fails is set aside (retried later) and the others still move; (transitions, failed)."""
    transitions = failed = 0
    for clock in due:
        try:
            async with session.begin_nested():
                transitions += await _scan_batch(session, [clock], now, rules)
        except Exception:
            failed += 1
            log.exception("sla_clock_failed", clock_id=str(clock.id))
            await repository.retry_later(session, clock.id, now + RETRY_AFTER)
    return transitions, failed


async def scan_once(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime, *, batch: int = 500
) -> ScanResult:
    """One pass over the clocks due at ``now`` (at most ``batch`` of them)."""
    async with sessionmaker() as session:
        due = await repository.claim_due(session, now, batch)
        if not due:
            return ScanResult(claimed=0, transitions=0, failed=0)
        policies = await repository.policies_by_id(
            session, {c.policy_id for c in due if c.policy_id is not None}
        )
        rules: dict[uuid.UUID | None, _Rules] = {None: _Rules.of(None)}
        for clock in due:
            if clock.policy_id not in rules:
                rules[clock.policy_id] = _Rules.of(policies.get(clock.policy_id))
        failed = 0
        try:
            async with session.begin_nested():
                transitions = await _scan_batch(session, due, now, rules)
        except Exception:
            log.exception("sla_batch_failed", claimed=len(due))
            transitions, failed = await _scan_each(session, due, now, rules)
        await commit(session)
    return ScanResult(claimed=len(due), transitions=transitions, failed=failed)
