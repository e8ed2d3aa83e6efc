"""What every figure in a report says about itself: how it is computed.

One model for every report (surveys' CSAT, the SLA and monthly reports), so a reader
finds the same fields everywhere and a change of definition shows as a new ``version``.
"""

from __future__ import annotations

from pydantic import Field

from qualityapi.common.schemas import ReadModel


class KpiDefinition(ReadModel):
    formula: str
    numerator: str
    denominator: str
    exclusions: str
    period: str
    calendar: str | None = Field(
        default=None,
        description="The calendar working-time figures are measured on; null when the "
        "figure uses no working time.",
    )
    version: int
