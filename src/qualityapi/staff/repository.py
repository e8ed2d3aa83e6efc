from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.common.pagination import PageParams, paginate_newest_first
from qualityapi.db.base import new_id, table_of
from qualityapi.staff.models import ErrorRecord, ErrorSource, Staff, Team

_records = table_of(ErrorRecord)


async def get_team(session: AsyncSession, team_id: uuid.UUID) -> Team | None:
    return await session.get(Team, team_id)


async def get_team_by_name(session: AsyncSession, name: str) -> Team | None:
    return (await session.execute(select(Team).where(Team.name == name))).scalar_one_or_none()


async def list_teams(session: AsyncSession, params: PageParams) -> Sequence[Team]:
    stmt = paginate_newest_first(select(Team), params, Team.created_at, Team.id)
    return (await session.execute(stmt)).scalars().all()


async def get_staff(session: AsyncSession, staff_id: uuid.UUID) -> Staff | None:
    return await session.get(Staff, staff_id)


async def contacts_of(session: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """id, name, email, phone and title of each staff member found (one query): the
    contact fields ``sla.*`` events carry beside the ids they notify."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    stmt = select(Staff.id, Staff.name, Staff.email, Staff.phone, Staff.title).where(
        Staff.id.in_(wanted)
    )
    return {row.id: row for row in await session.execute(stmt)}


async def names_of(
    session: AsyncSession, staff_ids: Iterable[uuid.UUID], team_ids: Iterable[uuid.UUID]
) -> tuple[dict[uuid.UUID, str], dict[uuid.UUID, str]]:
    """Staff and team names by id (a query each, none for an empty set): what timelines
    show beside the ids they record."""
    people: dict[uuid.UUID, str] = {}
    teams: dict[uuid.UUID, str] = {}
    wanted = sorted(set(staff_ids))
    if wanted:
        stmt = select(Staff.id, Staff.name).where(Staff.id.in_(wanted))
        people = {row.id: row.name for row in await session.execute(stmt)}
    wanted_teams = sorted(set(team_ids))
    if wanted_teams:
        stmt = select(Team.id, Team.name).where(Team.id.in_(wanted_teams))
        teams = {row.id: row.name for row in await session.execute(stmt)}
    return people, teams


async def list_staff(
    session: AsyncSession,
    params: PageParams,
    *,
    team_id: uuid.UUID | None,
    active: bool | None,
    retraining_required: bool | None = None,
) -> Sequence[Staff]:
    stmt = select(Staff)
    if team_id is not None:
        stmt = stmt.where(Staff.team_id == team_id)
    if active is not None:
        stmt = stmt.where(Staff.active.is_(active))
    if retraining_required is not None:
        stmt = stmt.where(Staff.retraining_required.is_(retraining_required))
    stmt = paginate_newest_first(stmt, params, Staff.created_at, Staff.id)
    return (await session.execute(stmt)).scalars().all()


async def lock_staff(session: AsyncSession, staff_id: uuid.UUID) -> Staff | None:
    """The staff row, read afresh and locked (PostgreSQL) until the transaction ends, so two
    records for one person are counted one after the other and the flag is raised once."""
    stmt = (
        select(Staff)
        .where(Staff.id == staff_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_error_record(
    session: AsyncSession, staff_id: uuid.UUID, record_id: uuid.UUID
) -> ErrorRecord | None:
    record = await session.get(ErrorRecord, record_id)
    return record if record is not None and record.staff_id == staff_id else None


@dataclass(frozen=True)
class ErrorRecordFilter:
    source: Sequence[ErrorSource] = ()
    category: str | None = None
    voided: bool | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None


async def list_error_records(
    session: AsyncSession, staff_id: uuid.UUID, params: PageParams, f: ErrorRecordFilter
) -> Sequence[ErrorRecord]:
    """Newest ``occurred_at`` first (the cursor carries occurred_at and id)."""
    stmt = select(ErrorRecord).where(ErrorRecord.staff_id == staff_id)
    if f.source:
        stmt = stmt.where(ErrorRecord.source.in_(f.source))
    if f.category is not None:
        stmt = stmt.where(ErrorRecord.category == f.category)
    if f.voided is not None:
        voided = ErrorRecord.voided_at.is_not(None)
        stmt = stmt.where(voided if f.voided else ~voided)
    if f.occurred_from is not None:
        stmt = stmt.where(ErrorRecord.occurred_at >= f.occurred_from)
    if f.occurred_to is not None:
        stmt = stmt.where(ErrorRecord.occurred_at < f.occurred_to)
    stmt = paginate_newest_first(stmt, params, ErrorRecord.occurred_at, ErrorRecord.id)
    return (await session.execute(stmt)).scalars().all()


async def counted_error_records(
    session: AsyncSession, staff_id: uuid.UUID, *, after: datetime, until: datetime
) -> Sequence[ErrorRecord]:
    """The records the retraining rule counts: not voided, after < occurred_at <= until."""
    stmt = (
        select(ErrorRecord)
        .where(
            ErrorRecord.staff_id == staff_id,
            ErrorRecord.voided_at.is_(None),
            ErrorRecord.occurred_at > after,
            ErrorRecord.occurred_at <= until,
        )
        .order_by(ErrorRecord.occurred_at.desc(), ErrorRecord.id.desc())
    )
    return (await session.execute(stmt)).scalars().all()


async def insert_error_record_once(
    session: AsyncSession, values: dict[str, Any]
) -> ErrorRecord | None:
    """Inserts an automatic record unless one with its ``dedupe_key`` exists (then None).

    ON CONFLICT DO NOTHING rather than a check and an INSERT: a duplicate must never fail
    the transaction of the event that caused it.
    """
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(_records)
        .values(id=new_id(), version=1, **values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(_records.c.id)
    )
    new = (await session.execute(stmt)).scalar_one_or_none()
    return None if new is None else await session.get(ErrorRecord, new)
