"""All SQL for work orders."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.common.pagination import PageParams, paginate_newest_first
from qualityapi.work_orders.models import (
    ChecklistTemplate,
    NumberSequence,
    Priority,
    WarningLevel,
    WorkOrder,
    WorkOrderChecklist,
    WorkOrderLog,
)
from qualityapi.work_orders.states import Status


async def next_number(session: AsyncSession, name: str) -> int:
    """Atomically take the next value of a named counter.

    One upsert statement on both databases. On PostgreSQL the row lock is held until the
    transaction ends, so numbers never repeat and concurrent creators queue on the counter.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(NumberSequence)
        .values(name=name, last_value=1)
        .on_conflict_do_update(
            index_elements=[NumberSequence.name],
            set_={"last_value": NumberSequence.last_value + 1},
        )
        .returning(NumberSequence.last_value)
    )
    return int((await session.execute(stmt)).scalar_one())


async def get(session: AsyncSession, work_order_id: uuid.UUID) -> WorkOrder | None:
    return await session.get(WorkOrder, work_order_id)


@dataclass(frozen=True)
class WorkOrderFilter:
    status: Sequence[Status] = ()
    priority: Sequence[Priority] = ()
    warning_level: Sequence[WarningLevel] = ()
    assignee_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    category: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


async def list_page(
    session: AsyncSession, params: PageParams, f: WorkOrderFilter
) -> Sequence[WorkOrder]:
    stmt = select(WorkOrder)
    if f.status:
        stmt = stmt.where(WorkOrder.status.in_(f.status))
    if f.priority:
        stmt = stmt.where(WorkOrder.priority.in_(f.priority))
    if f.warning_level:
        stmt = stmt.where(WorkOrder.warning_level.in_(f.warning_level))
    if f.assignee_id is not None:
        stmt = stmt.where(WorkOrder.assignee_id == f.assignee_id)
    if f.team_id is not None:
        stmt = stmt.where(WorkOrder.team_id == f.team_id)
    if f.category is not None:
        stmt = stmt.where(WorkOrder.category == f.category)
    if f.created_from is not None:
        stmt = stmt.where(WorkOrder.created_at >= f.created_from)
    if f.created_to is not None:
        stmt = stmt.where(WorkOrder.created_at < f.created_to)
    stmt = paginate_newest_first(stmt, params, WorkOrder.created_at, WorkOrder.id)
    return (await session.execute(stmt)).scalars().all()


async def list_logs(
    session: AsyncSession, work_order_id: uuid.UUID, *, after_id: int | None, limit: int
) -> Sequence[WorkOrderLog]:
    stmt = select(WorkOrderLog).where(WorkOrderLog.work_order_id == work_order_id)
    if after_id is not None:
        stmt = stmt.where(WorkOrderLog.id > after_id)
    stmt = stmt.order_by(WorkOrderLog.id).limit(limit + 1)
    return (await session.execute(stmt)).scalars().all()


async def get_checklist(
    session: AsyncSession, work_order_id: uuid.UUID
) -> WorkOrderChecklist | None:
    return await session.get(WorkOrderChecklist, work_order_id)


async def get_template(session: AsyncSession, template_id: uuid.UUID) -> ChecklistTemplate | None:
    return await session.get(ChecklistTemplate, template_id)


async def latest_template(session: AsyncSession, name: str) -> ChecklistTemplate | None:
    stmt = (
        select(ChecklistTemplate)
        .where(ChecklistTemplate.name == name)
        .order_by(ChecklistTemplate.version.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_templates(session: AsyncSession) -> Sequence[ChecklistTemplate]:
    stmt = select(ChecklistTemplate).order_by(ChecklistTemplate.name, ChecklistTemplate.version)
    return (await session.execute(stmt)).scalars().all()
