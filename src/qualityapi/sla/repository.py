"""All SQL for calendars, SLA policies, clocks and their transitions."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Row,
    String,
    Uuid,
    bindparam,
    cast,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.common.pagination import KeyPageParams, paginate_by_key
from qualityapi.db.base import table_of
from qualityapi.sla.models import (
    Calendar,
    ClockState,
    SlaClock,
    SlaPolicy,
    SlaReplan,
    SlaTransition,
)
from qualityapi.sla.subjects import LevelStore
from qualityapi.staff.models import Staff, Team


async def get_calendar(session: AsyncSession, calendar_id: uuid.UUID) -> Calendar | None:
    return await session.get(Calendar, calendar_id)


async def get_calendar_by_name(session: AsyncSession, name: str) -> Calendar | None:
    stmt = select(Calendar).where(Calendar.name == name)
    return (await session.execute(stmt)).scalar_one_or_none()


# Built-in calendars (24x7) first, then by name; the id breaks ties for the cursor.
# The longest title a board card shows.
BOARD_TITLE_CHARS = 120

CALENDAR_ORDER = ((Calendar.builtin, True), (Calendar.name, False), (Calendar.id, False))


async def list_calendars(
    session: AsyncSession, page: KeyPageParams | None = None
) -> Sequence[Calendar]:
    stmt = select(Calendar)
    if page is None:
        stmt = stmt.order_by(*(c.desc() if d else c.asc() for c, d in CALENDAR_ORDER))
    else:
        stmt = paginate_by_key(stmt, page, CALENDAR_ORDER)
    return (await session.execute(stmt)).scalars().all()


async def count_calendars(session: AsyncSession) -> int:
    return len((await session.execute(select(Calendar.id))).all())


async def get_policy(session: AsyncSession, policy_id: uuid.UUID) -> SlaPolicy | None:
    return await session.get(SlaPolicy, policy_id)


async def get_policy_by_name(session: AsyncSession, name: str) -> SlaPolicy | None:
    stmt = select(SlaPolicy).where(SlaPolicy.name == name)
    return (await session.execute(stmt)).scalar_one_or_none()


# The order in which policies are matched; the id breaks ties for the cursor.
POLICY_ORDER = (
    (SlaPolicy.subject, False),
    (SlaPolicy.rank, False),
    (SlaPolicy.name, False),
    (SlaPolicy.id, False),
)


async def list_policies(
    session: AsyncSession,
    *,
    subject: str | None = None,
    enabled: bool | None = None,
    page: KeyPageParams | None = None,
) -> Sequence[SlaPolicy]:
    stmt = select(SlaPolicy)
    if page is None:
        stmt = stmt.order_by(*(c.asc() for c, _ in POLICY_ORDER))
    else:
        stmt = paginate_by_key(stmt, page, POLICY_ORDER)
    if subject is not None:
        stmt = stmt.where(SlaPolicy.subject == subject)
    if enabled is not None:
        stmt = stmt.where(SlaPolicy.enabled.is_(enabled))
    return (await session.execute(stmt)).scalars().all()


# --- clocks ------------------------------------------------------------------------------


async def clocks_for(
    session: AsyncSession, subject_type: str, subject_id: uuid.UUID
) -> list[SlaClock]:
    stmt = (
        select(SlaClock)
        .where(SlaClock.subject_type == subject_type, SlaClock.subject_id == subject_id)
        .order_by(SlaClock.created_at, SlaClock.target)
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(stmt)).scalars().all())


_clocks = table_of(SlaClock)
_transitions = table_of(SlaTransition)
_replans = table_of(SlaReplan)
_INSERT_CLOCKS = insert(_clocks)


async def insert_clocks(session: AsyncSession, values: Sequence[dict[str, Any]]) -> None:
    """New clocks, one executemany (the returned rows are not in the session)."""
    if values:
        await session.execute(_INSERT_CLOCKS, list(values))


# A claimed clock as a plain row: the columns of ``_CLAIMED``, by name.
ClaimedClock = Row[*tuple[Any, ...]]
# What the scanner reads of a claimed clock (it writes back with ``update_clocks``).
_CLAIMED = (
    _clocks.c.id,
    _clocks.c.subject_type,
    _clocks.c.subject_id,
    _clocks.c.target,
    _clocks.c.policy_id,
    _clocks.c.state,
    _clocks.c.cycle,
    _clocks.c.due_at,
    _clocks.c.warn_at,
    _clocks.c.stage,
    _clocks.c.breached_at,
    _clocks.c.extensions,
)


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> Sequence[ClaimedClock]:
    """Clocks whose next check has come (plain rows, oldest first), locked for this
    transaction.

    PostgreSQL: FOR UPDATE SKIP LOCKED, so concurrent scanners take disjoint rows.
    SQLite has one writer at a time; its transaction is the lock.
    """
    stmt = (
        select(*_CLAIMED)
        .where(_clocks.c.next_check_at <= now)
        .order_by(_clocks.c.next_check_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return (await session.execute(stmt)).all()


async def due_clocks_of(
    session: AsyncSession, subject_type: str, subject_id: uuid.UUID, now: datetime
) -> Sequence[ClaimedClock]:
    """One subject's clocks whose next check has come, as ``claim_due`` gives them (the
    caller holds the subject: it is creating it)."""
    stmt = select(*_CLAIMED).where(
        _clocks.c.subject_type == subject_type,
        _clocks.c.subject_id == subject_id,
        _clocks.c.next_check_at <= now,
    )
    return (await session.execute(stmt)).all()


async def clocks_of_subjects(
    session: AsyncSession, subject_type: str, subject_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[SlaClock]]:
    """Every clock of each subject, read afresh; per subject in ``clocks_for``'s order."""
    result: dict[uuid.UUID, list[SlaClock]] = {i: [] for i in subject_ids}
    for part in chunked(subject_ids):
        stmt = (
            select(SlaClock)
            .where(SlaClock.subject_type == subject_type, SlaClock.subject_id.in_(part))
            .order_by(SlaClock.created_at, SlaClock.target)
            .execution_options(populate_existing=True)
        )
        for clock in (await session.execute(stmt)).scalars():
            result[clock.subject_id].append(clock)
    return result


