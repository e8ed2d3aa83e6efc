"""The monthly quality report (000 §4.2): volumes, SLA attainment per target, first-contact
resolution, CSAT beside its response rate, complaint rate and on-time closure, the slowest
steps, staff flagged for retraining, high-frequency problems, and the change since the
previous month. Every figure is an aggregate from the database, read in one snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.common.kpi import KpiDefinition
from qualityapi.reports import counts_repository, definitions, repository
from qualityapi.reports import ledger_repository as ledger
from qualityapi.reports.periods import (
    local_midnight,
    month_bounds,
    month_name,
    parse_month,
    previous_month,
    zone,
)
from qualityapi.reports.schemas import (
    CategoryPriorityCount,
    Change,
    ComplaintFigures,
    Count,
    FirstContactResolution,
    HighFrequencyProblem,
    Kpi,
    MonthlyReport,
    RetrainingFlag,
    Satisfaction,
    Step,
    TargetAttainment,
    Volumes,
)
from qualityapi.reports.service import ReportRules, ratio, watermark
from qualityapi.sla import calendars
from qualityapi.sla import repository as sla_repository
from qualityapi.sla.calendar import BusinessCalendar, CalendarHorizonError, add_working_days
from qualityapi.sla.offload import bounded
from qualityapi.surveys.schemas import Ratio, SurveyStats
from qualityapi.surveys.states import ISSUED_STATUSES
from qualityapi.surveys.states import Status as SurveyStatus
from qualityapi.surveys.stats import DEFINITIONS as SURVEY_DEFINITIONS

TOP_CATEGORIES = 5


def kpi(
    key: str,
    numerator: int,
    denominator: int,
    *,
    goal: float | None,
    rule: str,
    definition: KpiDefinition,
    previous: float | None = None,
    per_100: bool = False,
) -> Kpi:
    value = ratio(numerator, denominator, 100.0 if per_100 else 1.0)
    meets = None
    if value is not None and goal is not None:
        meets = value < goal if rule == "below" else value >= goal
    change = None
    if value is not None and previous is not None:
        change = round(value - previous, 4)
    return Kpi(
        key=key,
        value=value,
        numerator=numerator,
        denominator=denominator,
        unit="per_100" if per_100 else "ratio",
        goal=goal,
        goal_rule="below" if rule == "below" else "at_least",
        meets_goal=meets,
        previous_value=previous,
        change=change,
        definition=definition,
    )


# --- the business calendar: default time zone and the reopen window ------------------------


async def business_calendar(session: AsyncSession) -> tuple[str, BusinessCalendar | None, str]:
    """(time zone, pure calendar, how definitions name it); UTC and plain days if the
    business calendar was deleted."""
    cal = await sla_repository.get_calendar_by_name(session, calendars.BUSINESS)
    if cal is None:
        return "UTC", None, "none found: plain days (the business calendar is missing)"
    return cal.time_zone, calendars.business_calendar(cal), f"{cal.name} ({cal.time_zone})"


def _window_ends(
    cal: BusinessCalendar | None, place: ZoneInfo, first: date, count: int, n: int
) -> tuple[list[datetime], list[datetime]]:
    """Per local day from ``first``: its start, and the end of the Nth working day after
    it (the reopen window of a resolution made that day). Pure: run through ``bounded``."""
    starts, ends = [], []
    for i in range(count):
        start = local_midnight(first + timedelta(days=i), place)
        starts.append(start)
        try:
            if cal is None:
                raise CalendarHorizonError("no business calendar")
            ends.append(add_working_days(cal, start, n))
        except CalendarHorizonError:
            # No working day within the horizon: the window is N plain days.
            ends.append(local_midnight(first + timedelta(days=i + n + 1), place))
    return starts, ends


# --- the counts ----------------------------------------------------------------------------


@dataclass
class _Tally:
    """One period's counts from the count ledger."""

    orders: int = 0
    complaints: int = 0
    volumes: list[tuple[str | None, str, int]] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    answered: int = 0
    satisfied: int = 0
    dissatisfied: int = 0
    # category: [first resolutions, of them by the first assignee]
    resolutions: dict[str | None, list[int]] = field(default_factory=dict)

    def surveys(self, start: datetime, end: datetime) -> SurveyStats:
        """The figures ``surveys.stats`` gives for the period (same definitions), from
        the ledger's sums instead of a scan of the month's surveys."""
        issued = sum(self.statuses.get(s.value, 0) for s in ISSUED_STATUSES)
        return SurveyStats(
            period_start=start,
            period_end=end,
            issued=issued,
            answered=self.answered,
            satisfied=self.satisfied,
            dissatisfied=self.dissatisfied,
            unreached=self.statuses.get(SurveyStatus.unreached.value, 0),
            refused=self.statuses.get(SurveyStatus.refused.value, 0),
            pending=self.statuses.get(SurveyStatus.pending.value, 0),
            cancelled=self.statuses.get(SurveyStatus.cancelled.value, 0),
            skipped=self.statuses.get(SurveyStatus.skipped.value, 0),
            csat=Ratio(
                value=ratio(self.satisfied, self.answered),
                numerator=self.satisfied,
                denominator=self.answered,
            ),
            response_rate=Ratio(
                value=ratio(self.answered, issued), numerator=self.answered, denominator=issued
            ),
            definitions=SURVEY_DEFINITIONS,
        )


