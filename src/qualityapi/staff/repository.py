from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.common.pagination import PageParams, paginate_newest_first
from qualityapi.staff.models import Staff, Team


async def get_team(session: AsyncSession, team_id: uuid.UUID) -> Team | None:
    return await session.get(Team, team_id)


async def get_team_by_name(session: AsyncSession, name: str) -> Team | None:
    return (await session.execute(select(Team).where(Team.name == name))).scalar_one_or_none()


async def list_teams(session: AsyncSession, params: PageParams) -> Sequence[Team]:
    stmt = paginate_newest_first(select(Team), params, Team.created_at, Team.id)
    return (await session.execute(stmt)).scalars().all()


async def get_staff(session: AsyncSession, staff_id: uuid.UUID) -> Staff | None:
    return await session.get(Staff, staff_id)


async def list_staff(
    session: AsyncSession, params: PageParams, *, team_id: uuid.UUID | None, active: bool | None
) -> Sequence[Staff]:
    stmt = select(Staff)
    if team_id is not None:
        stmt = stmt.where(Staff.team_id == team_id)
    if active is not None:
        stmt = stmt.where(Staff.active.is_(active))
    stmt = paginate_newest_first(stmt, params, Staff.created_at, Staff.id)
    return (await session.execute(stmt)).scalars().all()
