"""SLA scanner tick cost and due-to-committed latency, next to a naive full scan.

Run from the repository root::

    .venv/bin/python -m bench.bench_scanner [--db sqlite|postgresql|both]
        [--sizes 10000,100000,1000000] [--due 1000] [--repeats 3] [--empty-repeats 20]
        [--naive-max 1000000] [--latency-seconds 20] [--latency-rate 50]
        [--latency-size 10000]

Per database it migrates a fresh database, seeds the default calendars and policies, and
bulk-loads open urgent work orders with one running ``response`` clock each, generated
by the database itself (INSERT ... SELECT; the dataset grows in place from one size to
the next). The due clocks of each phase are picked at random among untouched ones.
At each size it times:

- the tick: one ``scan_once(..., batch=due)`` with ``--due`` clocks made due (median of
  ``--repeats``, a fresh set of clocks each time);
- the empty tick: ``scan_once`` with nothing due (median of ``--empty-repeats``);
- the naive scan: every open work order with its clocks loaded into Python and each
  clock's state computed with ``clockwork.stages_due`` (sizes up to ``--naive-max``).

At ``--latency-size`` it also runs the app's own scheduler job (``SlaScanJob``: a pass at
the earliest ``next_check_at``, at the latest after the safety interval, batch
``sla_scan_batch``) while ``--latency-rate`` clocks per second fall due, and reports the
time from each clock's due instant to the commit of its transition. It prints figures
only; goals are reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import (  # noqa: E402
    LABEL_STYLE_TABLENAME_PLUS_COL,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker  # noqa: E402
from tests.support.pgserver import TemporaryPostgres  # noqa: E402

from bench.machine import git_commit  # noqa: E402
from qualityapi.auth.principal import SYSTEM_PRINCIPAL  # noqa: E402
from qualityapi.clock import SystemClock  # noqa: E402
from qualityapi.config import Settings  # noqa: E402
from qualityapi.db.base import table_of  # noqa: E402
from qualityapi.db.engine import make_engine  # noqa: E402
from qualityapi.db.migrations import upgrade  # noqa: E402
from qualityapi.db.session import make_sessionmaker  # noqa: E402
from qualityapi.logs import configure_logging  # noqa: E402
from qualityapi.scheduler import jobs as scheduler_jobs  # noqa: E402
from qualityapi.scheduler.jobs import SlaScanJob  # noqa: E402
from qualityapi.sla import (  # noqa: E402
    repository,
    signals,
    subjects,
)
from qualityapi.sla.calendars import ALWAYS_OPEN  # noqa: E402
from qualityapi.sla.clockwork import next_check, stages_due  # noqa: E402
from qualityapi.sla.compiled import ladder as ladder_of  # noqa: E402
from qualityapi.sla.models import SlaClock, SlaPolicy, SlaTransition  # noqa: E402
from qualityapi.sla.policies import seed_defaults  # noqa: E402
from qualityapi.sla.scanner import ScanResult, scan_once  # noqa: E402
from qualityapi.sla.vocabulary import BREACHED  # noqa: E402
from qualityapi.work_orders.models import WorkOrder  # noqa: E402
from qualityapi.work_orders.sla import ADAPTER as WORK_ORDERS  # noqa: E402
from qualityapi.work_orders.states import OPEN_STATUSES  # noqa: E402

MIGRATIONS = REPO_ROOT / "migrations"
LOAD_CHUNK = 10_000
NAIVE_PARTITION = 10_000
RESPONSE_TARGET = timedelta(hours=1)
WARN_AFTER = timedelta(minutes=48)  # 80 % of the urgent policy's 1 h response target
LATENCY_LEAD_S = 1.5  # first planned due instant, after the plan is committed
LATENCY_DRAIN_S = 10.0  # how long to wait after the last due instant

GOAL_GROWTH = {"postgresql": 2.0, "sqlite": 6.0}
GOAL_VS_NAIVE = 1 / 50
GOAL_EMPTY_MS = 10.0
GOAL_LATENCY_P99_MS = 250.0

_WO = table_of(WorkOrder)
_CLOCKS = table_of(SlaClock)
_TRANSITIONS = table_of(SlaTransition)
_OPEN = sorted(s.value for s in OPEN_STATUSES)


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


# -- options and results ------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    databases: tuple[str, ...]
    sizes: tuple[int, ...]
    due: int
    repeats: int
    empty_repeats: int
    naive_max: int
    latency_seconds: float
    latency_rate: float
    latency_size: int
    scan_interval: float | None


@dataclass
class SizeResult:
    size: int
    load_s: float
    ticks_ms: list[float]
    empty_ms: list[float]
    naive_ms: float | None
    naive_rows: int = 0
    claimed_ok: bool = True

    @property
    def tick_ms(self) -> float:
        return statistics.median(self.ticks_ms)

    @property
    def empty_tick_ms(self) -> float:
        return statistics.median(self.empty_ms)


@dataclass
class LatencyResult:
    size: int
    planned: int
    rate: float
    mode: str
    latencies_ms: list[float]
    scans: int
    scan_ms: list[float]


@dataclass
class DatabaseRun:
    database: str
    version: str = ""
    sizes: list[SizeResult] = field(default_factory=list)
    latency: LatencyResult | None = None
    error: str | None = None


# -- the dataset --------------------------------------------------------------------------


@dataclass
class Dataset:
    """What is loaded. Rows are generated by the database itself (no per-row Python)."""

    policy_id: uuid.UUID
    calendar_id: uuid.UUID
    # Untouched clocks start 1-31 days after their load; their next check is later still.
    first_load: datetime
    loaded: int = 0

    @property
    def untouched_after(self) -> datetime:
        return self.first_load + timedelta(days=1)


_WARN_S = int(WARN_AFTER.total_seconds())
_TARGET_S = int(RESPONSE_TARGET.total_seconds())
_SPREAD_S = 30 * 86400

# PostgreSQL: a temp table of (number, order id, start), then both tables from it.
_PG_SOURCE = f"""
INSERT INTO bench_src
SELECT i, gen_random_uuid(),
       CAST(:base AS timestamptz) + make_interval(secs => 86400 + floor(random() * {_SPREAD_S}))
FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS i
"""
_PG_Z = '\'YYYY-MM-DD"T"HH24:MI:SS"Z"\''
_PG_ORDERS = f"""
INSERT INTO work_orders (id, number, title, priority, status, customer, reported_at,
    warning_level, sla, reopen_count, created_by, version, created_at, updated_at)
SELECT wo_id, 'WO-2026-' || lpad(i::text, greatest(6, length(i::text)), '0'),
       'bench order ' || i, 'urgent', 'open', '{{"name": "x"}}'::jsonb, started, 'blue',
       jsonb_build_array(jsonb_build_object('target', 'response', 'state', 'running',
           'due_at', to_char((started + make_interval(secs => {_TARGET_S})) AT TIME ZONE 'UTC',
                             {_PG_Z}),
           'warn_at', to_char((started + make_interval(secs => {_WARN_S})) AT TIME ZONE 'UTC',
                              {_PG_Z}))),
       0, 'bench', 1, CAST(:now AS timestamptz), CAST(:now AS timestamptz)
FROM bench_src
"""
_PG_CLOCKS = f"""
INSERT INTO sla_clocks (id, subject_type, subject_id, target, policy_id, calendar_id, state,
    cycle, started_at, due_at, warn_at, target_seconds, elapsed_seconds, segment_started_at,
    paused_segments, stage, next_check_at, created_at, updated_at)
SELECT gen_random_uuid(), 'work_order', wo_id, 'response', CAST(:policy AS uuid),
       CAST(:calendar AS uuid), 'running', 1, started,
       started + make_interval(secs => {_TARGET_S}), started + make_interval(secs => {_WARN_S}),
       {_TARGET_S}, 0, started, '[]'::jsonb, 0, started + make_interval(secs => {_WARN_S}),
       CAST(:now AS timestamptz), CAST(:now AS timestamptz)
