"""All SQL of the clock-outcome ledger and its sums: the fold, and attainment counts.

**Why a ledger written by triggers.** A clock row holds only its current cycle: a reopen
starts a new cycle in place and wipes the first one's ``met_at``/``breached_at``, and the
subject's team or assignee may change later. Reading ``sla_clocks`` would change a closed
month's figures. So each decided cycle becomes a ``report_clock_outcomes`` row in the
transaction that decided it, with the subject's dimensions of that moment. Triggers
(migration 0009) write it: the engine's ORM writes, the scanner's batched UPDATEs and the
re-plans after a policy edit all pass through the table, and the engine (sla/) needs no
hook. The ledger is append-only, one row per (clock, cycle): concurrent writers never
wait on a shared row.

**Why sums folded in later.** Counters updated in the write transaction would be hot rows
every resolve and breach waits on (and two of them can deadlock on). Instead ``fold`` adds
ledger rows to per-hour and per-day sums in the background; a report adds the ledger rows
not folded yet (a partial index finds them) and reads the ledger itself for the partial
buckets at its edges. One statement, one snapshot: exact for any period and time zone,
whether the fold ran a second or a day ago.

Every figure is an aggregate the database computes; Python sees grouped rows only.
"""

# SQL text here is assembled from this module's own constants only; every value a caller
# passes is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    select,
    text,
    type_coerce,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.complaints.models import Complaint
from qualityapi.db.base import UtcDateTime, table_of
from qualityapi.reports.models import ClockOutcome, SlaDaily, SlaHourly
from qualityapi.reports.periods import DAY, HOUR, Piece, pieces
from qualityapi.sla.models import SlaClock
from qualityapi.staff.models import Staff
from qualityapi.surveys.models import Survey
from qualityapi.work_orders.models import WorkOrder

# The dimensions a report can group by, in the one order their keys are stored in.
DIMENSIONS = ("priority", "category", "team", "assignee")
# Every grouping the daily sums keep: none, each dimension, each pair.
GROUPINGS: tuple[tuple[str, ...], ...] = (
    (),
    *((d,) for d in DIMENSIONS),
    *((a, b) for i, a in enumerate(DIMENSIONS) for b in DIMENSIONS[i + 1 :]),
)
UNDECIDED = ("pending", "running", "paused")

_facts = table_of(ClockOutcome)
_hourly = table_of(SlaHourly)
_daily = table_of(SlaDaily)
_clocks = table_of(SlaClock)

# A dimension's key as text ('' for none), the same expression in the fold and in every
# read of the ledger, so sums and ledger rows always group together.
_KEY_SQL = {
    "priority": "COALESCE(priority, '')",
    "category": "COALESCE(category, '')",
    "team": "COALESCE(CAST(team_id AS VARCHAR), '')",
    "assignee": "COALESCE(CAST(assignee_id AS VARCHAR), '')",
}
_MEASURES_SQL = (
    "CASE WHEN outcome = 'met' THEN 1 ELSE 0 END",
    "CASE WHEN outcome = 'breached' THEN 1 ELSE 0 END",
    "CASE WHEN outcome = 'cancelled' THEN 1 ELSE 0 END",
)
_BUCKET_SQL = {
    "postgresql": {
        "hour": "date_trunc('hour', decided_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
        "day": "CAST(decided_at AT TIME ZONE 'UTC' AS DATE)",
    },
    "sqlite": {
        "hour": "strftime('%Y-%m-%d %H:00:00.000000', decided_at)",
        "day": "date(decided_at)",
    },
}


def dims_name(dims: Sequence[str]) -> str:
    return ",".join(dims)


def dialect_of(session: AsyncSession) -> str:
    return "postgresql" if session.get_bind().dialect.name == "postgresql" else "sqlite"


# --- the fold ----------------------------------------------------------------------------


