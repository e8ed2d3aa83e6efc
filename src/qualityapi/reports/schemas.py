"""Report shapes. Each KPI carries its value with the counts behind it, its goal, whether
it meets it, the previous period's value and its definition."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import Field

from qualityapi.common.kpi import KpiDefinition
from qualityapi.common.schemas import ReadModel, UtcDatetime

GroupBy = Literal["priority", "team", "assignee", "category", "subject_type"]


@dataclass(frozen=True)
class DailyAttainment:
    """One local day of SLA attainment over every subject and target (the board's chart)."""

    date: date
    met: int
    breached: int
    ratio: float | None


class Kpi(ReadModel):
    key: str = Field(examples=["first_contact_resolution"])
    value: float | None = Field(
        description="numerator / denominator (x 100 for per_100); null when the denominator is 0."
    )
    numerator: int
    denominator: int
    unit: Literal["ratio", "per_100"]
    goal: float | None = Field(description="In the figure's unit.")
    goal_rule: Literal["at_least", "below"] | None
    meets_goal: bool | None = Field(description="Null when there is no value or no goal.")
    previous_value: float | None = Field(
        default=None, description="The same figure for the previous period."
    )
    change: float | None = Field(default=None, description="value - previous_value.")
    definition: KpiDefinition


class DataWatermark(ReadModel):
    """When the report was made and the last record it saw: the same watermark and
    period give the same figures."""

    generated_at: UtcDatetime
    last_clock_outcome_id: int | None = Field(
        description="The last row of the clock-outcome ledger the report read."
    )
    last_outbox_message_id: int | None = Field(description="The last event written before it.")


# --- GET /v1/reports/sla ---------------------------------------------------------------


class Attainment(ReadModel):
    value: float | None
    numerator: int = Field(description="Met.")
    denominator: int = Field(description="Met + breached.")
    goal: float
    meets_goal: bool | None


class SlaGroup(ReadModel):
    """The group a row counts (only the dimensions asked for are set)."""

    priority: str | None = Field(default=None, description="A complaint's severity.")
    category: str | None = None
    team_id: uuid.UUID | None = None
    team_name: str | None = None
    assignee_id: uuid.UUID | None = Field(default=None, description="A complaint's owner.")
    assignee_name: str | None = None


class SlaRow(ReadModel):
    subject_type: str
    target: str
    group: SlaGroup
    met: int
    breached: int
    cancelled: int
    running: int = Field(
        description="Cycles started before the period's end and not decided yet (pending, "
        "running or paused now)."
    )
    attainment: Attainment


class SlaReport(ReadModel):
    start: UtcDatetime
    end: UtcDatetime
    group_by: list[GroupBy]
    subject_type: str | None
    rows: list[SlaRow] = Field(description="Per subject type, target and group.")
    totals: list[SlaRow] = Field(description="Per subject type and target, all groups.")
    definition: KpiDefinition = Field(description="The definition of every attainment here.")
    data: DataWatermark


# --- GET /v1/reports/monthly -----------------------------------------------------------


class Count(ReadModel):
    key: str | None = Field(description="The category or priority; null: none recorded.")
    count: int
    share: float | None = Field(description="Of all work orders created in the month.")


class CategoryPriorityCount(ReadModel):
    category: str | None
    priority: str
    count: int


class Volumes(ReadModel):
    work_orders: int = Field(description="Created in the month.")
    previous: int
    change: int
    complaints: int
    by_priority: list[Count]
    by_category: list[Count]
    by_category_priority: list[CategoryPriorityCount]


class TargetAttainment(ReadModel):
    subject_type: str
    target: str
    met: int
    breached: int
    cancelled: int
    running: int
    attainment: Kpi


class FirstContactResolution(ReadModel):
    gross: Kpi
    net: Kpi
    resolved: int = Field(description="Work orders resolved for the first time in the month.")
    by_first_assignee: int = Field(description="... by their first and only assignee.")
    reopened_within_window: int
    window_open: int = Field(
        description="First-contact resolutions whose reopen window has not ended yet: "
        "they may still drop out."
    )
    reopen_window_working_days: int
    excluded_categories: list[str]


class Satisfaction(ReadModel):
    csat: Kpi
    response_rate: Kpi
    issued: int
    answered: int
    satisfied: int
    dissatisfied: int
    unreached: int
    refused: int
    pending: int
    cancelled: int
    skipped: int


class ComplaintFigures(ReadModel):
    received: int
    rate: Kpi = Field(description="Complaints per 100 work orders created in the month.")
    on_time_closure: Kpi


class Step(ReadModel):
    step: str = Field(examples=["reported_to_responded"])
    from_milestone: str
    to_milestone: str
    orders: int
    median_seconds: int | None
    p90_seconds: int | None


class RetrainingFlag(ReadModel):
    staff_id: uuid.UUID
    name: str | None
    team_id: uuid.UUID | None
    team_name: str | None
    flagged_in_month_at: UtcDatetime | None = Field(
        description="The last time the flag was raised within the month."
    )
    flagged_at_month_end: bool
    flagged_since: UtcDatetime | None = Field(
        description="When the flag standing at the month's end was raised."
    )
    flagged_now: bool | None = Field(description="Today, when the report was generated.")


class HighFrequencyProblem(ReadModel):
    plan_id: uuid.UUID
    dimension: str
    key: str
    flagged_at: UtcDatetime
    threshold: int
    window_days: int
    complaint_count: int = Field(description="As the plan records it now.")
    status: str = Field(description="The plan's status now.")
    owner_id: uuid.UUID | None
    due_at: UtcDatetime | None


class Change(ReadModel):
    kpi: str
    subject_type: str | None = None
    target: str | None = None
    previous_value: float | None
    value: float | None
    change: float | None
    meets_goal: bool | None


class MonthlyReport(ReadModel):
    month: str = Field(examples=["2026-10"])
    time_zone: str
    start: UtcDatetime
    end: UtcDatetime
    previous_month: str
    final: bool = Field(
        description="Whether every figure is settled: late survey answers and reopens "
        "within the first-contact window can change a recent month until `final_after`."
    )
    final_after: UtcDatetime
    data: DataWatermark
    volumes: Volumes
    top_categories: list[Count]
    sla: list[TargetAttainment]
    first_contact_resolution: FirstContactResolution
    satisfaction: Satisfaction
    complaints: ComplaintFigures
    slowest_steps: list[Step] = Field(description="Slowest first (by p90).")
    retraining: list[RetrainingFlag]
    high_frequency_problems: list[HighFrequencyProblem]
    changes: list[Change] = Field(description="Every KPI against the previous month.")
    step_definition: KpiDefinition