FROM bench_src
"""

# SQLite: the same, in the storage formats of the app's types (Uuid: 32 hex digits;
# UtcDateTime: naive UTC 'YYYY-MM-DD HH:MM:SS.ffffff'); checked after the load.
_SQLITE_UUID = (
    "substr(h, 1, 12) || '4' || substr(h, 14, 3) || substr('89ab', 1 + abs(random()) % 4, 1)"
    " || substr(h, 18)"
)
_SQLITE_SOURCE = f"""
INSERT INTO bench_src
WITH RECURSIVE seq(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
SELECT i, {_SQLITE_UUID},
       datetime(?, '+' || (86400 + abs(random()) % {_SPREAD_S}) || ' seconds')
FROM (SELECT i, lower(hex(randomblob(16))) AS h FROM seq)
"""
_SQLITE_ORDERS = f"""
INSERT INTO work_orders (id, number, title, priority, status, customer, reported_at,
    warning_level, sla, reopen_count, created_by, version, created_at, updated_at)
SELECT wo_id, 'WO-2026-' || printf('%06d', i), 'bench order ' || i, 'urgent', 'open',
       '{{"name": "x"}}', started || '.000000', 'blue',
       json_array(json_object('target', 'response', 'state', 'running',
           'due_at', strftime('%Y-%m-%dT%H:%M:%SZ', started, '+{_TARGET_S} seconds'),
           'warn_at', strftime('%Y-%m-%dT%H:%M:%SZ', started, '+{_WARN_S} seconds'))),
       0, 'bench', 1, :now, :now
FROM bench_src
"""
_SQLITE_CLOCKS = f"""
INSERT INTO sla_clocks (id, subject_type, subject_id, target, policy_id, calendar_id, state,
    cycle, started_at, due_at, warn_at, target_seconds, elapsed_seconds, segment_started_at,
    paused_segments, stage, next_check_at, created_at, updated_at)
SELECT {_SQLITE_UUID.replace("h,", "lower(hex(randomblob(16))),")}, 'work_order', wo_id,
       'response', :policy, :calendar, 'running', 1, started || '.000000',
       datetime(started, '+{_TARGET_S} seconds') || '.000000',
       datetime(started, '+{_WARN_S} seconds') || '.000000',
       {_TARGET_S}.0, 0.0, started || '.000000', '[]', 0,
       datetime(started, '+{_WARN_S} seconds') || '.000000', :now, :now
FROM bench_src
"""


def _chunks(lo: int, hi: int) -> Iterator[tuple[int, int]]:
    while lo <= hi:
        yield lo, min(hi, lo + LOAD_CHUNK - 1)
        lo += LOAD_CHUNK


async def load(engine: AsyncEngine, data: Dataset, count: int) -> float:
    """Append ``count`` open work orders with one clock each; seconds taken.

    PostgreSQL: INSERT ... SELECT from generate_series, then ANALYZE. SQLite: the same
    through a separate stdlib connection with a large page cache (the app's connection
    keeps its own settings), then one row is read back through the app's types.
    """
    started = time.perf_counter()
    now = datetime.now(UTC)
    base = now.replace(microsecond=0)
    lo, hi = data.loaded + 1, data.loaded + count
    if engine.dialect.name == "postgresql":
        params = {
            "base": base,
            "now": now,
            "policy": data.policy_id,
            "calendar": data.calendar_id,
        }
        async with engine.connect() as conn:
            await conn.execute(
                text(
                    "CREATE TEMP TABLE bench_src (i bigint, wo_id uuid, started timestamptz)"
                    " ON COMMIT DELETE ROWS"
                )
            )
            await conn.commit()
            for a, b in _chunks(lo, hi):
                await conn.execute(text(_PG_SOURCE), {"base": base, "lo": a, "hi": b})
                await conn.execute(text(_PG_ORDERS), params)
                await conn.execute(text(_PG_CLOCKS), params)
                await conn.commit()
                _progress_load(b - lo + 1, count, lo - 1, started)
            await conn.execute(text("DROP TABLE bench_src"))
            await conn.execute(text("ANALYZE work_orders"))
            await conn.execute(text("ANALYZE sla_clocks"))
            await conn.commit()
    else:
        params = {
            "now": _sqlite_datetime(now),
            "policy": data.policy_id.hex,
            "calendar": data.calendar_id.hex,
        }
        db = sqlite3.connect(str(engine.url.database), isolation_level=None)
        try:
            db.execute("PRAGMA cache_size=-262144")
            db.execute("CREATE TEMP TABLE bench_src (i INTEGER, wo_id TEXT, started TEXT)")
            for a, b in _chunks(lo, hi):
                db.execute("BEGIN")
                db.execute(_SQLITE_SOURCE, (a, b, base.strftime("%Y-%m-%d %H:%M:%S")))
                db.execute(_SQLITE_ORDERS, params)
                db.execute(_SQLITE_CLOCKS, params)
                db.execute("DELETE FROM bench_src")
                db.execute("COMMIT")
                _progress_load(b - lo + 1, count, lo - 1, started)
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
    elapsed = time.perf_counter() - started
    await _check_load(engine, lo)
    data.loaded = hi
    return elapsed


def _progress_load(done: int, count: int, before: int, started: float) -> None:
    if count >= 200_000 and done % 200_000 == 0:
        progress(f"loaded {before + done:,} ({time.perf_counter() - started:.0f} s)")


def _sqlite_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]


async def _check_load(engine: AsyncEngine, number: int) -> None:
    """A generated row must read back through the app's types (on SQLite, be stored as
    they would store it) and be consistent: summary, deadline, next check."""
    dialect = engine.dialect
    async with AsyncSession(engine) as session:
        wo = (
            await session.execute(
                select(WorkOrder).where(WorkOrder.number == f"WO-2026-{number:06d}")
            )
        ).scalar_one()
        clock = (
            await session.execute(select(SlaClock).where(SlaClock.subject_id == wo.id))
        ).scalar_one()
        checks = [
            (_WO, wo.id, {"id": wo.id, "reported_at": wo.reported_at, "created_at": wo.created_at}),
            (
                _CLOCKS,
                clock.id,
                {
                    "id": clock.id,
                    "subject_id": clock.subject_id,
                    "policy_id": clock.policy_id,
                    "due_at": clock.due_at,
                    "next_check_at": clock.next_check_at,
                },
            ),
        ]
        for table, row_id, values in checks if dialect.name == "sqlite" else []:
            raw = (
                await session.execute(
                    text(f"SELECT {', '.join(values)} FROM {table.name} WHERE id = :id"),
                    {"id": row_id.hex},
                )
            ).one()
            for (name, value), stored in zip(values.items(), raw, strict=True):
                column = table.c[name]
                process = column.type.dialect_impl(dialect).bind_processor(dialect)
                expected = process(value) if process else value
                if stored != expected:
                    raise RuntimeError(
                        f"bulk load: {table.name}.{name} stored {stored!r}, "
                        f"the app would store {expected!r}"
                    )
        summary = [
            {
                "target": "response",
                "state": "running",
                "due_at": _z(clock.due_at),
                "warn_at": _z(clock.warn_at),
            }
        ]
        if wo.sla != summary:
            raise RuntimeError(f"bulk load: work_orders.sla {wo.sla!r}, expected {summary!r}")
        planned = next_check(0, warn_at=clock.warn_at, due_at=clock.due_at, ladder=[])
        if clock.due_at != clock.started_at + RESPONSE_TARGET or clock.next_check_at != planned:
            raise RuntimeError("bulk load: inconsistent clock deadlines")


def _z(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


async def seed(sessionmaker: async_sessionmaker[AsyncSession]) -> Dataset:
    now = datetime.now(UTC)
    async with sessionmaker() as session:
        # What create_app does at the composition root: work orders are a subject kind.
        subjects.register(WORK_ORDERS)
        await seed_defaults(session, actor=SYSTEM_PRINCIPAL, now=now)
        await session.commit()
        policy = await repository.get_policy_by_name(session, "urgent")
        calendar = await repository.get_calendar_by_name(session, ALWAYS_OPEN)
        if policy is None or calendar is None:
            raise RuntimeError("seed_defaults did not create the urgent policy and 24x7")
        return Dataset(policy_id=policy.id, calendar_id=calendar.id, first_load=now)


async def fresh(
    engine: AsyncEngine, data: Dataset, count: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(clock id, work order id) of ``count`` random clocks no phase has touched yet."""
    stmt = (
        select(_CLOCKS.c.id, _CLOCKS.c.subject_id)
        .where(
            _CLOCKS.c.stage == 0,
            _CLOCKS.c.met_at.is_(None),
            _CLOCKS.c.next_check_at > data.untouched_after,
        )
        .order_by(func.random())
        .limit(count)
    )
    async with engine.connect() as conn:
        rows = [(r.id, r.subject_id) for r in await conn.execute(stmt)]
    if len(rows) < count:
        raise RuntimeError(f"only {len(rows)} untouched clocks left, {count} needed")
    return rows