async def policies_by_id(
    session: AsyncSession, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, SlaPolicy]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    stmt = select(SlaPolicy).where(SlaPolicy.id.in_(wanted))
    return {p.id: p for p in (await session.execute(stmt)).scalars()}


async def open_clocks_of_policy(session: AsyncSession, policy_id: uuid.UUID) -> list[SlaClock]:
    stmt = select(SlaClock).where(
        SlaClock.policy_id == policy_id,
        SlaClock.met_at.is_(None),
        SlaClock.state.in_([ClockState.running, ClockState.paused, ClockState.breached]),
    )
    return list((await session.execute(stmt)).scalars().all())


async def insert_transitions(
    session: AsyncSession, keys: Sequence[tuple[uuid.UUID, int, int]], at: datetime
) -> set[tuple[uuid.UUID, int, int]]:
    """Records the (clock, cycle, stage) transitions; returns those that were new.

    One INSERT ... ON CONFLICT DO NOTHING RETURNING per page: a key another scanner
    recorded first is skipped (and waited for, if its transaction is still open, on
    PostgreSQL) instead of failing the statement.
    """
    if not keys:
        return set()
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(_transitions)
        .on_conflict_do_nothing(index_elements=["clock_id", "cycle", "stage"])
        .returning(_transitions.c.clock_id, _transitions.c.cycle, _transitions.c.stage)
    )
    params = [
        {"clock_id": c, "cycle": cycle, "stage": s, "occurred_at": at} for c, cycle, s in keys
    ]
    rows = (await session.execute(stmt, params)).all()
    return {(r.clock_id, r.cycle, r.stage) for r in rows}


_UPDATE_CLOCK = (
    update(_clocks)
    .where(_clocks.c.id == bindparam("b_id"))
    .values(
        stage=bindparam("b_stage"),
        state=bindparam("b_state"),
        breached_at=bindparam("b_breached_at"),
        next_check_at=bindparam("b_next_check_at"),
        updated_at=bindparam("b_updated_at"),
    )
)


async def update_clocks(session: AsyncSession, values: Sequence[dict[str, Any]]) -> None:
    """The scanner's writes to claimed clocks, one executemany. Each dict holds ``id``,
    ``stage``, ``state``, ``breached_at``, ``next_check_at`` and ``updated_at``."""
    if values:
        await session.execute(_UPDATE_CLOCK, [{f"b_{k}": v for k, v in d.items()} for d in values])


async def retry_later(session: AsyncSession, clock_id: uuid.UUID, at: datetime) -> None:
    """A clock the scanner failed to apply: checked again at ``at``, not on every pass."""
    await session.execute(update(_clocks).where(_clocks.c.id == clock_id).values(next_check_at=at))


async def earliest_check(session: AsyncSession) -> datetime | None:
    """When the scanner next has work (an index-only look-up on next_check_at)."""
    stmt = select(SlaClock.next_check_at).where(SlaClock.next_check_at.is_not(None))
    stmt = stmt.order_by(SlaClock.next_check_at).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