def _by_kind(rows: list[counts_repository.CountRow], bucket: int) -> _Tally:
    tally = _Tally()
    for r in rows:
        if r.bucket != bucket:
            continue
        if r.kind == counts_repository.WORK_ORDER_CREATED:
            tally.orders += r.n
            tally.volumes.append((r.key2 or None, r.key1, r.n))
        elif r.kind == counts_repository.COMPLAINT_CREATED:
            tally.complaints += r.n
        elif r.kind == counts_repository.SURVEY_STATUS:
            tally.statuses[r.key1] = tally.statuses.get(r.key1, 0) + r.n
        elif r.kind == counts_repository.SURVEY_ANSWER:
            tally.answered += r.n
            tally.satisfied += r.n if r.key1 else 0
            tally.dissatisfied += r.n if r.key2 else 0
        elif r.kind == counts_repository.FIRST_RESOLUTION:
            slot = tally.resolutions.setdefault(r.key1 or None, [0, 0])
            slot[0] += r.n
            slot[1] += r.n if r.key2 else 0
    return tally


# --- the report ----------------------------------------------------------------------------


def _share(n: int, total: int) -> float | None:
    return ratio(n, total)


def _volumes(
    rows: list[tuple[str | None, str, int]], total: int, previous: int, complaints: int
) -> tuple[Volumes, list[Count]]:
    by_priority: dict[str, int] = {}
    by_category: dict[str | None, int] = {}
    for category, priority, n in rows:
        by_priority[priority] = by_priority.get(priority, 0) + n
        by_category[category] = by_category.get(category, 0) + n
    categories = sorted(by_category.items(), key=lambda kv: (-kv[1], kv[0] or ""))
    volumes = Volumes(
        work_orders=total,
        previous=previous,
        change=total - previous,
        complaints=complaints,
        by_priority=[
            Count(key=p, count=n, share=_share(n, total)) for p, n in sorted(by_priority.items())
        ],
        by_category=[Count(key=c, count=n, share=_share(n, total)) for c, n in categories],
        by_category_priority=[
            CategoryPriorityCount(category=c, priority=p, count=n)
            for c, p, n in sorted(rows, key=lambda r: (r[0] or "", r[1]))
        ],
    )
    top = [Count(key=c, count=n, share=_share(n, total)) for c, n in categories[:TOP_CATEGORIES]]
    return volumes, top


