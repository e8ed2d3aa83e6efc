"""The operations gauges of /metrics: outbox backlog and age, database pool, build.

Counters and histograms live where their events happen (``middleware``, ``sla.metrics``,
``webhooks.metrics``); these gauges describe state, read when Prometheus scrapes. The
database part is a few index probes (``health.repository``), run at most once per
``metrics_outbox_refresh_seconds`` whatever the number of scrapers, and never blocks
a scrape for long: if the database does not answer, the last values are served and
``qualityapi_database_up`` says 0.
"""

from __future__ import annotations

import asyncio
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass

import structlog
from prometheus_client import REGISTRY, Info
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from qualityapi import __version__
from qualityapi.clock import Clock
from qualityapi.db import health
from qualityapi.health import repository
from qualityapi.health.repository import Backlog

log = structlog.get_logger("qualityapi.metrics")
BUILD = Info("qualityapi_build", "The running release (always 1; the labels say which)")
# Counts above this read as "this many or more": the query stays bounded during a flood.
BACKLOG_CAP = 100_000
# A scrape waits at most this long for the database before serving the last values.
REFRESH_TIMEOUT_SECONDS = 2.0


def publish_build(commit: str | None) -> None:
    BUILD.info(
        {"version": __version__, "commit": commit or "unknown", "python": platform.python_version()}
    )


@dataclass
class _Sources:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Clock
    refresh_seconds: float
    backlog: Backlog | None = None
    read_at: float = float("-inf")


class OperationsCollector(Collector):
    """Reads the running app's sources at collection time (one app per process; in
    tests the latest app started)."""

    def __init__(self) -> None:
        self.sources: _Sources | None = None
        self._lock = asyncio.Lock()

    def attach(
        self,
        *,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        refresh_seconds: float,
    ) -> None:
        self.sources = _Sources(engine, sessionmaker, clock, refresh_seconds)

    def detach(self, engine: AsyncEngine) -> None:
        if self.sources is not None and self.sources.engine is engine:
            self.sources = None

    async def refresh(self) -> None:
        sources = self.sources
        if sources is None or time.monotonic() - sources.read_at < sources.refresh_seconds:
            return
        async with self._lock:  # concurrent scrapes: one query set
            if time.monotonic() - sources.read_at < sources.refresh_seconds:
                return
            sources.read_at = time.monotonic()
            try:
                async with sources.sessionmaker() as session:
                    sources.backlog = await asyncio.wait_for(
                        repository.outbox_backlog(session, cap=BACKLOG_CAP),
                        REFRESH_TIMEOUT_SECONDS,
                    )
            except TimeoutError:
                log.warning("metrics_refresh_slow", timeout_s=REFRESH_TIMEOUT_SECONDS)
            except Exception as exc:
                # A scrape must still answer (the process gauges matter most then).
                if not health.outage(exc):
                    log.exception("metrics_refresh_failed")

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "qualityapi_database_up",
            "1 while this process reaches the database, 0 during an outage",
            value=0 if health.is_down() else 1,
        )
        sources = self.sources
        if sources is None:
            return
        pool = sources.engine.sync_engine.pool
        checked_out = getattr(pool, "checkedout", None)
        if callable(checked_out):
            yield GaugeMetricFamily(
                "qualityapi_db_pool_connections_in_use",
                "Database connections checked out of this process's pool",
                value=float(checked_out()),
            )
            size = getattr(pool, "size", None)
            if callable(size):
                yield GaugeMetricFamily(
                    "qualityapi_db_pool_size",
                    "Connections the pool keeps (it may open as many again as overflow)",
                    value=float(size()),
                )
        backlog = sources.backlog
        if backlog is None:
            return
        yield GaugeMetricFamily(
            "qualityapi_outbox_unrouted_messages",
            f"Messages written but not yet fanned out to endpoints (capped at {BACKLOG_CAP})",
            value=backlog.unrouted,
        )
        yield GaugeMetricFamily(
            "qualityapi_webhook_pending_deliveries",
            f"Deliveries to enabled endpoints not yet delivered (capped at {BACKLOG_CAP})",
            value=backlog.pending,
        )
        age = 0.0
        if backlog.oldest_at is not None:
            age = max(0.0, (sources.clock.now() - backlog.oldest_at).total_seconds())
        yield GaugeMetricFamily(
            "qualityapi_outbox_oldest_undelivered_age_seconds",
            "Age of the oldest message not yet delivered to an enabled endpoint (0: none)",
            value=age,
        )


OPERATIONS = OperationsCollector()
REGISTRY.register(OPERATIONS)
