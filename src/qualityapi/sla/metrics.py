"""Prometheus metrics of the SLA engine (served at /metrics with the rest)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import Counter, Histogram

from qualityapi.sla.events import BREACHED_EVENT, ESCALATED, WARNING

SCAN_SECONDS = Histogram(
    "qualityapi_sla_scan_duration_seconds",
    "Duration of one SLA scanner pass (claim, apply, commit)",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
SCAN_DUE = Counter(
    "qualityapi_sla_scan_due_clocks_total",
    "Due clocks the scanner claimed (its work: grows with due clocks, never open ones)",
)
SCAN_FAILED = Counter(
    "qualityapi_sla_scan_failed_clocks_total",
    "Clocks a pass could not apply (set aside, retried later; see sla_clock_failed lines)",
)
TRANSITIONS = Counter(
    "qualityapi_sla_transitions_total",
    "Clock transitions recorded, by stage reached (warning, breached, escalated)",
    ["stage"],
)
_STAGES = {WARNING: "warning", BREACHED_EVENT: "breached", ESCALATED: "escalated"}
_CHILDREN = {t: TRANSITIONS.labels(stage) for t, stage in _STAGES.items()}


def count_transitions(messages: Iterable[Mapping[str, Any]]) -> None:
    """Counts the transitions of a batch by the type of the message each one wrote. Called
    once the batch's last statement ran; a commit failing after it (a database outage)
    can over-count a batch that the next pass then applies again."""
    for message_type, n in Tally(str(m.get("type")) for m in messages).items():
        child = _CHILDREN.get(message_type)
        if child is not None:
            child.inc(n)


def observe_pass(*, claimed: int, failed: int, seconds: float) -> None:
    SCAN_SECONDS.observe(seconds)
    SCAN_DUE.inc(claimed)
    if failed:
        SCAN_FAILED.inc(failed)