def _satisfaction(now: SurveyStats, before: SurveyStats, period: str, goal: float) -> Satisfaction:
    def pair(key: str, current: SurveyStats, previous: SurveyStats) -> Kpi:
        ratio_now = current.csat if key == "csat" else current.response_rate
        ratio_before = previous.csat if key == "csat" else previous.response_rate
        return kpi(
            key,
            ratio_now.numerator,
            ratio_now.denominator,
            goal=goal if key == "csat" else None,
            rule="at_least",
            definition=(definitions.csat if key == "csat" else definitions.response_rate)(period),
            previous=ratio(ratio_before.numerator, ratio_before.denominator),
        )

    return Satisfaction(
        csat=pair("csat", now, before),
        response_rate=pair("response_rate", now, before),
        issued=now.issued,
        answered=now.answered,
        satisfied=now.satisfied,
        dissatisfied=now.dissatisfied,
        unreached=now.unreached,
        refused=now.refused,
        pending=now.pending,
        cancelled=now.cancelled,
        skipped=now.skipped,
    )


async def monthly_report(
    session: AsyncSession,
    *,
    month: str | None,
    tz_name: str | None,
    rules: ReportRules,
    now: datetime,
) -> MonthlyReport:
    """The report of ``month`` (YYYY-MM); without one, of the month ``now`` falls in,
    so far (its ``final`` says no)."""
    await repository.read_snapshot(session)
    cal_tz, cal, cal_label = await business_calendar(session)
    place = zone(tz_name or cal_tz)
    if month is None:
        local = now.astimezone(place)
        month = month_name(local.year, local.month)
    year, mon = parse_month(month)
    prev = previous_month(year, mon)
    start, end = month_bounds(year, mon, place)
    prev_start, _ = month_bounds(*prev, place)
    bounds = [prev_start, start, end]
    period = f"the month {month_name(year, mon)} in {place.key}: [{_z(start)}, {_z(end)})"

    # SLA attainment per target: this month (bucket 1) and the previous one (bucket 0).
    counts: dict[tuple[str, str], list[list[int]]] = {}
    for row in await ledger.outcome_counts(session, boundaries=bounds):
        slot = counts.setdefault((row.subject_type, row.target), [[0, 0, 0], [0, 0, 0]])
        slot[row.bucket] = [row.met, row.breached, row.cancelled]
    running = {
        (st, target): n
        for st, target, _, n in await ledger.undecided_counts(session, started_before=end)
    }
    for key in running:
        counts.setdefault(key, [[0, 0, 0], [0, 0, 0]])
    sla = []
    for (st, target), (before, current) in sorted(counts.items()):
        sla.append(
            TargetAttainment(
                subject_type=st,
                target=target,
                met=current[0],
                breached=current[1],
                cancelled=current[2],
                running=running.get((st, target), 0),
                attainment=kpi(
                    "sla_attainment",
                    current[0],
                    current[0] + current[1],
                    goal=rules.target_attainment,
                    rule="at_least",
                    definition=definitions.attainment(period),
                    previous=ratio(before[0], before[0] + before[1]),
                ),
            )
        )

    # Orders and complaints created, surveys by status and their answers: one statement.
    tallied = await counts_repository.counts(
        session,
        kinds=(
            counts_repository.WORK_ORDER_CREATED,
            counts_repository.COMPLAINT_CREATED,
            counts_repository.SURVEY_STATUS,
            counts_repository.SURVEY_ANSWER,
            counts_repository.FIRST_RESOLUTION,
        ),
        boundaries=bounds,
    )
    by_kind = [_by_kind(tallied, b) for b in (0, 1)]
    orders, prev_orders = by_kind[1].orders, by_kind[0].orders
    complaints, prev_complaints = by_kind[1].complaints, by_kind[0].complaints
    volumes, top = _volumes(by_kind[1].volumes, orders, prev_orders, complaints)

    fcr = await _first_contact(session, bounds, by_kind, cal, cal_tz, cal_label, period, rules, now)
    satisfaction = _satisfaction(
        by_kind[1].surveys(start, end),
        by_kind[0].surveys(prev_start, start),
        period,
        rules.target_csat,
    )
    feedback = counts.get(("complaint", "feedback"), [[0, 0, 0], [0, 0, 0]])
    complaint_figures = ComplaintFigures(
        received=complaints,
        rate=kpi(
            "complaint_rate",
            complaints,
            orders,
            goal=round(rules.target_complaint_rate * 100, 4),
            rule="below",
            definition=definitions.complaint_rate(period),
            previous=ratio(prev_complaints, prev_orders, 100.0),
            per_100=True,
        ),
        on_time_closure=kpi(
            "on_time_complaint_closure",
            feedback[1][0],
            feedback[1][0] + feedback[1][1],
            goal=rules.target_attainment,
            rule="at_least",
            definition=definitions.on_time_closure(period),
            previous=ratio(feedback[0][0], feedback[0][0] + feedback[0][1]),
        ),
    )
    steps = await _steps(session, start, end)
    retraining = [
        RetrainingFlag(
            staff_id=r[0],
            name=r[1],
            team_id=r[2],
            team_name=r[3],
            flagged_in_month_at=r[4],
            flagged_since=r[5],
            flagged_at_month_end=bool(r[6]),
            flagged_now=None if r[7] is None else bool(r[7]),
        )
        for r in await repository.retraining(session, lo=start, hi=end)
    ]
    problems = [
        HighFrequencyProblem(
            plan_id=r[0],
            dimension=r[1],
            key=r[2],
            flagged_at=r[3],
            threshold=r[4],
            window_days=r[5],
            complaint_count=r[6],
            status=r[7],
            owner_id=r[8],
            due_at=r[9],
        )
        for r in await repository.improvement_plans(session, lo=start, hi=end)
    ]
    final_after = max(fcr[1], end + timedelta(days=1 + rules.survey_link_valid_days))
    report = MonthlyReport(
        month=month_name(year, mon),
        time_zone=place.key,
        start=start,
        end=end,
        previous_month=month_name(*prev),
        final=now >= final_after,
        final_after=final_after,
        data=await watermark(session, now),
        volumes=volumes,
        top_categories=top,
        sla=sla,
        first_contact_resolution=fcr[0],
        satisfaction=satisfaction,
        complaints=complaint_figures,
        slowest_steps=steps,
        retraining=retraining,
        high_frequency_problems=problems,
        changes=[],
        step_definition=definitions.STEP_DEFINITION,
    )
    report.changes = _changes(report)
    return report