# -- ticks --------------------------------------------------------------------------------


async def make_due(engine: AsyncEngine, data: Dataset, count: int, now: datetime) -> None:
    """``count`` fresh clocks due just before ``now`` (stage 0: the warning is next)."""
    stmt = (
        update(_CLOCKS)
        .where(_CLOCKS.c.id == bindparam("b_id"))
        .values(warn_at=bindparam("b_at"), next_check_at=bindparam("b_at"))
    )
    params = [
        {"b_id": clock_id, "b_at": now - timedelta(seconds=1, microseconds=k)}
        for k, (clock_id, _) in enumerate(await fresh(engine, data, count))
    ]
    async with engine.begin() as conn:
        await conn.execute(stmt, params)


async def timed_tick(
    sessionmaker: async_sessionmaker[AsyncSession], batch: int
) -> tuple[float, int]:
    now = datetime.now(UTC)
    started = time.perf_counter()
    result = await scan_once(sessionmaker, now, batch=batch)
    return (time.perf_counter() - started) * 1000, result.claimed


async def measure_size(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    data: Dataset,
    opts: Options,
    size: int,
    load_s: float,
) -> SizeResult:
    # Warm-up: statement caches, the policy, the first pages of the index.
    await make_due(engine, data, min(20, opts.due), datetime.now(UTC))
    await timed_tick(sessionmaker, opts.due)
    ticks, claimed_ok = [], True
    for _ in range(opts.repeats):
        await make_due(engine, data, opts.due, datetime.now(UTC))
        ms, claimed = await timed_tick(sessionmaker, opts.due)
        if claimed != opts.due:
            claimed_ok = False
            progress(f"WARNING: tick at {size:,} claimed {claimed}, expected {opts.due}")
        ticks.append(ms)
    empty = []
    for _ in range(opts.empty_repeats):
        ms, claimed = await timed_tick(sessionmaker, opts.due)
        if claimed:
            claimed_ok = False
            progress(f"WARNING: empty tick at {size:,} claimed {claimed}")
        empty.append(ms)
    progress(
        f"{size:,}: tick {statistics.median(ticks):.1f} ms, empty {statistics.median(empty):.2f} ms"
    )
    result = SizeResult(size, load_s, ticks, empty, None, claimed_ok=claimed_ok)
    if size <= opts.naive_max:
        result.naive_ms, result.naive_rows = await naive_scan(engine)
        progress(f"{size:,}: naive {result.naive_ms:.0f} ms over {result.naive_rows:,} rows")
    return result


