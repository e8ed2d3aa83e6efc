"""The SLA report, the board's daily attainment, and folding the ledger into its sums.

Services read through the repositories and assemble; the figures themselves are computed
by the database. The monthly report is in ``monthly.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qualityapi.common.signals import commit
from qualityapi.config import Settings
from qualityapi.reports import counts_repository, definitions, repository
from qualityapi.reports import ledger_repository as ledger
from qualityapi.reports.periods import day_starts, zone
from qualityapi.reports.schemas import (
    Attainment,
    DailyAttainment,
    DataWatermark,
    GroupBy,
    SlaGroup,
    SlaReport,
    SlaRow,
)

# Ledger rows one fold takes at most: a short transaction, however far behind it is.
FOLD_BATCH = 20_000


@dataclass(frozen=True)
class ReportRules:
    """The goals and rules the reports apply (settings, README "Reports")."""

    target_csat: float = 0.85
    target_fcr: float = 0.90
    target_complaint_rate: float = 0.01
    target_attainment: float = 0.95
    reopen_working_days: int = 7
    excluded_categories: tuple[str, ...] = ()
    survey_link_valid_days: float = 7.0

    @classmethod
    def of(cls, settings: Settings) -> ReportRules:
        return cls(
            target_csat=settings.report_target_csat,
            target_fcr=settings.report_target_fcr,
            target_complaint_rate=settings.report_target_complaint_rate,
            target_attainment=settings.report_target_attainment,
            reopen_working_days=settings.report_fcr_reopen_working_days,
            excluded_categories=tuple(settings.report_fcr_excluded_categories),
            survey_link_valid_days=settings.survey_link_valid_days,
        )


def ratio(numerator: int, denominator: int, scale: float = 1.0) -> float | None:
    return round(numerator * scale / denominator, 4) if denominator else None


def dims_of(group_by: Sequence[str]) -> tuple[str, ...]:
    """The ledger's dimensions asked for, in their stored order (every row is per subject
    type already, so grouping by it adds nothing to the keys)."""
    return tuple(d for d in ledger.DIMENSIONS if d in group_by)


async def watermark(session: AsyncSession, now: datetime) -> DataWatermark:
    last_outcome, last_message = await repository.watermark(session)
    return DataWatermark(
        generated_at=now, last_clock_outcome_id=last_outcome, last_outbox_message_id=last_message
    )


# --- GET /v1/reports/sla -----------------------------------------------------------------


def _uuid(key: str) -> uuid.UUID | None:
    return uuid.UUID(key) if key else None


async def _groups(
    session: AsyncSession, dims: Sequence[str], keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], SlaGroup]:
    """Each group's labels: its keys, and the team's and assignee's names."""
    listed = list(set(keys))
    values = [dict(zip(dims, k, strict=False)) for k in listed]
    teams = [t for v in values if (t := _uuid(v.get("team", ""))) is not None]
    people = [p for v in values if (p := _uuid(v.get("assignee", ""))) is not None]
    team_names, staff_names = await repository.names(session, teams=teams, staff=people)
    groups = {}
    for key, v in zip(listed, values, strict=True):
        team, person = _uuid(v.get("team", "")), _uuid(v.get("assignee", ""))
        groups[key] = SlaGroup(
            priority=v.get("priority") or None,
            category=v.get("category") or None,
            team_id=team,
            team_name=team_names.get(team) if team else None,
            assignee_id=person,
            assignee_name=staff_names.get(person) if person else None,
        )
    return groups


Counted = dict[tuple[str, str, tuple[str, str]], list[int]]
"""(subject type, target, group keys) -> [met, breached, cancelled, running]."""