def chunked(ids: Sequence[uuid.UUID], size: int = 1000) -> Iterator[Sequence[uuid.UUID]]:
    """Pages of at most ``size`` ids: an IN list binds one parameter per id, and both
    databases cap the parameters of one statement."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# --- what subjects show (generic over each kind's ``LevelStore``) -------------------------


async def lock_levels(
    session: AsyncSession, store: LevelStore, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, Any]]:
    """(level, summary) of each subject found, rows locked in id order on PostgreSQL."""
    t = store.table
    id_col, level, summary = t.c[store.id], t.c[store.level], t.c[store.summary]
    locking = session.get_bind().dialect.name == "postgresql"
    found: dict[uuid.UUID, tuple[str, Any]] = {}
    for part in chunked(sorted(ids)):
        stmt = select(id_col, level, summary).where(id_col.in_(part)).order_by(id_col)
        if locking:
            stmt = stmt.with_for_update()
        for row in await session.execute(stmt):
            value = row[1]
            found[row[0]] = (getattr(value, "value", value), row[2])
    return found


async def lock_subjects(
    session: AsyncSession, store: LevelStore, ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Locks the subjects' rows until commit, skipping those another transaction holds
    (PostgreSQL; in id order); returns the ids that may be written now. A subject that
    does not exist holds nothing back."""
    wanted = sorted(set(ids))
    if session.get_bind().dialect.name != "postgresql" or not wanted:
        return set(wanted)
    id_col = store.table.c[store.id]
    free: set[uuid.UUID] = set()
    for part in chunked(wanted):
        stmt = select(id_col).where(id_col.in_(part)).order_by(id_col)
        free.update((await session.execute(stmt.with_for_update(skip_locked=True))).scalars())
    rest = [i for i in wanted if i not in free]
    held: set[uuid.UUID] = set()
    for part in chunked(rest):
        held.update((await session.execute(select(id_col).where(id_col.in_(part)))).scalars())
    return set(wanted) - held


async def write_levels(
    session: AsyncSession,
    store: LevelStore,
    updates: Sequence[tuple[uuid.UUID, str, list[dict[str, Any]]]],
) -> None:
    """(id, level, summary) per subject, one executemany.

    ``version`` is left alone: it counts client-visible edits, and a level the scanner
    moved must not turn a client's fresh ETag into a 412 (README, "Versions and ETags")."""
    if not updates:
        return
    t = store.table
    values: dict[str, Any] = {store.level: bindparam("b_level"), store.summary: bindparam("b_sla")}
    stmt = update(t).where(t.c[store.id] == bindparam("b_id")).values(values)
    await session.execute(
        stmt, [{"b_id": i, "b_level": level, "b_sla": summary} for i, level, summary in updates]
    )


# The board reads every kind of subject in two statements, whatever the number of kinds
# and levels: one count per kind and level, then the oldest items of each (kind, level)
# that has any. Built once per shape; rebuilding them cost more than running them.
Kinds = tuple[tuple[str, LevelStore], ...]


@functools.lru_cache(maxsize=32)
def _board_counts_statement(kinds: Kinds) -> Any:
    parts = []
    for kind, store in kinds:
        t = store.table
        level = t.c[store.level]
        parts.append(
            select(
                literal(kind, String).label("kind"),
                type_coerce(level, String).label("level"),
                func.count().label("n"),
            )
            .where(t.c[store.status].in_(sorted(store.open_statuses)))
            .group_by(level)
        )
    return union_all(*parts)


async def board_counts(session: AsyncSession, kinds: Kinds) -> dict[tuple[str, str], int]:
    """Open subjects per (kind, level)."""
    if not kinds:
        return {}
    rows = await session.execute(_board_counts_statement(kinds))
    return {(kind, level): int(n) for kind, level, n in rows}


