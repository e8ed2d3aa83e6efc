"""Every KPI's definition, stated once: what is counted, over which period, on which
calendar. A change of meaning is a new ``version`` (the README lists them all)."""

from __future__ import annotations

from qualityapi.common.kpi import KpiDefinition
from qualityapi.surveys.stats import DEFINITIONS as SURVEY_DEFINITIONS

ATTAINMENT_CALENDAR = (
    "each clock's own: the calendar its policy planned it on (the built-in 24x7, or a "
    "business calendar with working hours and public holidays)"
)


def attainment(period: str) -> KpiDefinition:
    return KpiDefinition(
        formula="met / (met + breached)",
        numerator="clock cycles met by their deadline, counted when they were met",
        denominator="clock cycles met or breached; a breach counts at its deadline, also "
        "when the clock was met after it",
        exclusions="cancelled clock cycles and clocks still pending, running or paused "
        "(both reported apart); a reopened subject's new cycle counts on its own, and the "
        "earlier cycle's outcome stays where it was decided",
        period=period,
        calendar=ATTAINMENT_CALENDAR,
        version=1,
    )


def on_time_closure(period: str) -> KpiDefinition:
    return KpiDefinition(
        formula="closed by the feedback deadline / (closed by it + past it)",
        numerator="complaint feedback-loop clocks met by their deadline (the complaint was "
        "called back and closed in time)",
        denominator="complaint feedback-loop clocks met or breached",
        exclusions="complaints whose feedback clock was cancelled or is still running",
        period=period,
        calendar=ATTAINMENT_CALENDAR,
        version=1,
    )


def first_contact(
    period: str, *, days: int, calendar: str, excluded: list[str], net: bool
) -> KpiDefinition:
    listed = ", ".join(excluded) if excluded else "none configured"
    return KpiDefinition(
        formula="first-contact resolutions / first resolutions",
        numerator="work orders resolved by their first assignee, never given to anyone "
        f"else, and not reopened before the end of the {days}th working day after the "
        "day of the resolution",
        denominator="work orders resolved for the first time in the period"
        + (", in the categories that can be resolved at first contact" if net else ""),
        exclusions=(
            f"categories marked not resolvable at first contact ({listed}); "
            if net
            else "none by category (see the net figure); "
        )
        + "later resolutions after a reopen; an order resolved with no assignee is not a "
        "first-contact resolution",
        period=period,
        calendar=f"{calendar} (the reopen window's working days)",
        version=1,
    )


def complaint_rate(period: str) -> KpiDefinition:
    return KpiDefinition(
        formula="complaints / work orders x 100",
        numerator="complaints registered (created) in the period, from every channel and "
        "from dissatisfied surveys",
        denominator="work orders registered (created) in the period",
        exclusions="none: a complaint counts whether or not it is linked to a work order",
        period=period,
        version=1,
    )


def csat(period: str) -> KpiDefinition:
    base = SURVEY_DEFINITIONS["csat"]
    return base.model_copy(update={"period": period})


def response_rate(period: str) -> KpiDefinition:
    base = SURVEY_DEFINITIONS["response_rate"]
    return base.model_copy(update={"period": period})


STEP_DEFINITION = KpiDefinition(
    formula="median and 90th percentile (nearest rank) of the time between two milestones",
    numerator="elapsed (wall-clock) time per work order, rounded up to the whole minute",
    denominator="work orders first resolved in the period that have both milestones",
    exclusions="orders missing either milestone (e.g. no visit), and a later resolution "
    "after a reopen (the first one counts)",
    period="work orders first resolved in the month (the report's time zone)",
    calendar=None,
    version=1,
)
