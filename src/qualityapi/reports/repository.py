"""All SQL of the reports besides the clock-outcome ledger (``ledger_repository``): work
orders, complaints, staff flags, improvement plans, labels and the data watermark. Only
aggregates come back: grouped rows, never one row per work order.
"""

# SQL text here is assembled from this module's own constants only; every value a caller
# passes is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    String,
    and_,
    case,
    func,
    literal_column,
    select,
    text,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.complaints.models import Complaint, ImprovementPlan
from qualityapi.db.base import table_of
from qualityapi.events.models import OutboxMessage
from qualityapi.reports.ledger_repository import bound_at, bucket_of, dialect_of
from qualityapi.reports.models import ClockOutcome, FirstResolution
from qualityapi.staff.models import Staff, Team
from qualityapi.timeline.models import TimelineEvent
from qualityapi.work_orders.models import WorkOrder

_orders = table_of(WorkOrder)
_resolutions = table_of(FirstResolution)


async def read_snapshot(session: AsyncSession) -> None:
    """Makes every statement of this session's transaction see one snapshot (PostgreSQL:
    REPEATABLE READ), so a report's parts agree with each other and with its watermark.
    SQLite has one connection per process: nothing writes between the statements."""
    if dialect_of(session) == "postgresql":
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


# --- work orders and complaints ----------------------------------------------------------


async def created_counts(
    session: AsyncSession, *, boundaries: Sequence[datetime]
) -> dict[int, tuple[int, int]]:
    """Work orders and complaints created per period, straight from their tables:
    {bucket: (work orders, complaints)}. Reports read the count ledger instead; this is
    the raw computation the tests and the benchmark compare it with."""
    result: dict[int, list[int]] = {i: [0, 0] for i in range(len(boundaries) - 1)}
    inner = list(boundaries[1:-1])
    for slot, table in enumerate((_orders, table_of(Complaint))):
        created = table.c.created_at
        per_row = (
            select(bucket_of(created, inner).label("bucket"))
            .where(created >= boundaries[0], created < boundaries[-1])
            .subquery("per_row")
        )
        stmt = select(per_row.c.bucket, func.count()).group_by(per_row.c.bucket)
        for b, n in await session.execute(stmt):
            result[int(b)][slot] = int(n)
    return {b: (v[0], v[1]) for b, v in result.items()}


async def volumes(
    session: AsyncSession, *, lo: datetime, hi: datetime
) -> list[tuple[str | None, str, int]]:
    """(category, priority, work orders created in [lo, hi)) straight from the table
    (the raw computation; reports read the count ledger)."""
    o = _orders.c
    stmt = (
        select(o.category, type_coerce(o.priority, String), func.count())
        .where(o.created_at >= lo, o.created_at < hi)
        .group_by(o.category, o.priority)
    )
    return [(r[0], r[1], int(r[2])) for r in await session.execute(stmt)]


@dataclass(frozen=True)
class EarlyReopens:
    """First resolutions of one period and category reopened within their window."""

    bucket: int
    category: str | None
    reopened: int
    by_first_assignee: int
    by_first_assignee_recent: int


def _step(column: Any, starts: Sequence[Any], values: Sequence[Any]) -> Any:
    """``values[i]`` for ``column`` in ``[starts[i], starts[i + 1])``, as nested CASEs
    (a binary search: a few comparisons per row, however many days)."""
    if len(values) == 1:
        return values[0]
    mid = len(values) // 2
    return case(
        (column < starts[mid], _step(column, starts[:mid], values[:mid])),
        else_=_step(column, starts[mid:], values[mid:]),
    )


