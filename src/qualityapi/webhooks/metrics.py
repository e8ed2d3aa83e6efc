"""Prometheus metrics of webhook delivery (served at /metrics with the rest)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ATTEMPTS = Counter(
    "qualityapi_webhook_attempts_total",
    "Webhook HTTP attempts by outcome (success, or the error class)",
    ["outcome"],
)
ATTEMPT_SECONDS = Histogram(
    "qualityapi_webhook_attempt_duration_seconds",
    "Duration of one webhook HTTP attempt",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0),
)
LAG_SECONDS = Histogram(
    "qualityapi_webhook_delivery_lag_seconds",
    "From the message being written to its successful delivery",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 30.0, 300.0, 3600.0, 86400.0),
)
DISABLED = Counter(
    "qualityapi_webhook_endpoints_disabled_total",
    "Endpoints the service disabled (410 Gone, failing too long)",
)