async def naive_scan(engine: AsyncEngine) -> tuple[float, int]:
    """Every open work order with its clocks into Python, each clock's state computed."""
    async with AsyncSession(engine) as session:
        policies = (await session.execute(select(SlaPolicy))).scalars().all()
        ladders = {p.id: [r.after for r in ladder_of(p)] for p in policies}
    stmt = (
        select(_WO, _CLOCKS)
        .join(
            _CLOCKS,
            (_CLOCKS.c.subject_type == "work_order") & (_CLOCKS.c.subject_id == _WO.c.id),
        )
        .where(_WO.c.status.in_(_OPEN))
        .set_label_style(LABEL_STYLE_TABLENAME_PLUS_COL)
        .execution_options(yield_per=NAIVE_PARTITION)
    )
    pos = {name: i for i, name in enumerate(stmt.selected_columns.keys())}
    i_stage, i_warn, i_due, i_policy = (
        pos["sla_clocks_stage"],
        pos["sla_clocks_warn_at"],
        pos["sla_clocks_due_at"],
        pos["sla_clocks_policy_id"],
    )
    now = datetime.now(UTC)
    rows = changing = 0
    started = time.perf_counter()
    async with engine.connect() as conn:
        result = await conn.stream(stmt)
        async for partition in result.partitions():
            for row in partition:
                reached = stages_due(
                    row[i_stage],
                    warn_at=row[i_warn],
                    due_at=row[i_due],
                    ladder=ladders.get(row[i_policy], []),
                    now=now,
                )
                rows += 1
                changing += bool(reached)
    return (time.perf_counter() - started) * 1000, rows


# -- latency ------------------------------------------------------------------------------