@functools.lru_cache(maxsize=64)
def _early_reopens_statement(periods: int, days: int, recent: bool) -> Any:
    """The statement of ``early_reopens`` for ``periods`` periods over ``days`` local
    days; kept per shape (the values are bound parameters: ``b0``.. the boundaries,
    ``s0``.. the day starts, ``w0``.. their windows' ends, ``recent``)."""
    r = _resolutions.c
    bounds = [bound_at(f"b{i}") for i in range(periods + 1)]
    window_end = _step(
        r.resolved_at,
        [bound_at(f"s{i}") for i in range(days)],
        [bound_at(f"w{i}") for i in range(days)],
    )

    def flag(condition: Any) -> Any:
        return case((condition, 1), else_=0)

    recent_flag: Any = (
        flag(and_(r.by_first_assignee, r.resolved_at >= bound_at("recent")))
        if recent
        else literal_column("0")
    )
    # Per order in a subquery, summed outside: PostgreSQL cannot match a GROUP BY
    # expression holding bound values with the same expression in the SELECT list.
    per_order = (
        select(
            bucket_of(r.resolved_at, bounds[1:-1]).label("bucket"),
            r.category.label("category"),
            flag(r.by_first_assignee).label("by_first"),
            recent_flag.label("recent"),
        )
        .where(
            # The partial index's own expression, as a literal.
            text("report_first_resolutions.reopened_at IS NOT NULL"),
            r.resolved_at >= bounds[0],
            r.resolved_at < bounds[-1],
            r.reopened_at < window_end,
        )
        .subquery("per_order")
    )
    c = per_order.c
    return select(
        c.bucket, c.category, func.count(), func.sum(c.by_first), func.sum(c.recent)
    ).group_by(c.bucket, c.category)


async def early_reopens(
    session: AsyncSession,
    *,
    boundaries: Sequence[datetime],
    day_starts: Sequence[datetime],
    window_ends: Sequence[datetime],
    recent_from: datetime | None,
) -> list[EarlyReopens]:
    """Per period and category, the first resolutions reopened before the end of their
    window (``window_ends[i]`` for a resolution made on the local day from
    ``day_starts[i]``), those of them by the first assignee, and of those the ones
    resolved from ``recent_from`` on. Only reopened resolutions are read (a partial
    index: a few per cent of them)."""
    stmt = _early_reopens_statement(len(boundaries) - 1, len(window_ends), recent_from is not None)
    params: dict[str, Any] = {f"b{i}": b for i, b in enumerate(boundaries)}
    params |= {f"s{i}": t for i, t in enumerate(day_starts)}
    params |= {f"w{i}": t for i, t in enumerate(window_ends)}
    if recent_from is not None:
        params["recent"] = recent_from
    return [
        EarlyReopens(int(x[0]), x[1], int(x[2]), int(x[3]), int(x[4]))
        for x in await session.execute(stmt, params)
    ]


# The steps between an order's milestones, as columns of its first resolution.
STEPS = (
    "reported_to_responded",
    "responded_to_arrived",
    "arrived_to_resolved",
    "reported_to_resolved",
)


async def step_percentiles(
    session: AsyncSession, *, lo: datetime, hi: datetime
) -> list[tuple[str, int, int | None, int | None]]:
    """(step, orders, median, p90) in whole minutes over the orders first resolved in
    [lo, hi), by nearest rank: the first minute at which the share of orders reaches
    the percentile. Read from the covering index alone."""
    window = (bound_at("lo"), bound_at("hi"))
    params = {"lo": lo, "hi": hi}
    if dialect_of(session) == "postgresql":
        # One scan and four in-memory sorts (percentile_disc is nearest rank): at a
        # million orders 14 ms, against 26 ms for the four histograms below.
        columns = ", ".join(
            f"count({step}), percentile_disc(0.5) WITHIN GROUP (ORDER BY {step}),"
            f" percentile_disc(0.9) WITHIN GROUP (ORDER BY {step})"
            for step in STEPS
        )
        stmt = text(
            f"SELECT {columns} FROM report_first_resolutions"
            " WHERE resolved_at >= :lo AND resolved_at < :hi"
        ).bindparams(*window)
        row = (await session.execute(stmt, params)).one()
        return [
            (step, int(row[3 * i]), row[3 * i + 1], row[3 * i + 2]) for i, step in enumerate(STEPS)
        ]
    # SQLite has no percentile_disc: a histogram of minutes per step, so that it sorts a
    # few hundred distinct minutes, not every order. One statement per step: each reads
    # one column of the covering index.
    out: list[tuple[str, int, int | None, int | None]] = []
    for step in STEPS:
        stmt = text(
            f"WITH h AS (SELECT {step} AS m, count(*) AS n FROM report_first_resolutions"
            f" WHERE resolved_at >= :lo AND resolved_at < :hi AND {step} IS NOT NULL"
            f" GROUP BY {step}),"
            " c AS (SELECT m, sum(n) OVER (ORDER BY m ROWS UNBOUNDED PRECEDING) AS cum,"
            " sum(n) OVER () AS total FROM h)"
            " SELECT max(total), min(CASE WHEN cum * 2 >= total THEN m END),"
            " min(CASE WHEN cum * 10 >= total * 9 THEN m END) FROM c"
        ).bindparams(*window)
        total, median, p90 = (await session.execute(stmt, params)).one()
        out.append((step, int(total or 0), median, p90))
    return out