async def _first_contact(
    session: AsyncSession,
    bounds: list[datetime],
    tallies: list[_Tally],
    cal: BusinessCalendar | None,
    cal_tz: str,
    cal_label: str,
    period: str,
    rules: ReportRules,
    now: datetime,
) -> tuple[FirstContactResolution, datetime]:
    """FCR gross and net (this month, and the previous one's values), and when the last
    reopen window of this month's resolutions ends. First resolutions and those by the
    first assignee come from the count ledger; the reopens within their window (a few per
    cent) are read one by one against the window of their resolution's day."""
    place = ZoneInfo(cal_tz)
    first = bounds[0].astimezone(place).date()
    last = (bounds[-1] - timedelta(microseconds=1)).astimezone(place).date()
    n = rules.reopen_working_days
    starts, ends = await bounded(_window_ends, cal, place, first, (last - first).days + 1, n)
    # Windows end later for later days: the ones still open now are those of the
    # resolutions from the first day whose window ends after now.
    still_open = next((s for s, e in zip(starts, ends, strict=True) if e > now), None)
    recent_from = None if still_open is None else max(still_open, bounds[1])
    early = await repository.early_reopens(
        session, boundaries=bounds, day_starts=starts, window_ends=ends, recent_from=recent_from
    )
    recent_by_first = 0
    if recent_from is not None and recent_from < bounds[-1]:
        recent = await counts_repository.counts(
            session,
            kinds=(counts_repository.FIRST_RESOLUTION,),
            boundaries=[recent_from, bounds[-1]],
        )
        recent_by_first = sum(r.n for r in recent if r.key2)
    excluded = set(rules.excluded_categories)
    # [resolved, by first assignee, reopened early, first contact] per period, for every
    # category and for those resolvable at first contact.
    gross = [[0] * 4, [0] * 4]
    net = [[0] * 4, [0] * 4]
    reopened = {(e.bucket, e.category): e for e in early}
    for bucket, tally in enumerate(tallies):
        for category, (resolved, by_first) in tally.resolutions.items():
            e = reopened.get((bucket, category))
            values = [
                resolved,
                by_first,
                e.reopened if e else 0,
                by_first - (e.by_first_assignee if e else 0),
            ]
            for totals in (gross, net) if category not in excluded else (gross,):
                totals[bucket] = [a + b for a, b in zip(totals[bucket], values, strict=True)]
    window_open = recent_by_first - sum(e.by_first_assignee_recent for e in early if e.bucket == 1)

    def figure(key: str, totals: list[list[int]], is_net: bool) -> Kpi:
        return kpi(
            key,
            totals[1][3],
            totals[1][0],
            goal=rules.target_fcr,
            rule="at_least",
            definition=definitions.first_contact(
                period, days=n, calendar=cal_label, excluded=sorted(excluded), net=is_net
            ),
            previous=ratio(totals[0][3], totals[0][0]),
        )

    result = FirstContactResolution(
        gross=figure("first_contact_resolution", gross, False),
        net=figure("first_contact_resolution_net", net, True),
        resolved=gross[1][0],
        by_first_assignee=gross[1][1],
        reopened_within_window=gross[1][2],
        window_open=window_open,
        reopen_window_working_days=n,
        excluded_categories=sorted(excluded),
    )
    return result, ends[-1]