async def measure_latency(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    data: Dataset,
    opts: Options,
) -> LatencyResult:
    """Clocks falling due at ``latency_rate``/s while the scanner runs as in the app.

    Default: the app's own ``SlaScanJob`` (wakes at the earliest next check, at the latest
    after the safety interval, and at once on an in-process clock change), with the
    settings' defaults. ``--scan-interval``: a fixed-rate loop instead. Either way each
    pass is timed by wrapping ``scan_once``; a transition's ``occurred_at`` is the ``now``
    of the pass that wrote it, so its commit time is that pass's return.
    """
    defaults = Settings.model_fields
    batch = int(defaults["sla_scan_batch"].default)
    safety = float(defaults["sla_safety_interval_seconds"].default)
    count = max(1, round(opts.latency_seconds * opts.latency_rate))
    spacing = 1 / opts.latency_rate
    picked = await fresh(engine, data, count)

    returned: dict[datetime, float] = {}
    scan_ms: list[float] = []

    async def timed_scan(
        maker: async_sessionmaker[AsyncSession], now: datetime, *, batch: int = 500
    ) -> ScanResult:
        started = time.perf_counter()
        result = await scan_once(maker, now, batch=batch)
        returned[now] = time.time()
        scan_ms.append((time.perf_counter() - started) * 1000)
        return result

    stop = asyncio.Event()
    job: SlaScanJob | None = None
    loop_task: asyncio.Task[None] | None = None
    with mock.patch.object(scheduler_jobs, "scan_once", timed_scan):
        if opts.scan_interval is None:
            job = SlaScanJob(sessionmaker, SystemClock(), safety_interval=safety, batch=batch)
            job.start()
            mode = f"app SlaScanJob (safety {safety:g} s, batch {batch})"
        else:
            loop_task = asyncio.create_task(
                _fixed_rate(sessionmaker, timed_scan, opts.scan_interval, batch, stop)
            )
            mode = f"fixed-rate loop every {opts.scan_interval:g} s (batch {batch})"
        try:
            first = time.time() + LATENCY_LEAD_S
            due_wall = await _plan_latency(engine, picked, first, spacing)
            signals.CLOCK_CHANGED.notify()  # what the app does after committing a clock change
            await _wait_for_breaches(engine, list(due_wall), first + count * spacing)
        finally:
            stop.set()
            if job is not None:
                job.shutdown()
            if loop_task is not None:
                await loop_task

    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(_TRANSITIONS.c.clock_id, _TRANSITIONS.c.occurred_at).where(
                    _TRANSITIONS.c.stage == BREACHED,
                    _TRANSITIONS.c.clock_id.in_(list(due_wall)),
                )
            )
        ).all()
    latencies = [
        (returned[r.occurred_at] - due_wall[r.clock_id]) * 1000
        for r in rows
        if r.occurred_at in returned
    ]
    # Retire the latency clocks (met, nothing left to check) so later ticks see only theirs.
    retire = (
        update(_CLOCKS)
        .where(_CLOCKS.c.id == bindparam("b_id"))
        .values(met_at=datetime.now(UTC), next_check_at=None, segment_started_at=None)
    )
    async with engine.begin() as conn:
        await conn.execute(retire, [{"b_id": clock_id} for clock_id, _ in picked])
    return LatencyResult(
        size=data.loaded,
        planned=count,
        rate=opts.latency_rate,
        mode=mode,
        latencies_ms=latencies,
        scans=len(scan_ms),
        scan_ms=scan_ms,
    )


async def _plan_latency(
    engine: AsyncEngine,
    picked: Sequence[tuple[uuid.UUID, uuid.UUID]],
    first: float,
    spacing: float,
) -> dict[uuid.UUID, float]:
    """Already warned (stage 1, yellow) clocks: the next change is the breach at due."""
    due_wall = {clock_id: first + k * spacing for k, (clock_id, _) in enumerate(picked)}
    clock_stmt = (
        update(_CLOCKS)
        .where(_CLOCKS.c.id == bindparam("b_id"))
        .values(
            stage=1,
            started_at=bindparam("b_started"),
            segment_started_at=bindparam("b_started"),
            warn_at=bindparam("b_warn"),
            due_at=bindparam("b_due"),
            next_check_at=bindparam("b_due"),
        )
    )
    clock_params = []
    for clock_id, _ in picked:
        due = datetime.fromtimestamp(due_wall[clock_id], UTC)
        clock_params.append(
            {
                "b_id": clock_id,
                "b_started": due - RESPONSE_TARGET,
                "b_warn": due - RESPONSE_TARGET + WARN_AFTER,
                "b_due": due,
            }
        )
    wo_stmt = update(_WO).where(_WO.c.id == bindparam("b_id")).values(warning_level="yellow")
    async with engine.begin() as conn:
        await conn.execute(clock_stmt, clock_params)
        await conn.execute(wo_stmt, [{"b_id": wo_id} for _, wo_id in picked])
    if time.time() > first:
        progress("WARNING: the latency plan was committed after its first due instant")
    return due_wall


async def _wait_for_breaches(
    engine: AsyncEngine, clock_ids: list[uuid.UUID], last_due: float
) -> None:
    """Until every planned breach is recorded, or ``LATENCY_DRAIN_S`` after the last due."""
    await asyncio.sleep(max(0.0, last_due - time.time()))
    count_stmt = (
        select(func.count())
        .select_from(_TRANSITIONS)
        .where(_TRANSITIONS.c.stage == BREACHED, _TRANSITIONS.c.clock_id.in_(clock_ids))
    )
    while time.time() < last_due + LATENCY_DRAIN_S:
        async with engine.connect() as conn:
            if (await conn.execute(count_stmt)).scalar_one() >= len(clock_ids):
                return
        await asyncio.sleep(0.5)


async def _fixed_rate(
    sessionmaker: async_sessionmaker[AsyncSession],
    scan: Callable[..., Awaitable[ScanResult]],
    interval: float,
    batch: int,
    stop: asyncio.Event,
) -> None:
    """A pass every ``interval`` s, skipping slots a long pass overran; a full batch goes
    again at once."""
    next_at = time.perf_counter()
    while not stop.is_set():
        result = await scan(sessionmaker, datetime.now(UTC), batch=batch)
        if result.claimed >= batch:
            continue
        next_at += interval
        now = time.perf_counter()
        while next_at <= now:
            next_at += interval
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), next_at - now)