def _fold_selects(source: str, dialect: str) -> tuple[str, str]:
    """The hourly and the daily INSERT's SELECT over ``source`` (ledger rows). Built from
    the constants above only."""
    met, breached, cancelled = (f"sum({m})" for m in _MEASURES_SQL)
    sums = f"{met}, {breached}, {cancelled}"
    hour, day = _BUCKET_SQL[dialect]["hour"], _BUCKET_SQL[dialect]["day"]
    hourly = f"SELECT {hour}, subject_type, target, {sums} FROM {source} GROUP BY 1, 2, 3"
    parts = []
    for dims in GROUPINGS:
        keys = [_KEY_SQL[d] for d in dims] + ["''"] * (2 - len(dims))
        parts.append(
            f"SELECT '{dims_name(dims)}', {day}, subject_type, target, {keys[0]}, {keys[1]},"
            f" {sums} FROM {source} GROUP BY 2, 3, 4, 5, 6"
        )
    return hourly, " UNION ALL ".join(parts)


_UPSERT_HOURLY = (
    "INSERT INTO report_sla_hourly (hour, subject_type, target, met, breached, cancelled) {}"
    " ON CONFLICT (hour, subject_type, target) DO UPDATE SET"
    " met = report_sla_hourly.met + excluded.met,"
    " breached = report_sla_hourly.breached + excluded.breached,"
    " cancelled = report_sla_hourly.cancelled + excluded.cancelled"
)
_UPSERT_DAILY = (
    "INSERT INTO report_sla_daily (dims, day, subject_type, target, key1, key2,"
    " met, breached, cancelled) {}"
    " ON CONFLICT (dims, day, subject_type, target, key1, key2) DO UPDATE SET"
    " met = report_sla_daily.met + excluded.met,"
    " breached = report_sla_daily.breached + excluded.breached,"
    " cancelled = report_sla_daily.cancelled + excluded.cancelled"
)
# A constant key for the advisory lock that makes folds take turns (two folds upserting
# the same sums in different orders could deadlock).
FOLD_LOCK = 7_263_510_009


async def fold(session: AsyncSession, *, batch: int) -> int:
    """Adds up to ``batch`` ledger rows not folded yet to the sums and marks them folded,
    atomically; returns how many. The caller commits."""
    if dialect_of(session) == "postgresql":
        # One statement: the rows marked are exactly the rows summed, whatever commits
        # meanwhile (a row committed later is simply folded next time).
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": FOLD_LOCK})
        hourly, daily = _fold_selects("moved", "postgresql")
        stmt = text(
            "WITH moved AS (UPDATE report_clock_outcomes SET rolled = true"
            " WHERE rolled = false AND id IN (SELECT id FROM report_clock_outcomes"
            " WHERE rolled = false ORDER BY id LIMIT :n)"
            " RETURNING decided_at, subject_type, target, outcome, priority, category,"
            " team_id, assignee_id),"
            f" h AS ({_UPSERT_HOURLY.format(hourly)}),"
            f" d AS ({_UPSERT_DAILY.format(daily)})"
            " SELECT count(*) FROM moved"
        )
        return int((await session.execute(stmt, {"n": batch})).scalar_one())
    # SQLite: one writer at a time. Rows committed after the bound is read get higher ids,
    # and from the first INSERT on no other writer can commit before ours. INDEXED BY: the
    # unfolded rows through their partial index, never a walk of the whole ledger (SQLite
    # would otherwise take the rowid range from the first row).
    unfolded = "report_clock_outcomes INDEXED BY ix_report_clock_outcomes_unrolled_id"
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
    source = f"(SELECT * FROM {unfolded} WHERE rolled = 0 AND id <= :last) AS m"
    hourly, daily = _fold_selects(source, "sqlite")
    params = {"last": last[0]}
    for upsert, select_sql in ((_UPSERT_HOURLY, hourly), (_UPSERT_DAILY, daily)):
        # WHERE true: SQLite's parser needs it before ON CONFLICT after a SELECT.
        wrapped = f"SELECT * FROM ({select_sql}) WHERE true"
        await session.execute(text(upsert.format(wrapped)), params)
    await session.execute(
        text(f"UPDATE {unfolded} SET rolled = 1 WHERE rolled = 0 AND id <= :last"), params
    )
    return int(last[1])