async def _counted(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    dims: tuple[str, ...],
    subject_type: str | None,
) -> Counted:
    counts = await ledger.outcome_counts(
        session, boundaries=[start, end], dims=dims, subject_type=subject_type
    )
    running = await ledger.undecided_counts(
        session, started_before=end, dims=dims, subject_type=subject_type
    )
    found: Counted = {}
    for c in counts:
        found[(c.subject_type, c.target, c.keys)] = [c.met, c.breached, c.cancelled, 0]
    for st, target, keys, n in running:
        found.setdefault((st, target, keys), [0, 0, 0, 0])[3] = n
    return found


def _all_groups(found: Counted) -> Counted:
    """The groups' counts summed per subject type and target: every clock cycle is in
    exactly one group, so these are the totals, without reading the ledger again."""
    totals: Counted = {}
    for (st, target, _), counts in found.items():
        summed = totals.setdefault((st, target, ("", "")), [0, 0, 0, 0])
        for i, n in enumerate(counts):
            summed[i] += n
    return totals


async def _rows(
    session: AsyncSession, found: Counted, *, dims: tuple[str, ...], goal: float
) -> list[SlaRow]:
    groups = await _groups(session, dims, (k[2] for k in found))
    rows = []
    for (st, target, keys), (met, breached, cancelled, open_) in sorted(found.items()):
        value = ratio(met, met + breached)
        rows.append(
            SlaRow(
                subject_type=st,
                target=target,
                group=groups[keys],
                met=met,
                breached=breached,
                cancelled=cancelled,
                running=open_,
                attainment=Attainment(
                    value=value,
                    numerator=met,
                    denominator=met + breached,
                    goal=goal,
                    meets_goal=None if value is None else value >= goal,
                ),
            )
        )
    return rows


async def sla_report(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    group_by: Sequence[GroupBy],
    subject_type: str | None,
    rules: ReportRules,
    now: datetime,
) -> SlaReport:
    """Attainment per subject type, target and group over [start, end)."""
    await repository.read_snapshot(session)
    dims = dims_of(group_by)
    found = await _counted(session, start=start, end=end, dims=dims, subject_type=subject_type)
    goal = rules.target_attainment
    rows = await _rows(session, found, dims=dims, goal=goal)
    totals = rows if not dims else await _rows(session, _all_groups(found), dims=(), goal=goal)
    period = f"clock cycles decided at or after {_z(start)} and before {_z(end)}"
    return SlaReport(
        start=start,
        end=end,
        group_by=list(group_by),
        subject_type=subject_type,
        rows=rows,
        totals=totals,
        definition=definitions.attainment(period),
        data=await watermark(session, now),
    )


def _z(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


# --- the board's chart ---------------------------------------------------------------------


async def daily_attainment(
    session: AsyncSession, *, days: int, tz: str, now: datetime
) -> list[DailyAttainment]:
    """Met and breached clock cycles (every subject and target) per local day in ``tz``,
    for the ``days`` days up to and including today; one query."""
    place = zone(tz)
    today = now.astimezone(place).date()
    first = today - timedelta(days=days - 1)
    bounds = day_starts(first, days, place)
    met = [0] * days
    breached = [0] * days
    for row in await ledger.outcome_counts(session, boundaries=bounds):
        met[row.bucket] += row.met
        breached[row.bucket] += row.breached
    return [
        DailyAttainment(
            date=first + timedelta(days=i),
            met=met[i],
            breached=breached[i],
            ratio=ratio(met[i], met[i] + breached[i]),
        )
        for i in range(days)
    ]


# --- the fold -----------------------------------------------------------------------------


async def fold_pending(
    sessionmaker: async_sessionmaker[AsyncSession], *, batch: int = FOLD_BATCH
) -> int:
    """Folds every row not folded yet of both ledgers (clock outcomes, counts) into their
    sums, ``batch`` rows per transaction; returns how many."""
    total = 0
    for fold in (ledger.fold, counts_repository.fold):
        while True:
            async with sessionmaker() as session:
                done = await fold(session, batch=batch)
                await commit(session)
            total += done
            if done < batch:
                break
    return total
