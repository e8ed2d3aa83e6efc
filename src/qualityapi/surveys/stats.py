"""CSAT, always beside the response rate and the unreached count (domain.md: a CSAT of
the few who answer means little on its own)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.common.kpi import KpiDefinition
from qualityapi.surveys import repository
from qualityapi.surveys.schemas import Ratio, SurveyStats
from qualityapi.surveys.states import ISSUED_STATUSES, Status

_PERIOD = "surveys issued (created) at or after `from` and before `to`, UTC"

DEFINITIONS = {
    "csat": KpiDefinition(
        formula="satisfied / answered",
        numerator="answered surveys whose overall item is 4 or 5 (of 5)",
        denominator="answered surveys (by phone, in person or through the customer's link)",
        exclusions="unanswered surveys (pending, unreached, refused), cancelled and skipped "
        "ones: an unreached customer is never counted as satisfied",
        period=_PERIOD,
        version=1,
    ),
    "response_rate": KpiDefinition(
        formula="answered / issued",
        numerator="answered surveys",
        denominator="issued surveys: pending, completed, unreached and refused",
        exclusions="cancelled (the work order was reopened; its next resolution issues a "
        "new survey) and skipped (the customer was surveyed recently: not issued)",
        period=_PERIOD,
        version=1,
    ),
}


def _ratio(numerator: int, denominator: int) -> Ratio:
    value = round(numerator / denominator, 4) if denominator else None
    return Ratio(value=value, numerator=numerator, denominator=denominator)


async def stats(
    session: AsyncSession, *, start: datetime | None, end: datetime | None
) -> SurveyStats:
    counts = await repository.count_by_status(session, start, end)
    answered, satisfied, dissatisfied = await repository.count_answers(session, start, end)
    issued = sum(counts.get(s.value, 0) for s in ISSUED_STATUSES)
    return SurveyStats(
        period_start=start,
        period_end=end,
        issued=issued,
        answered=answered,
        satisfied=satisfied,
        dissatisfied=dissatisfied,
        unreached=counts.get(Status.unreached.value, 0),
        refused=counts.get(Status.refused.value, 0),
        pending=counts.get(Status.pending.value, 0),
        cancelled=counts.get(Status.cancelled.value, 0),
        skipped=counts.get(Status.skipped.value, 0),
        csat=_ratio(satisfied, answered),
        response_rate=_ratio(answered, issued),
        definitions=DEFINITIONS,
    )