# -- one database -------------------------------------------------------------------------


async def bench_database(url: str, opts: Options, run: DatabaseRun) -> None:
    engine = make_engine(url)
    sessionmaker = make_sessionmaker(engine)
    try:
        if engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                version = (await conn.execute(text("SHOW server_version"))).scalar_one()
            run.version = f"PostgreSQL {version}"
        else:
            run.version = f"SQLite {sqlite3.sqlite_version}"
        data = await seed(sessionmaker)
        latency_at = next((s for s in opts.sizes if s >= opts.latency_size), opts.sizes[-1])
        for size in opts.sizes:
            progress(f"{run.database}: loading up to {size:,}")
            load_s = await load(engine, data, size - data.loaded)
            progress(f"{run.database}: {size:,} loaded in {load_s:.1f} s")
            run.sizes.append(await measure_size(engine, sessionmaker, data, opts, size, load_s))
            if size == latency_at and opts.latency_seconds > 0:
                progress(f"{run.database}: latency at {size:,} for {opts.latency_seconds:g} s")
                run.latency = await measure_latency(engine, sessionmaker, data, opts)
    finally:
        await engine.dispose()


def run_database(database: str, opts: Options) -> DatabaseRun:
    run = DatabaseRun(database)
    started = time.perf_counter()
    try:
        if database == "postgresql":
            with TemporaryPostgres() as pg:
                upgrade(pg.url, MIGRATIONS)
                asyncio.run(bench_database(pg.url, opts, run))
        else:
            with tempfile.TemporaryDirectory(prefix="qualityapi-bench-") as tmp:
                url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
                upgrade(url, MIGRATIONS)
                asyncio.run(bench_database(url, opts, run))
    except Exception as exc:  # report what was measured, then the failure
        run.error = f"{type(exc).__name__}: {exc}"
    progress(f"{database}: done in {time.perf_counter() - started:.0f} s")
    return run


# -- reporting ----------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _ms(value: float) -> str:
    return "never" if value == float("inf") else f"{value:.1f}"


def print_header(opts: Options) -> None:
    print("qualityapi SLA scanner benchmark")
    print(f"  machine:  {os.cpu_count()} cores, {platform.platform()}")
    print(f"  python:   {platform.python_implementation()} {platform.python_version()}")
    print(f"  sqlite:   {sqlite3.sqlite_version}")
    print(f"  commit:   {git_commit()}")
    print(
        f"  run:      sizes {', '.join(f'{s:,}' for s in opts.sizes)} open work orders "
        f"(1 running clock each); {opts.due} due per tick, median of {opts.repeats}; "
        f"empty tick median of {opts.empty_repeats}; naive up to {opts.naive_max:,}"
    )
    print()


