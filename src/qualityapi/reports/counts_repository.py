"""All SQL of the count ledger (``report_count_events``) and its daily sums: work orders
and complaints created, surveys by status, survey answers, first resolutions. The same
scheme as the clock outcomes (``ledger_repository``): triggers append, ``fold`` adds to
per-UTC-day sums in the background, a read adds the sums of the whole days, the events
not folded yet, and the events of the partial days at its edges, in one statement.
"""

# SQL text here is assembled from this module's own constants only; every value a caller
# passes is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, func, literal_column, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.db.base import table_of
from qualityapi.reports.ledger_repository import (
    FOLD_LOCK,
    BoundPiece,
    Inner,
    Shape,
    bound_inner,
    bound_pieces,
    bucket_of,
    dialect_of,
    piece_params,
    shape_of,
)
from qualityapi.reports.models import CountDaily, CountEvent
from qualityapi.reports.periods import DAY, pieces

WORK_ORDER_CREATED = "work_order.created"
COMPLAINT_CREATED = "complaint.created"
SURVEY_STATUS = "survey.status"
SURVEY_ANSWER = "survey.answer"
FIRST_RESOLUTION = "resolution.first"

_events = table_of(CountEvent)
_daily = table_of(CountDaily)
_DAY_SQL = {"postgresql": "CAST(at AT TIME ZONE 'UTC' AS DATE)", "sqlite": "date(at)"}
_UNROLLED = {
    "postgresql": "report_count_events.rolled = false",
    "sqlite": "report_count_events.rolled = 0",
}
_UPSERT = (
    "INSERT INTO report_counts_daily (kind, day, key1, key2, n) {}"
    " ON CONFLICT (kind, day, key1, key2) DO UPDATE SET n = report_counts_daily.n + excluded.n"
)


async def fold(session: AsyncSession, *, batch: int) -> int:
    """Adds up to ``batch`` events not folded yet to the daily sums and marks them
    folded, atomically (the same reasoning as ``ledger_repository.fold``)."""
    dialect = dialect_of(session)
    if dialect == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": FOLD_LOCK})
        day = _DAY_SQL[dialect]
        stmt = text(
            "WITH moved AS (UPDATE report_count_events SET rolled = true"
            " WHERE rolled = false AND id IN (SELECT id FROM report_count_events"
            " WHERE rolled = false ORDER BY id LIMIT :n) RETURNING kind, at, key1, key2, n),"
            " d AS ("
            + _UPSERT.format(
                f"SELECT kind, {day}, key1, key2, sum(n) FROM moved"
                f" GROUP BY kind, {day}, key1, key2"
            )
            + ") SELECT count(*) FROM moved"
        )
        return int((await session.execute(stmt, {"n": batch})).scalar_one())
    unfolded = "report_count_events INDEXED BY ix_report_count_events_unrolled_id"
    last = (
        await session.execute(
            text(
                f"SELECT max(id), count(*) FROM (SELECT id FROM {unfolded}"
                " WHERE rolled = 0 ORDER BY id LIMIT :n)"
            ),
            {"n": batch},
        )
    ).one()
    if not last[1]:
        return 0
    params = {"last": last[0]}
    day = _DAY_SQL[dialect]
    await session.execute(
        text(
            _UPSERT.format(
                f"SELECT kind, {day}, key1, key2, sum(n) FROM {unfolded}"
                " WHERE rolled = 0 AND id <= :last GROUP BY kind, 2, key1, key2"
            )
        ),
        params,
    )
    await session.execute(
        text(f"UPDATE {unfolded} SET rolled = 1 WHERE rolled = 0 AND id <= :last"), params
    )
    return int(last[1])


@dataclass(frozen=True)
class CountRow:
    bucket: int
    kind: str
    key1: str
    key2: str
    n: int


def _event_part(
    piece: BoundPiece, *, kinds: tuple[str, ...], inner: Inner, dialect: str
) -> Select[Any]:
    e = _events.c
    bucket = (
        literal_column(str(piece.bucket), Integer)
        if piece.bucket is not None
        else bucket_of(e.at, inner.at)
    )
    stmt = select(bucket.label("bucket"), e.kind, e.key1, e.key2, e.n).where(
        e.kind.in_(list(kinds)), e.at >= piece.lo, e.at < piece.hi
    )
    if piece.source == "unfolded":
        # A literal: SQLite uses a partial index only for its very expression.
        stmt = stmt.where(text(_UNROLLED[dialect]))
    return stmt


def _sums_part(piece: BoundPiece, *, kinds: tuple[str, ...], inner: Inner) -> Select[Any]:
    d = _daily.c
    bucket = (
        literal_column(str(piece.bucket), Integer)
        if piece.bucket is not None
        else bucket_of(d.day, inner.day)
    )
    return select(bucket.label("bucket"), d.kind, d.key1, d.key2, d.n).where(
        d.kind.in_(list(kinds)), d.day >= piece.lo_day, d.day < piece.hi_day
    )


@functools.lru_cache(maxsize=256)
def _counts_statement(
    shape: Shape, n_inner: int, kinds: tuple[str, ...], dialect: str
) -> Select[Any]:
    """One statement per shape of the periods (see ``ledger_repository.Shape``)."""
    inner = bound_inner(n_inner)
    parts = [
        _sums_part(piece, kinds=kinds, inner=inner)
        if piece.source == "sums"
        else _event_part(piece, kinds=kinds, inner=inner, dialect=dialect)
        for piece in bound_pieces(shape)
    ]
    u = union_all(*parts).subquery("u")
    return select(u.c.bucket, u.c.kind, u.c.key1, u.c.key2, func.sum(u.c.n)).group_by(
        u.c.bucket, u.c.kind, u.c.key1, u.c.key2
    )


async def counts(
    session: AsyncSession,
    *,
    kinds: Sequence[str],
    boundaries: Sequence[datetime],
) -> list[CountRow]:
    """Sum of ``n`` per period (``boundaries``: n + 1 instants), kind and keys: the daily
    sums of the whole UTC days, the events not folded yet, and the events of the partial
    days at each period's edges (``periods.pieces``)."""
    bounds = list(boundaries)
    inner = bounds[1:-1]
    plan = pieces(bounds, grains=(DAY,))
    stmt = _counts_statement(shape_of(plan), len(inner), tuple(kinds), dialect_of(session))
    return [
        CountRow(int(r[0]), r[1], r[2], r[3], int(r[4]))
        for r in await session.execute(stmt, piece_params(plan, inner))
        if r[4]
    ]
