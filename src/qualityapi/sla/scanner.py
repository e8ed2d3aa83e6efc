"""The scanner: moves due clocks blue → yellow → red → escalation levels.

Each pass claims clocks whose ``next_check_at`` has come (SKIP LOCKED on PostgreSQL, so
several replicas share the work), applies every stage each one has reached, and in the
same transaction records the transition (unique per clock, cycle and stage: applied
exactly once whoever gets there first), the outbox message for the webhooks, the
timeline entry and the subject's new warning level. One failing clock is logged and
retried later; it never stops the batch.
"""

from __future__ import annotations

import uuid
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
from qualityapi.sla.models import ClockState, SlaClock, SlaPolicy
from qualityapi.sla.schemas import EscalationLevel
from qualityapi.sla.subjects import KINDS
from qualityapi.timeline import repository as timeline

log = structlog.get_logger("qualityapi.sla.scanner")

# A clock whose processing failed is tried again after this long, not on every pass.
RETRY_AFTER = timedelta(seconds=30)


@dataclass(frozen=True)
class ScanResult:
    claimed: int
    transitions: int
    failed: int


def _event(stage: int) -> tuple[str, str]:
    if stage == WARNED:
        return "sla.warning", "sla_warning"
    if stage == BREACHED:
        return "sla.breached", "sla_breached"
    return "sla.escalated", "sla_escalated"


def _level_name(stage: int) -> str:
    return "yellow" if stage == WARNED else "red"


def _notified(policy: SlaPolicy | None, stage: int, people: dict[str, Any]) -> list[dict[str, Any]]:
    """Whom the stage notifies: an escalation level's list; a breach notifies level 1."""
    if policy is None or stage < BREACHED:
        return [{"role": "assignee", "staff_id": _str(people.get("assignee"))}]
    levels = [EscalationLevel.model_validate(lvl) for lvl in policy.escalation]
    index = max(0, stage - BREACHED - 1) if stage > BREACHED else 0
    if index >= len(levels):
        return []
    return [
        {"role": n.role, "staff_id": _str(n.staff_id if n.role == "staff" else people.get(n.role))}
        for n in levels[index].notify
    ]


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


async def _describe(
    session: AsyncSession, clock: SlaClock, seen: dict[tuple[str, uuid.UUID], dict[str, Any]]
) -> dict[str, Any]:
    """The clock's subject as SLA events show it, loaded once per pass per subject."""
    key = (clock.subject_type, clock.subject_id)
    if key not in seen:
        kind = KINDS.get(clock.subject_type)
        seen[key] = (await kind.describe(session, clock.subject_id) if kind else None) or {}
    return seen[key]


async def _advance(
    session: AsyncSession,
    clock: SlaClock,
    now: datetime,
    policy: SlaPolicy | None,
    seen: dict[tuple[str, uuid.UUID], dict[str, Any]],
) -> int:
    ladder = clocks.ladder_of(policy)
    reached = stages_due(
        clock.stage, warn_at=clock.warn_at, due_at=clock.due_at, ladder=ladder, now=now
    )
    applied = 0
    for stage in reached:
        fresh = await repository.record_transition(
            session, clock_id=clock.id, cycle=clock.cycle, stage=stage, at=now
        )
        clock.stage = stage
        if stage == BREACHED:
            clock.state = ClockState.breached
            clock.breached_at = clock.due_at
        if not fresh:
            continue  # another scanner applied it first
        applied += 1
        described = await _describe(session, clock, seen)
        message_type, timeline_type = _event(stage)
        level = max(0, stage - BREACHED)
        data = {
            "subject": described.get(
                "subject", {"type": clock.subject_type, "id": str(clock.subject_id)}
            ),
            "target": clock.target,
            "due_at": jsonable(clock.due_at),
            "warning_level": _level_name(stage),
            "escalation_level": level,
            "notified": _notified(policy, stage, described.get("people", {})),
            "clock_id": str(clock.id),
        }
        await events.emit(
            session,
            type=message_type,
            subject_key=f"{clock.subject_type}:{clock.subject_id}",
            data=data,
            at=now,
        )
        await timeline.add(
            session,
            subject_type=clock.subject_type,
            subject_id=clock.subject_id,
            type=timeline_type,
            at=now,
            actor=SYSTEM_PRINCIPAL,
            changes={"stage": {"old": stage - 1 if stage != BREACHED else None, "new": stage}},
            note=f"{clock.target}: {message_type}" + (f" level {level}" if level else ""),
        )
    clock.next_check_at = next_check(
        clock.stage, warn_at=clock.warn_at, due_at=clock.due_at, ladder=ladder
    )
    clock.updated_at = now
    return applied


async def _sync_subjects(
    session: AsyncSession, subjects: set[tuple[str, uuid.UUID]], now: datetime
) -> None:
    # Another scanner may have moved a different clock of the same order: each order is
    # locked (in id order, so two scanners cannot deadlock) before its clocks are read.
    for subject_type, subject_id in sorted(subjects):
        kind = KINDS.get(subject_type)
        if kind is not None:
            await kind.sync_level(session, subject_id, now)


async def scan_once(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime, *, batch: int = 500
) -> ScanResult:
    """One pass over the clocks due at ``now`` (at most ``batch`` of them)."""
    transitions = failed = 0
    async with sessionmaker() as session:
        due = await repository.claim_due(session, now, batch)
        policies: dict[uuid.UUID, SlaPolicy | None] = {}
        touched: set[tuple[str, uuid.UUID]] = set()
        seen: dict[tuple[str, uuid.UUID], dict[str, Any]] = {}
        for clock in due:
            try:
                async with session.begin_nested():
                    policy = None
                    if clock.policy_id is not None:
                        if clock.policy_id not in policies:
                            policies[clock.policy_id] = await repository.get_policy(
                                session, clock.policy_id
                            )
                        policy = policies[clock.policy_id]
                    applied = await _advance(session, clock, now, policy, seen)
                    await session.flush()
                transitions += applied
                if applied:
                    touched.add((clock.subject_type, clock.subject_id))
            except Exception:
                failed += 1
                log.exception("sla_clock_failed", clock_id=str(clock.id))
                async with session.begin_nested():
                    clock.next_check_at = now + RETRY_AFTER
                    await session.flush()
        await _sync_subjects(session, touched, now)
        await commit(session)
    return ScanResult(claimed=len(due), transitions=transitions, failed=failed)