def print_run(run: DatabaseRun) -> None:
    print(f"{run.database} ({run.version or 'version unknown'})")
    header = (
        f"  {'size':>10}{'load s':>9}{'tick ms':>10}{'(min-max)':>16}"
        f"{'empty ms':>10}{'naive ms':>11}{'naive/tick':>12}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for r in run.sizes:
        naive = f"{r.naive_ms:.0f}" if r.naive_ms is not None else "skipped"
        ratio = f"{r.naive_ms / r.tick_ms:.2f}" if r.naive_ms is not None else "-"
        spread = f"({min(r.ticks_ms):.0f}-{max(r.ticks_ms):.0f})"
        flag = "" if r.claimed_ok else "  (claimed count off!)"
        print(
            f"  {r.size:>10,}{r.load_s:>9.1f}{r.tick_ms:>10.1f}{spread:>16}"
            f"{r.empty_tick_ms:>10.2f}{naive:>11}{ratio:>12}{flag}"
        )
    if run.sizes:
        base = next((r for r in run.sizes if r.size == 10_000), run.sizes[0])
        top = run.sizes[-1]
        goal = GOAL_GROWTH.get(run.database, 2.0)
        growth = top.tick_ms / base.tick_ms
        print(f"  {'goal':<44}{'value':>10}  {'target':<9}result")
        print(
            f"  {f'tick {top.size:,} / tick {base.size:,}':<44}{growth:>10.2f}  "
            f"{f'<= {goal:g}':<9}{_verdict(growth <= goal)}"
        )
        for r in run.sizes:
            if r.naive_ms is None:
                continue
            share = r.tick_ms / r.naive_ms
            print(
                f"  {f'tick / naive @ {r.size:,}':<44}{share:>10.3f}  "
                f"{'<= 0.02':<9}{_verdict(share <= GOAL_VS_NAIVE)}"
            )
        for r in run.sizes:
            print(
                f"  {f'empty tick ms @ {r.size:,}':<44}{r.empty_tick_ms:>10.2f}  "
                f"{f'<= {GOAL_EMPTY_MS:g}':<9}{_verdict(r.empty_tick_ms <= GOAL_EMPTY_MS)}"
            )
    lat = run.latency
    if lat is not None:
        print(
            f"  latency @ {lat.size:,}: {lat.planned} clocks due at {lat.rate:g}/s; {lat.mode}; "
            f"{lat.scans} passes, pass p50 "
            f"{statistics.median(lat.scan_ms):.1f} ms / max {max(lat.scan_ms):.1f} ms"
        )
        # A clock whose breach was never committed counts as infinitely late.
        missing = lat.planned - len(lat.latencies_ms)
        everything = [*lat.latencies_ms, *[float("inf")] * missing]
        p50, p99 = _pct(everything, 0.5), _pct(everything, 0.99)
        done = f"max {max(lat.latencies_ms):.1f} ms" if lat.latencies_ms else "none committed"
        print(
            f"  {'due -> transition committed p50 ms':<44}{_ms(p50):>10}  "
            f"({done}; {missing} of {lat.planned} never committed)"
        )
        print(
            f"  {'due -> transition committed p99 ms':<44}{_ms(p99):>10}  "
            f"{f'<= {GOAL_LATENCY_P99_MS:g}':<9}{_verdict(p99 <= GOAL_LATENCY_P99_MS)}"
        )
        if missing:
            print(
                f"  note: {missing} due clocks had no transition {LATENCY_DRAIN_S:g} s after "
                "the last due instant: the scanner stopped running"
            )
    if run.error:
        print(f"  ERROR: {run.error}")
    print()


# -- entry point --------------------------------------------------------------------------


def _sizes(value: str) -> tuple[int, ...]:
    sizes = tuple(sorted({int(part.replace("_", "")) for part in value.split(",") if part}))
    if not sizes or sizes[0] <= 0:
        raise argparse.ArgumentTypeError("sizes must be positive integers")
    return sizes


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--sizes", type=_sizes, default=(10_000, 100_000, 1_000_000))
    parser.add_argument("--due", type=int, default=1000, help="due clocks per tick")
    parser.add_argument("--repeats", type=int, default=3, help="ticks per size (median)")
    parser.add_argument("--empty-repeats", type=int, default=20)
    parser.add_argument(
        "--naive-max", type=int, default=1_000_000, help="skip the naive scan above this size"
    )
    parser.add_argument(
        "--latency-seconds", type=float, default=20.0, help="0 skips the latency phase"
    )
    parser.add_argument("--latency-rate", type=float, default=50.0, help="clocks due per second")
    parser.add_argument(
        "--scan-interval",
        type=float,
        default=None,
        help="latency phase: a fixed-rate scan loop instead of the app's SlaScanJob",
    )
    parser.add_argument(
        "--latency-size",
        type=int,
        default=10_000,
        help="run the latency phase at the first size >= this",
    )
    args = parser.parse_args(argv)
    if args.due <= 0 or args.repeats <= 0 or args.empty_repeats <= 0 or args.latency_rate <= 0:
        parser.error("--due, --repeats, --empty-repeats and --latency-rate must be positive")
    needed = args.due * args.repeats + 20  # each size makes that many fresh clocks due
    if args.sizes[0] < needed:
        parser.error(f"the smallest size must hold at least {needed:.0f} clocks")
    return Options(
        databases=("sqlite", "postgresql") if args.db == "both" else (args.db,),
        sizes=args.sizes,
        due=args.due,
        repeats=args.repeats,
        empty_repeats=args.empty_repeats,
        naive_max=args.naive_max,
        latency_seconds=args.latency_seconds,
        latency_rate=args.latency_rate,
        latency_size=args.latency_size,
        scan_interval=args.scan_interval,
    )


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    configure_logging("warning", "console")  # the scanner's per-pass info lines are noise here
    print_header(opts)
    started = time.perf_counter()
    runs = []
    try:
        for database in opts.databases:
            runs.append(run_database(database, opts))
            print_run(runs[-1])
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(f"total {time.perf_counter() - started:.0f} s")
    return 1 if any(r.error for r in runs) else 0


if __name__ == "__main__":
    raise SystemExit(main())
