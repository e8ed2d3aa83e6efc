from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from qualityapi.auth.dependencies import ViewerDep
from qualityapi.db.base import table_of
from qualityapi.db.session import SessionDep
from qualityapi.work_orders.models import WorkOrder
from qualityapi.work_orders.schemas import WorkOrderRead
from qualityapi.work_orders.service import read_values
from qualityapi.work_orders.states import OPEN_STATUSES

router = APIRouter(tags=["board"])
Level = Literal["red", "yellow", "blue", "none"]
_LEVELS: tuple[Level, ...] = ("red", "yellow", "blue", "none")
_wo = table_of(WorkOrder)


class Board(BaseModel):
    counts: dict[Level, int] = Field(description="Open work orders per warning level.")
    items: dict[Level, list[WorkOrderRead]] = Field(
        description="The oldest open orders of each level (most urgent first), up to `limit`."
    )


@router.get("/board")
async def get_board(
    session: SessionDep,
    _: ViewerDep,
    limit: Annotated[int, Query(ge=0, le=100)] = 20,
) -> Board:
    """The red / yellow / blue board: counts and lists of open work orders."""
    open_filter = _wo.c.status.in_([s.value for s in OPEN_STATUSES])
    counted = await session.execute(
        select(_wo.c.warning_level, func.count()).where(open_filter).group_by(_wo.c.warning_level)
    )
    counts: dict[Level, int] = dict.fromkeys(_LEVELS, 0)
    for level, n in counted.all():
        counts[level.value] = int(n)
    items: dict[Level, list[WorkOrderRead]] = {}
    for level in _LEVELS:
        rows = await session.execute(
            select(_wo)
            .where(open_filter, _wo.c.warning_level == level)
            .order_by(_wo.c.reported_at, _wo.c.id)
            .limit(limit)
        )
        items[level] = [read_values(dict(row)) for row in rows.mappings()]
    return Board(counts=counts, items=items)