def _oldest_at_level(store: LevelStore, kind: str, level: str, limit: int) -> Any:
    """The oldest open subjects of one kind at ``level``, in the board's columns (the same
    types in every kind, so that they make one UNION)."""
    t = store.table
    staff = table_of(Staff)
    teams = table_of(Team)
    # The default column name may not exist in a kind that has no assignee: then none.
    assignee = t.c.get(store.assignee) if store.assignee else None
    team = t.c.get(store.team) if store.team else None
    source: Any = t if assignee is None else t.outerjoin(staff, staff.c.id == assignee)
    if team is not None:
        source = source.outerjoin(teams, teams.c.id == team)
    no_id = cast(null(), Uuid)
    no_text = cast(null(), String)
    oldest = (
        select(
            literal(kind, String).label("kind"),
            literal(level, String).label("level"),
            t.c[store.id].label("id"),
            type_coerce(t.c[store.number], String).label("number"),
            # A line on a card: a kind whose title is free text (a complaint's description)
            # is cut, in SQL, so the board never carries whole letters.
            (
                type_coerce(func.substr(t.c[store.title], 1, BOARD_TITLE_CHARS), String)
                if store.title
                else no_text
            ).label("title"),
            type_coerce(t.c[store.status], String).label("status"),
            t.c[store.since].label("since"),
            t.c[store.summary].label("sla"),
            (no_id if assignee is None else assignee).label("assignee_id"),
            (no_text if assignee is None else staff.c.name).label("assignee_name"),
            (no_id if team is None else team).label("team_id"),
            (no_text if team is None else teams.c.name).label("team_name"),
        )
        .select_from(source)
        .where(t.c[store.status].in_(sorted(store.open_statuses)), t.c[store.level] == level)
        .order_by(t.c[store.since], t.c[store.id])
        .limit(limit)
        .subquery()
    )
    # As a subquery: SQLite allows no ORDER BY or LIMIT in a member of a compound SELECT.
    return select(oldest)


@functools.lru_cache(maxsize=256)
def _board_items_statement(wanted: tuple[tuple[str, LevelStore, str], ...], limit: int) -> Any:
    return union_all(*(_oldest_at_level(store, kind, lv, limit) for kind, store, lv in wanted))


async def board_items(
    session: AsyncSession, wanted: Sequence[tuple[str, LevelStore, str]], limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` of the oldest open subjects of each (kind, store, level) in
    ``wanted``: kind, level, id, number, title, status, since, sla, the assignee's
    ``assignee_id`` and ``assignee_name``, the team's ``team_id`` and ``team_name``."""
    if not wanted or limit <= 0:
        return []
    stmt = _board_items_statement(tuple(wanted), limit)
    return [dict(row) for row in (await session.execute(stmt)).mappings()]


# --- re-plans after policy and calendar edits -----------------------------------------------

_OPEN_FOR_REPLAN = (ClockState.running, ClockState.paused, ClockState.pending)


async def request_replan(
    session: AsyncSession, reason: str, ref_id: uuid.UUID, at: datetime
) -> None:
    await session.execute(
        insert(_replans).values(reason=reason, ref_id=ref_id, requested_at=at, clocks_done=0)
    )


async def claim_replan(session: AsyncSession) -> Any:
    """The oldest re-plan not done, locked (SKIP LOCKED: replicas take different ones)."""
    stmt = (
        select(_replans.c.id, _replans.c.reason, _replans.c.ref_id, _replans.c.after_clock_id)
        .where(_replans.c.done_at.is_(None))
        .order_by(_replans.c.id)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return (await session.execute(stmt)).first()


async def clocks_to_replan(
    session: AsyncSession, reason: str, ref_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> Sequence[Any]:
    """(id, subject_type, subject_id) of the next open clocks planned by the edited
    policy or on the edited calendar, in id order after ``after``."""
    c = _clocks.c
    owner = c.policy_id == ref_id if reason == "policy" else c.calendar_id == ref_id
    stmt = select(c.id, c.subject_type, c.subject_id).where(
        owner, c.state.in_(_OPEN_FOR_REPLAN), c.met_at.is_(None)
    )
    if after is not None:
        stmt = stmt.where(c.id > after)
    return (await session.execute(stmt.order_by(c.id).limit(limit))).all()


async def advance_replan(
    session: AsyncSession,
    replan_id: int,
    *,
    after: uuid.UUID | None,
    done: int,
    at: datetime | None,
) -> None:
    await session.execute(
        update(_replans)
        .where(_replans.c.id == replan_id)
        .values(after_clock_id=after, clocks_done=_replans.c.clocks_done + done, done_at=at)
    )


async def replan_waiting(
    session: AsyncSession,
    policy_ids: Iterable[uuid.UUID | None],
    calendar_ids: Iterable[uuid.UUID | None] = (),
) -> bool:
    """Whether an edit of one of these policies or calendars is still being applied."""
    policies = sorted(i for i in set(policy_ids) if i is not None)
    cals = sorted(i for i in set(calendar_ids) if i is not None)
    if not policies and not cals:
        return False
    r = _replans.c
    stmt = (
        select(r.id)
        .where(
            r.done_at.is_(None),
            or_(
                (r.reason == "policy") & r.ref_id.in_(policies),
                (r.reason == "calendar") & r.ref_id.in_(cals),
            ),
        )
        .limit(1)
    )
    return (await session.execute(stmt)).first() is not None


async def any_replan_waiting(session: AsyncSession) -> bool:
    stmt = select(_replans.c.id).where(_replans.c.done_at.is_(None)).limit(1)
    return (await session.execute(stmt)).first() is not None