# --- SLA outcomes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomeRow:
    """Outcomes of one target in one period of a report, for one group."""

    bucket: int
    subject_type: str
    target: str
    keys: tuple[str, str]
    met: int
    breached: int
    cancelled: int


def bucket_of(column: Any, inner: Sequence[Any]) -> ColumnElement[Any]:
    """The index of the period ``column`` falls in, given the inner boundaries."""
    if not inner:
        return literal_column("0", Integer)
    return case(*((column < b, i) for i, b in enumerate(inner)), else_=len(inner))


# A read's statement depends on its periods only through their shape (which pieces, of
# which grain, counted in which period); the instants are bound parameters. So one
# statement per shape is built and kept, and SQLAlchemy finds its compiled form at once:
# building the expression tree anew cost more than running it.
Shape = tuple[tuple[str, timedelta | None, int | None], ...]


@dataclass(frozen=True)
class BoundPiece:
    """A ``Piece`` whose edges are bound parameters (as instants, and as UTC dates for
    the daily sums)."""

    source: str
    grain: timedelta | None
    bucket: int | None
    lo: Any
    hi: Any
    lo_day: Any
    hi_day: Any


@dataclass(frozen=True)
class Inner:
    """The inner boundaries of a read as bound parameters: instants, and UTC dates."""

    at: list[Any]
    day: list[Any]


def shape_of(plan: Sequence[Piece]) -> Shape:
    return tuple((p.source, p.grain, p.bucket) for p in plan)


def bound_at(name: str) -> Any:
    """A bound parameter holding an instant."""
    return bindparam(name, type_=UtcDateTime())


def _bound_day(name: str) -> Any:
    return bindparam(name, type_=Date())


def bound_pieces(shape: Shape) -> list[BoundPiece]:
    return [
        BoundPiece(
            source,
            grain,
            bucket,
            bound_at(f"lo{i}"),
            bound_at(f"hi{i}"),
            _bound_day(f"lod{i}"),
            _bound_day(f"hid{i}"),
        )
        for i, (source, grain, bucket) in enumerate(shape)
    ]


def bound_inner(n: int) -> Inner:
    return Inner([bound_at(f"b{j}") for j in range(n)], [_bound_day(f"bd{j}") for j in range(n)])


def piece_params(plan: Sequence[Piece], inner: Sequence[datetime]) -> dict[str, Any]:
    """The values of ``bound_pieces(shape_of(plan))`` and ``bound_inner(len(inner))``."""
    params: dict[str, Any] = {}
    for i, p in enumerate(plan):
        params |= {f"lo{i}": p.lo, f"hi{i}": p.hi, f"lod{i}": p.lo.date(), f"hid{i}": p.hi.date()}
    for j, b in enumerate(inner):
        params |= {f"b{j}": b, f"bd{j}": b.date()}
    return params


def _bucket(piece: BoundPiece, column: Any, inner: Sequence[Any]) -> ColumnElement[Any]:
    if piece.bucket is not None:
        return literal_column(str(piece.bucket), Integer)
    return bucket_of(column, inner)


def _ledger_part(
    piece: BoundPiece,
    *,
    inner: Inner,
    dims: Sequence[str],
    subject_type: str | None,
    dialect: str,
) -> Select[Any]:
    keys: list[Any] = [literal_column(_KEY_SQL[d]) for d in dims]
    keys += [literal_column("''")] * (2 - len(dims))
    f = _facts.c
    stmt = select(
        _bucket(piece, f.decided_at, inner.at).label("bucket"),
        f.subject_type,
        f.target,
        keys[0].label("k1"),
        keys[1].label("k2"),
        *(literal_column(m).label(n) for m, n in zip(_MEASURES_SQL, _NAMES, strict=True)),
    ).where(f.decided_at >= piece.lo, f.decided_at < piece.hi)
    if piece.source == "unfolded":
        # A literal, not a bound value: SQLite only uses the partial index for the very
        # expression it was declared with.
        stmt = stmt.where(text(_UNROLLED[dialect]))
    if subject_type is not None:
        stmt = stmt.where(f.subject_type == subject_type)
    return stmt