_MILESTONES = {
    "reported_to_responded": ("reported", "responded"),
    "responded_to_arrived": ("responded", "arrived"),
    "arrived_to_resolved": ("arrived", "resolved"),
    "reported_to_resolved": ("reported", "resolved"),
}


async def _steps(session: AsyncSession, start: datetime, end: datetime) -> list[Step]:
    steps = [
        Step(
            step=name,
            from_milestone=_MILESTONES[name][0],
            to_milestone=_MILESTONES[name][1],
            orders=orders,
            median_seconds=None if median is None else median * 60,
            p90_seconds=None if p90 is None else p90 * 60,
        )
        for name, orders, median, p90 in await repository.step_percentiles(
            session, lo=start, hi=end
        )
    ]
    return sorted(steps, key=lambda s: (s.p90_seconds is None, -(s.p90_seconds or 0), s.step))


def _changes(report: MonthlyReport) -> list[Change]:
    def of(k: Kpi, st: str | None = None, target: str | None = None) -> Change:
        return Change(
            kpi=k.key,
            subject_type=st,
            target=target,
            previous_value=k.previous_value,
            value=k.value,
            change=k.change,
            meets_goal=k.meets_goal,
        )

    v = report.volumes
    changes = [
        Change(
            kpi="work_orders",
            previous_value=float(v.previous),
            value=float(v.work_orders),
            change=float(v.change),
            meets_goal=None,
        )
    ]
    changes += [of(t.attainment, t.subject_type, t.target) for t in report.sla]
    fcr, sat, comp = report.first_contact_resolution, report.satisfaction, report.complaints
    changes += [of(k) for k in (fcr.gross, fcr.net, sat.csat, sat.response_rate)]
    changes += [of(comp.rate), of(comp.on_time_closure)]
    return changes


def _z(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")
