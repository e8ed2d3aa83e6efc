"""All SQL for calendars and SLA policies."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.sla.models import (
    Calendar,
    ClockState,
    SlaClock,
    SlaPolicy,
    SlaTransition,
    Subject,
)


async def get_calendar(session: AsyncSession, calendar_id: uuid.UUID) -> Calendar | None:
    return await session.get(Calendar, calendar_id)


async def get_calendar_by_name(session: AsyncSession, name: str) -> Calendar | None:
    stmt = select(Calendar).where(Calendar.name == name)
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_calendars(session: AsyncSession) -> Sequence[Calendar]:
    stmt = select(Calendar).order_by(Calendar.builtin.desc(), Calendar.name)
    return (await session.execute(stmt)).scalars().all()


async def count_calendars(session: AsyncSession) -> int:
    return len((await session.execute(select(Calendar.id))).all())


async def get_policy(session: AsyncSession, policy_id: uuid.UUID) -> SlaPolicy | None:
    return await session.get(SlaPolicy, policy_id)


async def get_policy_by_name(session: AsyncSession, name: str) -> SlaPolicy | None:
    stmt = select(SlaPolicy).where(SlaPolicy.name == name)
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_policies(
    session: AsyncSession, *, subject: Subject | None = None, enabled: bool | None = None
) -> Sequence[SlaPolicy]:
    stmt = select(SlaPolicy).order_by(SlaPolicy.subject, SlaPolicy.rank, SlaPolicy.name)
    if subject is not None:
        stmt = stmt.where(SlaPolicy.subject == subject)
    if enabled is not None:
        stmt = stmt.where(SlaPolicy.enabled.is_(enabled))
    return (await session.execute(stmt)).scalars().all()


# --- clocks ------------------------------------------------------------------------------


async def clocks_for(
    session: AsyncSession, subject_type: str, subject_id: uuid.UUID
) -> list[SlaClock]:
    stmt = (
        select(SlaClock)
        .where(SlaClock.subject_type == subject_type, SlaClock.subject_id == subject_id)
        .order_by(SlaClock.created_at, SlaClock.target)
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(stmt)).scalars().all())


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> list[SlaClock]:
    """Clocks whose next check has come, locked for this transaction.

    PostgreSQL: FOR UPDATE SKIP LOCKED, so concurrent scanners take disjoint rows.
    SQLite has one writer at a time; its transaction is the lock.
    """
    stmt = (
        select(SlaClock)
        .where(SlaClock.next_check_at <= now)
        .order_by(SlaClock.next_check_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list((await session.execute(stmt)).scalars().all())


async def open_clocks_of_policy(session: AsyncSession, policy_id: uuid.UUID) -> list[SlaClock]:
    stmt = select(SlaClock).where(
        SlaClock.policy_id == policy_id,
        SlaClock.met_at.is_(None),
        SlaClock.state.in_([ClockState.running, ClockState.paused, ClockState.breached]),
    )
    return list((await session.execute(stmt)).scalars().all())


async def record_transition(
    session: AsyncSession, *, clock_id: uuid.UUID, cycle: int, stage: int, at: datetime
) -> bool:
    """True if this (clock, cycle, stage) is new; False if another scanner recorded it."""
    try:
        async with session.begin_nested():
            session.add(SlaTransition(clock_id=clock_id, cycle=cycle, stage=stage, occurred_at=at))
            await session.flush()
    except IntegrityError:
        return False
    return True


async def earliest_check(session: AsyncSession) -> datetime | None:
    """When the scanner next has work (an index-only look-up on next_check_at)."""
    stmt = select(SlaClock.next_check_at).where(SlaClock.next_check_at.is_not(None))
    stmt = stmt.order_by(SlaClock.next_check_at).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()
