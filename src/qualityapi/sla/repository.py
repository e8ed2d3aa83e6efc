"""All SQL for calendars and SLA policies."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.sla.models import Calendar, SlaPolicy, Subject


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
