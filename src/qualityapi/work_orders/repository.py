"""All SQL for work orders."""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, func, insert, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from qualityapi.common.pagination import (
    KeyPageParams,
    PageParams,
    paginate_by_key,
    paginate_newest_first,
)
from qualityapi.db.base import table_of
from qualityapi.sla.vocabulary import WarningLevel
from qualityapi.staff.models import Team
from qualityapi.work_orders.models import (
    ChecklistTemplate,
    NumberSequence,
    Priority,
    WorkOrder,
    WorkOrderChecklist,
    WorkOrderLog,
)
from qualityapi.work_orders.states import Status

# Built once: constructing an upsert is far dearer than executing it from the cache.
_counters = table_of(NumberSequence)
_SQLITE_NEXT_NUMBER = (
    sqlite.insert(_counters)
    .values(name=bindparam("name"), last_value=1)
    .on_conflict_do_update(
        index_elements=[_counters.c.name], set_={"last_value": _counters.c.last_value + 1}
    )
    .returning(_counters.c.last_value)
)

# Per engine, the sequences known to exist: one catalog round trip per year, not per order.
_SEQUENCES_READY: weakref.WeakKeyDictionary[Engine, set[str]] = weakref.WeakKeyDictionary()


async def next_number(session: AsyncSession, prefix: str, year: int) -> int:
    """The next value of the ``prefix``/``year`` counter behind human-readable numbers.

    PostgreSQL: a real SEQUENCE per prefix and year. ``nextval`` never blocks another
    transaction, so concurrent creates do not queue behind a counter row held until
    commit (that convoy collapsed throughput at 64 connections). A rolled-back create
    leaves a gap, as sequences do.
    SQLite: one writer at a time anyway, so a counter row inside the transaction costs
    no contention and stays gapless.
    """
    bind = session.bind
    # A session bound to one connection (the demo's single-transaction load): its engine.
    if isinstance(bind, AsyncConnection):
        bind = bind.engine
    assert isinstance(bind, AsyncEngine)
    if bind.dialect.name == "postgresql":
        name = f"seq_{prefix.lower()}_{year}"
        ready = _SEQUENCES_READY.setdefault(bind.sync_engine, set())
        if name not in ready:
            await _ensure_sequence(bind, name)
            ready.add(name)
        return int((await session.execute(select(func.nextval(name)))).scalar_one())
    result = await session.execute(_SQLITE_NEXT_NUMBER, {"name": f"{prefix}-{year}"})
    return int(result.scalar_one())


async def _ensure_sequence(bind: AsyncEngine, name: str) -> None:
    # In its own connection and transaction: DDL must not ride on (or roll back with)
    # the request's transaction. Two processes racing at a year's first order may both
    # try; IF NOT EXISTS plus a retry on the catalog's unique key settles it.
    for attempt in range(3):
        try:
            async with bind.begin() as conn:
                await conn.execute(text(f"CREATE SEQUENCE IF NOT EXISTS {name}"))
            return
        except IntegrityError:
            if attempt == 2:
                raise


async def get(
    session: AsyncSession, work_order_id: uuid.UUID, *, lock: bool = False
) -> WorkOrder | None:
    """The ORM object, for changes (its ``version`` guards concurrent writes).

    ``lock``: the row stays locked until commit (PostgreSQL), taken before the change
    writes its first event, so that the order's events are numbered in commit order
    (webhooks deliver them in that order, see ``webhooks.repository.claim_unrouted``)."""
    return await session.get(WorkOrder, work_order_id, with_for_update=lock or None)


# Creating and reading by id are the hottest paths; plain Core statements skip the
# ORM's identity map and unit of work, about a third of the request's CPU time.
_work_orders = table_of(WorkOrder)
_INSERT_WORK_ORDER = insert(_work_orders)
_SELECT_WORK_ORDER = select(_work_orders).where(_work_orders.c.id == bindparam("id"))


async def insert_values(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(_INSERT_WORK_ORDER, values)


async def get_values(session: AsyncSession, work_order_id: uuid.UUID) -> dict[str, Any] | None:
    """The row as a dict, for reading only."""
    result = await session.execute(_SELECT_WORK_ORDER, {"id": work_order_id})
    row = result.mappings().first()
    return dict(row) if row is not None else None


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
) -> Sequence[Row[Any]]:
    """Rows for reading only (as ``get_values``: no ORM objects to build for a page)."""
    stmt = select(_work_orders)
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
    return (await session.execute(stmt)).all()


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


TEMPLATE_ORDER = ((ChecklistTemplate.name, False), (ChecklistTemplate.version, False))


async def list_templates(
    session: AsyncSession, page: KeyPageParams | None = None
) -> Sequence[ChecklistTemplate]:
    stmt = select(ChecklistTemplate)
    if page is None:
        stmt = stmt.order_by(*(c.asc() for c, _ in TEMPLATE_ORDER))
    else:
        stmt = paginate_by_key(stmt, page, TEMPLATE_ORDER)
    return (await session.execute(stmt)).scalars().all()


# --- what the SLA engine reads (work_orders.sla) ---------------------------------------------

_orders = table_of(WorkOrder)
_teams = table_of(Team)


def _pages(ids: Iterable[uuid.UUID], size: int = 1000) -> Iterator[list[uuid.UUID]]:
    # Both databases cap the parameters of one statement.
    listed = sorted(set(ids))
    for start in range(0, len(listed), size):
        yield listed[start : start + size]


async def people_of(session: AsyncSession, ids: Iterable[uuid.UUID]) -> list[Any]:
    """id, number, title, assignee, team and its supervisor and manager, per order."""
    rows: list[Any] = []
    for part in _pages(ids):
        stmt = (
            select(
                _orders.c.id,
                _orders.c.number,
                _orders.c.title,
                _orders.c.assignee_id,
                _orders.c.team_id,
                _teams.c.name.label("team_name"),
                _teams.c.supervisor_id,
                _teams.c.manager_id,
            )
            .select_from(_orders)
            .outerjoin(_teams, _teams.c.id == _orders.c.team_id)
            .where(_orders.c.id.in_(part))
        )
        rows.extend((await session.execute(stmt)).all())
    return rows


async def sla_facts_of(session: AsyncSession, ids: Iterable[uuid.UUID]) -> list[Any]:
    """What the SLA engine plans an order's clocks by, per order."""
    rows: list[Any] = []
    c = _orders.c
    for part in _pages(ids):
        stmt = select(
            c.id, c.priority, c.category, c.reported_at, c.appointment_end, c.status
        ).where(c.id.in_(part))
        rows.extend((await session.execute(stmt)).all())
    return rows