# --- staff and improvement plans ------------------------------------------------------------

_FLAG_TYPES = ("retraining_required", "retraining_cleared", "retraining_withdrawn")


async def retraining(session: AsyncSession, *, lo: datetime, hi: datetime) -> list[Any]:
    """Staff flagged for retraining at the end of [lo, hi) or at some time within it,
    from their timelines: (staff id, name, team id, team name, last flag before ``hi``,
    flagged in the period, flagged at its end, flagged now)."""
    t = table_of(TimelineEvent)
    staff_only = text("timeline_events.subject_type = 'staff'")  # the partial index's own
    flags = (
        select(
            t.c.subject_id.label("staff_id"),
            func.max(t.c.id).label("last_id"),
            func.max(
                case(
                    (and_(t.c.type == "retraining_required", t.c.created_at >= lo), t.c.created_at)
                )
            ).label("raised_in_period"),
        )
        .where(staff_only, t.c.type.in_(_FLAG_TYPES), t.c.created_at < hi)
        .group_by(t.c.subject_id)
        .subquery("flags")
    )
    last = t.alias("last")
    st = table_of(Staff)
    team = table_of(Team)
    at_end = last.c.type == "retraining_required"
    stmt = (
        select(
            flags.c.staff_id,
            st.c.name,
            st.c.team_id,
            team.c.name,
            flags.c.raised_in_period,
            case((at_end, last.c.created_at)),
            at_end,
            st.c.retraining_required,
        )
        .select_from(flags)
        .join(last, last.c.id == flags.c.last_id)
        .outerjoin(st, st.c.id == flags.c.staff_id)
        .outerjoin(team, team.c.id == st.c.team_id)
        .where(at_end | flags.c.raised_in_period.is_not(None))
        .order_by(st.c.name, flags.c.staff_id)
    )
    return list((await session.execute(stmt)).all())


async def improvement_plans(session: AsyncSession, *, lo: datetime, hi: datetime) -> list[Any]:
    """High-frequency problems flagged in [lo, hi) and their plans."""
    p = table_of(ImprovementPlan)
    stmt = (
        select(
            p.c.id,
            type_coerce(p.c.dimension, String),
            p.c.key,
            p.c.flagged_at,
            p.c.threshold,
            p.c.window_days,
            p.c.complaint_count,
            type_coerce(p.c.status, String),
            p.c.owner_id,
            p.c.due_at,
        )
        .where(p.c.flagged_at >= lo, p.c.flagged_at < hi)
        .order_by(p.c.flagged_at, p.c.id)
    )
    return list((await session.execute(stmt)).all())


# --- labels and watermark ---------------------------------------------------------------------


async def names(
    session: AsyncSession, *, teams: Sequence[uuid.UUID], staff: Sequence[uuid.UUID]
) -> tuple[dict[uuid.UUID, str], dict[uuid.UUID, str]]:
    """Team and staff names for the ids a report shows."""
    found: list[dict[uuid.UUID, str]] = []
    for table, ids in ((table_of(Team), teams), (table_of(Staff), staff)):
        wanted = sorted(set(ids))
        if not wanted:
            found.append({})
            continue
        stmt = select(table.c.id, table.c.name).where(table.c.id.in_(wanted))
        found.append({r[0]: r[1] for r in await session.execute(stmt)})
    return found[0], found[1]


async def watermark(session: AsyncSession) -> tuple[int | None, int | None]:
    """The last ledger row and the last outbox message this snapshot sees."""
    outbox = table_of(OutboxMessage)
    stmt = select(
        select(func.max(table_of(ClockOutcome).c.id)).scalar_subquery(),
        select(func.max(outbox.c.id)).scalar_subquery(),
    )
    row = (await session.execute(stmt)).one()
    return row[0], row[1]
