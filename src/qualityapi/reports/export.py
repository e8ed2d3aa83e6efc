"""The reports as CSV, written from the very object the JSON is, so both always carry the
same numbers: the monthly report one line per figure, the SLA report one line per row."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from qualityapi.reports.schemas import Kpi, MonthlyReport, SlaReport

# One meaning per column, so a spreadsheet can filter and sum them: ``value`` the figure
# (or the report's own facts: its month, time zone, when generated), ``unit`` a KPI's unit,
# ``share`` a volume's share of the month, ``name`` a readable name (a step, a person, a
# problem, a top category's rank).
COLUMNS = (
    "section",
    "subject_type",
    "target",
    "key",
    "name",
    "value",
    "unit",
    "share",
    "numerator",
    "denominator",
    "goal",
    "meets_goal",
    "previous_value",
    "change",
    "definition_version",
)


def _kpi(section: str, k: Kpi, st: str = "", target: str = "") -> dict[str, Any]:
    return {
        "section": section,
        "subject_type": st,
        "target": target,
        "key": k.key,
        "unit": k.unit,
        "value": k.value,
        "numerator": k.numerator,
        "denominator": k.denominator,
        "goal": k.goal,
        "meets_goal": k.meets_goal,
        "previous_value": k.previous_value,
        "change": k.change,
        "definition_version": k.definition.version,
    }


def _count(section: str, key: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {"section": section, "key": key, "value": value, **extra}


def rows(report: MonthlyReport) -> Iterator[dict[str, Any]]:
    """Every figure of ``report``, in the order of the JSON document."""
    d = report.data
    for key, value in (
        ("month", report.month),
        ("time_zone", report.time_zone),
        ("start", report.start),
        ("end", report.end),
        ("final", report.final),
        ("final_after", report.final_after),
        ("generated_at", d.generated_at),
        ("last_clock_outcome_id", d.last_clock_outcome_id),
        ("last_outbox_message_id", d.last_outbox_message_id),
    ):
        yield _count("report", key, value)
    v = report.volumes
    yield _count(
        "volumes", "work_orders", v.work_orders, previous_value=v.previous, change=v.change
    )
    yield _count("volumes", "complaints", v.complaints)
    for c in v.by_priority:
        yield _count("volumes_by_priority", c.key or "", c.count, share=c.share)
    for c in v.by_category:
        yield _count("volumes_by_category", c.key or "", c.count, share=c.share)
    for cp in v.by_category_priority:
        key = f"{cp.category or ''}:{cp.priority}"
        yield _count("volumes_by_category_priority", key, cp.count)
    for rank, c in enumerate(report.top_categories, 1):
        yield _count("top_categories", c.key or "", c.count, share=c.share, name=f"rank {rank}")
    for t in report.sla:
        yield _kpi("sla_attainment", t.attainment, t.subject_type, t.target)
        for name in ("met", "breached", "cancelled", "running"):
            yield _count(
                "sla_counts", name, getattr(t, name), subject_type=t.subject_type, target=t.target
            )
    f = report.first_contact_resolution
    yield _kpi("first_contact_resolution", f.gross)
    yield _kpi("first_contact_resolution", f.net)
    for name in ("resolved", "by_first_assignee", "reopened_within_window", "window_open"):
        yield _count("first_contact_counts", name, getattr(f, name))
    s = report.satisfaction
    yield _kpi("satisfaction", s.csat)
    yield _kpi("satisfaction", s.response_rate)
    for name in ("issued", "answered", "satisfied", "dissatisfied", "unreached", "refused"):
        yield _count("satisfaction_counts", name, getattr(s, name))
    for name in ("pending", "cancelled", "skipped"):
        yield _count("satisfaction_counts", name, getattr(s, name))
    figures = report.complaints
    yield _count("complaints", "received", figures.received)
    yield _kpi("complaints", figures.rate)
    yield _kpi("complaints", figures.on_time_closure)
    for step in report.slowest_steps:
        name = f"{step.from_milestone} -> {step.to_milestone}"
        yield _count("slowest_steps", f"{step.step}:orders", step.orders, name=name)
        yield _count("slowest_steps", f"{step.step}:median_seconds", step.median_seconds)
        yield _count("slowest_steps", f"{step.step}:p90_seconds", step.p90_seconds)
    for r in report.retraining:
        yield _count("retraining", str(r.staff_id), int(r.flagged_at_month_end), name=r.name or "")
    for p in report.high_frequency_problems:
        yield _count(
            "high_frequency_problems",
            str(p.plan_id),
            p.complaint_count,
            name=f"{p.dimension}: {p.key}",
        )


# A cell a spreadsheet would run as a formula (a category typed as "=HYPERLINK(...)").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _write(columns: tuple[str, ...], lines: Iterator[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    for row in lines:
        writer.writerow({k: _cell(row.get(k)) for k in columns})
    return out.getvalue()


def to_csv(report: MonthlyReport) -> str:
    return _write(COLUMNS, rows(report))


SLA_COLUMNS = (
    "scope",
    "start",
    "end",
    "subject_type",
    "target",
    "priority",
    "category",
    "team_id",
    "team_name",
    "assignee_id",
    "assignee_name",
    "met",
    "breached",
    "cancelled",
    "running",
    "attainment",
    "goal",
    "meets_goal",
    "definition_version",
)


def sla_rows(report: SlaReport) -> Iterator[dict[str, Any]]:
    """The rows (``scope`` row), then the totals (``scope`` total), as in the JSON; each
    line carries the period so a sheet of several exports stays readable."""
    for scope, lines in (("row", report.rows), ("total", report.totals)):
        for r in lines:
            yield {
                "scope": scope,
                "start": report.start,
                "end": report.end,
                "subject_type": r.subject_type,
                "target": r.target,
                **r.group.model_dump(),
                "met": r.met,
                "breached": r.breached,
                "cancelled": r.cancelled,
                "running": r.running,
                "attainment": r.attainment.value,
                "goal": r.attainment.goal,
                "meets_goal": r.attainment.meets_goal,
                "definition_version": report.definition.version,
            }


def sla_to_csv(report: SlaReport) -> str:
    return _write(SLA_COLUMNS, sla_rows(report))
