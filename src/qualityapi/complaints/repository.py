"""All SQL for complaints, their corrective actions and improvement plans."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.common.pagination import PageParams, paginate_newest_first
from qualityapi.complaints.models import (
    Complaint,
    CorrectiveAction,
    Dimension,
    ImprovementPlan,
    PlanStatus,
    Severity,
)
from qualityapi.complaints.states import Status
from qualityapi.db.base import table_of
from qualityapi.sla.vocabulary import WarningLevel
from qualityapi.staff.models import Staff, Team
from qualityapi.work_orders import repository as work_orders


async def next_number(session: AsyncSession, year: int) -> int:
    # The work-order counters (a PostgreSQL sequence, a SQLite counter row) serve any prefix.
    return await work_orders.next_number(session, "CP", year)


async def get(
    session: AsyncSession, complaint_id: uuid.UUID, *, lock: bool = False
) -> Complaint | None:
    """``lock``: held until commit, before the change writes events (event order, see
    ``work_orders.repository.get``)."""
    return await session.get(Complaint, complaint_id, with_for_update=lock or None)


@dataclass(frozen=True)
class ComplaintFilter:
    status: Sequence[Status] = ()
    severity: Sequence[Severity] = ()
    warning_level: Sequence[WarningLevel] = ()
    owner_id: uuid.UUID | None = None
    received_by: uuid.UUID | None = None
    subject_staff_id: uuid.UUID | None = None
    work_order_id: uuid.UUID | None = None
    category: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None


async def list_page(
    session: AsyncSession, params: PageParams, f: ComplaintFilter
) -> Sequence[Complaint]:
    stmt = select(Complaint)
    if f.status:
        stmt = stmt.where(Complaint.status.in_(f.status))
    if f.severity:
        stmt = stmt.where(Complaint.severity.in_(f.severity))
    if f.warning_level:
        stmt = stmt.where(Complaint.warning_level.in_(f.warning_level))
    for column, value in (
        (Complaint.owner_id, f.owner_id),
        (Complaint.received_by, f.received_by),
        (Complaint.subject_staff_id, f.subject_staff_id),
        (Complaint.work_order_id, f.work_order_id),
        (Complaint.category, f.category),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if f.received_from is not None:
        stmt = stmt.where(Complaint.received_at >= f.received_from)
    if f.received_to is not None:
        stmt = stmt.where(Complaint.received_at < f.received_to)
    stmt = paginate_newest_first(stmt, params, Complaint.created_at, Complaint.id)
    return (await session.execute(stmt)).scalars().all()


# --- what the SLA engine reads (complaints.sla) ----------------------------------------------

_complaints = table_of(Complaint)
_staff = table_of(Staff)
_teams = table_of(Team)


def _pages(ids: Iterable[uuid.UUID], size: int = 1000) -> Iterator[list[uuid.UUID]]:
    listed = sorted(set(ids))
    for start in range(0, len(listed), size):
        yield listed[start : start + size]


async def people_of(session: AsyncSession, ids: Iterable[uuid.UUID]) -> list[Any]:
    """id, number, owner and the owner's team's supervisor and manager, per complaint."""
    rows: list[Any] = []
    c = _complaints.c
    for part in _pages(ids):
        stmt = (
            select(
                c.id,
                c.number,
                c.category,
                c.owner_id,
                _staff.c.team_id,
                _teams.c.name.label("team_name"),
                _teams.c.supervisor_id,
                _teams.c.manager_id,
            )
            .select_from(_complaints)
            .outerjoin(_staff, _staff.c.id == c.owner_id)
            .outerjoin(_teams, _teams.c.id == _staff.c.team_id)
            .where(c.id.in_(part))
        )
        rows.extend((await session.execute(stmt)).all())
    return rows


async def sla_facts_of(session: AsyncSession, ids: Iterable[uuid.UUID]) -> list[Any]:
    rows: list[Any] = []
    c = _complaints.c
    for part in _pages(ids):
        stmt = select(c.id, c.severity, c.category, c.received_at, c.status).where(c.id.in_(part))
        rows.extend((await session.execute(stmt)).all())
    return rows


# --- corrective actions ------------------------------------------------------------------------


async def corrective_actions(
    session: AsyncSession, complaint_id: uuid.UUID
) -> Sequence[CorrectiveAction]:
    stmt = (
        select(CorrectiveAction)
        .where(CorrectiveAction.complaint_id == complaint_id)
        .order_by(CorrectiveAction.created_at, CorrectiveAction.id)
    )
    return (await session.execute(stmt)).scalars().all()


async def get_corrective_action(
    session: AsyncSession, complaint_id: uuid.UUID, action_id: uuid.UUID
) -> CorrectiveAction | None:
    found = await session.get(CorrectiveAction, action_id)
    return found if found is not None and found.complaint_id == complaint_id else None


# --- high frequency ----------------------------------------------------------------------------

_DIMENSION_COLUMN = {
    Dimension.category: _complaints.c.category,
    Dimension.location: _complaints.c.location,
    Dimension.customer: _complaints.c.customer_key,
}


async def recent_with_same(
    session: AsyncSession, dimension: Dimension, key: str, since: datetime
) -> list[uuid.UUID]:
    """Complaints received since ``since`` with the same category, location or customer."""
    column = _DIMENSION_COLUMN[dimension]
    stmt = (
        select(_complaints.c.id)
        .where(column == key, _complaints.c.received_at >= since)
        .order_by(_complaints.c.received_at, _complaints.c.id)
    )
    return list((await session.execute(stmt)).scalars())


async def counts_since(
    session: AsyncSession, dimension: Dimension, since: datetime, threshold: int
) -> list[tuple[str, list[uuid.UUID]]]:
    """Every key of ``dimension`` with at least ``threshold`` complaints since ``since``."""
    column = _DIMENSION_COLUMN[dimension]
    keys = (
        select(column)
        .where(column.is_not(None), _complaints.c.received_at >= since)
        .group_by(column)
        .having(func.count() >= threshold)
    )
    found = []
    for key in (await session.execute(keys)).scalars():
        found.append((key, await recent_with_same(session, dimension, key, since)))
    return found


async def lock_problem(session: AsyncSession, dimension: Dimension, key: str) -> None:
    """Serialises the plans of one problem until commit (PostgreSQL advisory lock), so two
    concurrent complaints neither open two plans nor race on its count. SQLite has one
    writer at a time already."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.blake2b(f"{dimension.value}:{key}".encode(), digest_size=8).digest()
    await session.execute(
        select(func.pg_advisory_xact_lock(int.from_bytes(digest, "big", signed=True)))
    )


async def open_plan(
    session: AsyncSession, dimension: Dimension, key: str
) -> ImprovementPlan | None:
    """The plan for this problem that is not done yet (one at a time)."""
    stmt = (
        select(ImprovementPlan)
        .where(
            ImprovementPlan.dimension == dimension,
            ImprovementPlan.key == key,
            ImprovementPlan.status != PlanStatus.done,
        )
        .order_by(ImprovementPlan.created_at.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_plan(session: AsyncSession, plan_id: uuid.UUID) -> ImprovementPlan | None:
    return await session.get(ImprovementPlan, plan_id)


async def plans(session: AsyncSession) -> Sequence[ImprovementPlan]:
    # The id breaks ties: plans flagged in one pass share an instant, and both databases
    # then list them in the same order every time.
    stmt = select(ImprovementPlan).order_by(ImprovementPlan.flagged_at.desc(), ImprovementPlan.id)
    return (await session.execute(stmt)).scalars().all()