_NAMES = ("met", "breached", "cancelled")
_UNROLLED = {
    "postgresql": "report_clock_outcomes.rolled = false",
    "sqlite": "report_clock_outcomes.rolled = 0",
}


def _sums_part(
    piece: BoundPiece, *, inner: Inner, dims: Sequence[str], subject_type: str | None
) -> Select[Any]:
    if piece.grain == HOUR:
        h = _hourly.c
        stmt = select(
            _bucket(piece, h.hour, inner.at).label("bucket"),
            h.subject_type,
            h.target,
            literal_column("''").label("k1"),
            literal_column("''").label("k2"),
            h.met,
            h.breached,
            h.cancelled,
        ).where(h.hour >= piece.lo, h.hour < piece.hi)
        return stmt if subject_type is None else stmt.where(h.subject_type == subject_type)
    d = _daily.c
    days = (d.dims == dims_name(dims), d.day >= piece.lo_day, d.day < piece.hi_day)
    # One period: summed here, group by group, in the order of the groups' covering index
    # (migration 0013), not a row per day and group sorted afterwards: 24 months by
    # priority and team are 65,000 rows (SQLite, 1,000,000 orders: 87 -> 14 ms).
    grouped = piece.bucket is not None
    measures = [d.met, d.breached, d.cancelled]
    stmt = select(
        _bucket(piece, d.day, inner.day).label("bucket"),
        d.subject_type,
        d.target,
        d.key1.label("k1"),
        d.key2.label("k2"),
        *([func.sum(m).label(m.name) for m in measures] if grouped else measures),
    ).where(*days)
    if grouped:
        stmt = stmt.group_by(d.subject_type, d.target, d.key1, d.key2)
    return stmt if subject_type is None else stmt.where(d.subject_type == subject_type)


async def outcome_counts(
    session: AsyncSession,
    *,
    boundaries: Sequence[datetime],
    dims: Sequence[str] = (),
    subject_type: str | None = None,
    ledger_only: bool = False,
) -> list[OutcomeRow]:
    """Met, breached and cancelled per period (``boundaries``: n + 1 instants for n
    consecutive periods), subject type, target and group (``dims``, canonical order).

    The whole UTC hours (no grouping) or days inside the periods come from the sums plus
    the ledger rows not folded yet; the partial buckets at the edges from the ledger
    (``periods.pieces``). ``ledger_only`` reads the ledger for everything (the check the
    tests and the benchmark compare with).
    """
    bounds = list(boundaries)
    inner = bounds[1:-1]
    grains = () if ledger_only else ((HOUR, DAY) if not dims else (DAY,))
    plan = pieces(bounds, grains=grains)
    stmt = _outcome_statement(
        shape_of(plan), len(inner), tuple(dims), subject_type, dialect_of(session)
    )
    return [
        OutcomeRow(int(r[0]), r[1], r[2], (r[3], r[4]), int(r[5]), int(r[6]), int(r[7]))
        for r in await session.execute(stmt, piece_params(plan, inner))
    ]


@functools.lru_cache(maxsize=256)
def _outcome_statement(
    shape: Shape, n_inner: int, dims: tuple[str, ...], subject_type: str | None, dialect: str
) -> Select[Any]:
    inner = bound_inner(n_inner)
    parts = []
    for piece in bound_pieces(shape):
        if piece.source == "sums":
            parts.append(_sums_part(piece, inner=inner, dims=dims, subject_type=subject_type))
        else:
            parts.append(
                _ledger_part(
                    piece, inner=inner, dims=dims, subject_type=subject_type, dialect=dialect
                )
            )
    u = union_all(*parts).subquery("u")
    return select(
        u.c.bucket,
        u.c.subject_type,
        u.c.target,
        u.c.k1,
        u.c.k2,
        func.sum(u.c.met),
        func.sum(u.c.breached),
        func.sum(u.c.cancelled),
    ).group_by(u.c.bucket, u.c.subject_type, u.c.target, u.c.k1, u.c.k2)


