"""Reports: SLA attainment over any period, and the monthly quality report (JSON or CSV)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from qualityapi.auth.dependencies import ViewerDep
from qualityapi.common.dependencies import ClockDep
from qualityapi.common.routing import ContractRoute
from qualityapi.common.schemas import INSTANT_MIN, UtcDatetime, check_period
from qualityapi.db.session import SessionDep
from qualityapi.errors import Unprocessable
from qualityapi.reports import export, monthly, service
from qualityapi.reports.periods import PeriodError
from qualityapi.reports.schemas import GroupBy, MonthlyReport, SlaReport
from qualityapi.reports.service import ReportRules
from qualityapi.sla.dependencies import SubjectTypeDep

router = APIRouter(prefix="/reports", tags=["reports"], route_class=ContractRoute)

_GROUP_BY: tuple[GroupBy, ...] = ("priority", "team", "assignee", "category", "subject_type")
CSV = "text/csv"


async def _rules(request: Request) -> ReportRules:
    # async: a plain ``def`` dependency would cost a thread-pool hop per request.
    return ReportRules.of(request.app.state.settings)


def parse_group_by(value: str | None) -> list[GroupBy]:
    if not value:
        return []
    asked = [part.strip() for part in value.split(",") if part.strip()]
    chosen: list[GroupBy] = []
    for name in asked:
        found = next((g for g in _GROUP_BY if g == name), None)
        if found is None:
            raise Unprocessable(f"group_by: {name!r} is not one of {', '.join(_GROUP_BY)}")
        if found in chosen:
            raise Unprocessable(f"group_by: {name!r} is named twice")
        chosen.append(found)
    if len(chosen) > 2:
        raise Unprocessable("group_by: at most two of " + ", ".join(_GROUP_BY))
    return chosen


# Without a period, the SLA report covers the last 30 days up to now.
DEFAULT_SLA_DAYS = 30


_CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report as JSON, or as CSV with the same figures when the "
        "request sends `Accept: text/csv`.",
        "content": {CSV: {"schema": {"type": "string"}}},
    }
}


def _quality(accept: str, media: str) -> tuple[float, bool]:
    """The q the Accept header gives ``media`` (from its most specific matching range,
    RFC 9110 12.5.1), and whether it names ``media`` exactly."""
    kind = media.split("/")[0]
    best: tuple[int, float] = (-1, 0.0)
    for part in accept.split(","):
        name, *params = (p.strip() for p in part.split(";"))
        name = name.lower()
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        rank = {media: 2, f"{kind}/*": 1, "*/*": 0}.get(name, -1)
        if rank > best[0]:
            best = (rank, q)
    return best[1], best[0] == 2


def wants_csv(accept: str) -> bool:
    """CSV when the client prefers it to JSON: ``text/csv;q=0.1, application/json`` is
    JSON, ``TEXT/CSV`` is CSV (media types are case-insensitive); a tie goes to the one
    named exactly, and to JSON, the default, when both are."""
    if not accept:
        return False
    csv_q, csv_named = _quality(accept, CSV)
    json_q, json_named = _quality(accept, "application/json")
    if csv_q <= 0:
        return False
    if csv_q != json_q:
        return csv_q > json_q
    return csv_named and not json_named


def _csv(body: str, filename: str) -> Response:
    return Response(
        body,
        media_type=f"{CSV}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Vary": "Accept"},
    )


@router.get("/sla", response_model=SlaReport, responses=_CSV_RESPONSE)
async def get_sla_report(
    session: SessionDep,
    _: ViewerDep,
    clock: ClockDep,
    request: Request,
    response: Response,
    subject_type: SubjectTypeDep,
    from_: Annotated[
        UtcDatetime | None,
        Query(alias="from", description=f"Default: {DEFAULT_SLA_DAYS} days before `to`."),
    ] = None,
    to: Annotated[UtcDatetime | None, Query(description="Default: now.")] = None,
    group_by: Annotated[
        str | None,
        Query(
            description="Up to two of priority, team, assignee, category, subject_type, "
            "comma-separated.",
            examples=["priority,team"],
        ),
    ] = None,
) -> Any:
    """SLA attainment (met ÷ (met + breached)) per subject type and target, and per group,
    among the clock cycles decided in [`from`, `to`): any period, e.g. 24 months (without
    one, the last 30 days). Still running and cancelled clocks are counted apart. Each
    count comes with its definition. `Accept: text/csv` gives the same rows and totals as
    CSV."""
    to = clock.now() if to is None else to
    if from_ is None:  # never before the first instant the API accepts
        from_ = max(to - timedelta(days=DEFAULT_SLA_DAYS), INSTANT_MIN)
    check_period(from_, to)
    report = await service.sla_report(
        session,
        start=from_,
        end=to,
        group_by=parse_group_by(group_by),
        subject_type=subject_type,
        rules=await _rules(request),
        now=clock.now(),
    )
    response.headers["Vary"] = "Accept"  # one URL, two representations: caches must know
    if wants_csv(request.headers.get("accept", "")):
        day = "%Y-%m-%d"
        name = f"sla-report-{from_.strftime(day)}-to-{to.strftime(day)}.csv"
        return _csv(export.sla_to_csv(report), name)
    return report


@router.get("/monthly", response_model=MonthlyReport, responses=_CSV_RESPONSE)
async def get_monthly_report(
    session: SessionDep,
    _: ViewerDep,
    clock: ClockDep,
    request: Request,
    response: Response,
    month: Annotated[
        str | None,
        Query(
            examples=["2026-10"],
            description="YYYY-MM; default: the current month in the report's time zone, "
            "so far (the report's `final` is then false).",
        ),
    ] = None,
    tz: Annotated[
        str | None,
        Query(
            description="IANA time zone of the month's days; default: the business "
            "calendar's (Asia/Shanghai unless changed).",
            examples=["Asia/Shanghai"],
        ),
    ] = None,
) -> Any:
    """The monthly quality report: volumes by category and priority, SLA attainment per
    target against its goal, first-contact resolution, CSAT beside its response rate,
    complaint rate and on-time closure, top categories, slowest steps, staff flagged for
    retraining, high-frequency problems, and the change against the previous month.
    `Accept: text/csv` gives the same figures as CSV. The report says when it was made,
    the data it read (`data`) and whether the month is final."""
    try:
        report = await monthly.monthly_report(
            session, month=month, tz_name=tz, rules=await _rules(request), now=clock.now()
        )
    except PeriodError as exc:
        raise Unprocessable(str(exc)) from exc
    response.headers["Vary"] = "Accept"
    if wants_csv(request.headers.get("accept", "")):
        return _csv(export.to_csv(report), f"quality-report-{report.month}.csv")
    return report