def _subject_joins() -> tuple[Any, dict[str, ColumnElement[Any]]]:
    """``sla_clocks`` joined with each kind of subject, and each dimension's key as the
    ledger's triggers record it (a complaint: severity, owner, the owner's team)."""
    w = table_of(WorkOrder).alias("w")
    c = table_of(Complaint).alias("c")
    o = table_of(Staff).alias("o")
    s = table_of(Survey).alias("s")
    k = _clocks.c
    source = (
        _clocks.outerjoin(w, and_(k.subject_type == "work_order", w.c.id == k.subject_id))
        .outerjoin(c, and_(k.subject_type == "complaint", c.c.id == k.subject_id))
        .outerjoin(o, o.c.id == c.c.owner_id)
        .outerjoin(s, and_(k.subject_type == "survey_callback", s.c.id == k.subject_id))
    )

    def key(*cols: Any) -> ColumnElement[Any]:
        # As text, like the ledger's keys; type_coerce keeps SQLAlchemy from reading a
        # priority back as its enum.
        as_text = [type_coerce(sql_cast(col, String), String) for col in cols]
        return func.coalesce(*as_text, literal_column("''"))

    keys = {
        "priority": key(w.c.priority, c.c.severity, s.c.priority),
        "category": key(w.c.category, c.c.category, s.c.category),
        "team": key(w.c.team_id, o.c.team_id, s.c.team_id),
        "assignee": key(w.c.assignee_id, c.c.owner_id, s.c.assignee_id),
    }
    return source, keys


def _keys_of(keys: dict[str, ColumnElement[Any]], dims: Sequence[str]) -> list[Any]:
    return [keys[d] for d in dims] + [literal_column("''")] * (2 - len(dims))


def _text_key(col: Any) -> ColumnElement[Any]:
    return func.coalesce(type_coerce(sql_cast(col, String), String), literal_column("''"))


@functools.cache
def _kind_keys() -> tuple[tuple[str, Any, dict[str, ColumnElement[Any]]], ...]:
    """Per kind of subject: its table, how a clock joins it, and its dimensions' keys.
    Built once: the expressions are the same for every report, and building them took
    longer than the statement that uses them."""
    k = _clocks.c
    w = table_of(WorkOrder).alias("w")
    c = table_of(Complaint).alias("c")
    o = table_of(Staff).alias("o")
    s = table_of(Survey).alias("s")
    return (
        (
            "work_order",
            _clocks.join(w, w.c.id == k.subject_id),
            {
                "priority": _text_key(w.c.priority),
                "category": _text_key(w.c.category),
                "team": _text_key(w.c.team_id),
                "assignee": _text_key(w.c.assignee_id),
            },
        ),
        (
            "complaint",
            _clocks.join(c, c.c.id == k.subject_id).outerjoin(o, o.c.id == c.c.owner_id),
            {
                "priority": _text_key(c.c.severity),
                "category": _text_key(c.c.category),
                "team": _text_key(o.c.team_id),
                "assignee": _text_key(c.c.owner_id),
            },
        ),
        (
            "survey_callback",
            _clocks.join(s, s.c.id == k.subject_id),
            {
                "priority": _text_key(s.c.priority),
                "category": _text_key(s.c.category),
                "team": _text_key(s.c.team_id),
                "assignee": _text_key(s.c.assignee_id),
            },
        ),
    )


@functools.lru_cache(maxsize=64)
def _undecided_statement(dims: tuple[str, ...], subject_type: str | None) -> Select[Any]:
    """The statement of ``undecided_counts`` for one grouping, with ``started_before`` as
    its parameter. Kept per shape (a few dozen at most): SQLAlchemy then finds its
    compiled form without walking a new expression tree on every report."""
    k = _clocks.c
    # The partial index's own expression, as a literal (see _ledger_part).
    undecided = text("sla_clocks.state IN ('pending', 'running', 'paused')")
    started = k.started_at < bindparam("started_before", type_=UtcDateTime())
    parts: list[Select[Any]] = []
    if not dims:
        parts.append(
            select(
                k.subject_type,
                k.target,
                literal_column("''").label("k1"),
                literal_column("''").label("k2"),
            ).where(undecided, started)
        )
    else:
        known = []
        for kind, source, keys in _kind_keys():
            known.append(kind)
            if subject_type is not None and subject_type != kind:
                continue
            k1, k2 = _keys_of(keys, dims)
            parts.append(
                select(k.subject_type, k.target, k1.label("k1"), k2.label("k2"))
                .select_from(source)
                .where(undecided, k.subject_type == kind, started)
            )
        # Kinds with no dimensions known here (a subject added later): counted, ungrouped.
        parts.append(
            select(
                k.subject_type,
                k.target,
                literal_column("''").label("k1"),
                literal_column("''").label("k2"),
            ).where(undecided, k.subject_type.not_in(known), started)
        )
    if subject_type is not None:
        parts = [p.where(k.subject_type == subject_type) for p in parts]
    u = union_all(*parts).subquery("u")
    return select(u.c.subject_type, u.c.target, u.c.k1, u.c.k2, func.count()).group_by(
        u.c.subject_type, u.c.target, u.c.k1, u.c.k2
    )


async def undecided_counts(
    session: AsyncSession,
    *,
    started_before: datetime,
    dims: Sequence[str] = (),
    subject_type: str | None = None,
) -> list[tuple[str, str, tuple[str, str], int]]:
    """Clocks not decided yet (pending, running or paused now) whose cycle started before
    ``started_before``, per subject type, target and group. Only the undecided clocks are
    read (their partial index), and with a grouping each kind of subject joins its own
    table alone."""
    stmt = _undecided_statement(tuple(dims), subject_type)
    rows = await session.execute(stmt, {"started_before": started_before})
    return [(r[0], r[1], (r[2], r[3]), int(r[4])) for r in rows]


async def outcome_counts_from_clocks(
    session: AsyncSession, *, lo: datetime, hi: datetime, dims: Sequence[str] = ()
) -> list[OutcomeRow]:
    """The raw computation: outcomes decided in ``[lo, hi)`` straight from ``sla_clocks``
    and the subjects, by the ledger's rules. It sees only each clock's current cycle and
    today's dimensions; the tests and the benchmark compare the reports with it where
    those are the same."""
    source, keys = _subject_joins()
    k = _clocks.c
    late = and_(k.met_at.is_not(None), k.due_at.is_not(None), k.met_at > k.due_at)
    breached = k.breached_at.is_not(None) | late
    outcome = case((breached, "breached"), (k.met_at.is_not(None), "met"), else_="cancelled")
    decided = case(
        (k.breached_at.is_not(None), k.breached_at),
        (late, k.due_at),
        (k.met_at.is_not(None), k.met_at),
        else_=k.updated_at,
    )
    inner = (
        select(
            k.subject_type,
            k.target,
            *(c.label(f"k{i + 1}") for i, c in enumerate(_keys_of(keys, dims))),
            outcome.label("outcome"),
            type_coerce(decided, UtcDateTime()).label("decided_at"),
        )
        .select_from(source)
        .where(k.met_at.is_not(None) | k.breached_at.is_not(None) | (k.state == "cancelled"))
        .subquery("raw")
    )
    r = inner.c
    stmt = (
        select(
            r.subject_type,
            r.target,
            r.k1,
            r.k2,
            func.sum(case((r.outcome == "met", 1), else_=0)),
            func.sum(case((r.outcome == "breached", 1), else_=0)),
            func.sum(case((r.outcome == "cancelled", 1), else_=0)),
        )
        .where(r.decided_at >= lo, r.decided_at < hi)
        .group_by(r.subject_type, r.target, r.k1, r.k2)
    )
    return [
        OutcomeRow(0, x[0], x[1], (x[2], x[3]), int(x[4]), int(x[5]), int(x[6]))
        for x in await session.execute(stmt)
    ]
