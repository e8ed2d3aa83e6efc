from __future__ import annotations

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qualityapi.clock import Clock
from qualityapi.sla.scanner import scan_once

log = structlog.get_logger("qualityapi.scheduler")


class SlaScanJob:
    """Runs the SLA scanner every ``interval`` seconds (one run at a time).

    A pass that finds nothing due is one indexed range query; a full batch is followed at
    once by another pass, so a burst drains without waiting for the next tick.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        interval: float,
        batch: int,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._interval = interval
        self._batch = batch
        self._scheduler = AsyncIOScheduler()

    def start(self) -> None:
        self._scheduler.add_job(
            self.run,
            "interval",
            seconds=self._interval,
            id="sla-scan",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        self._scheduler.start()
        log.info("sla_scanner_started", interval_s=self._interval, batch=self._batch)

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    async def run(self) -> None:
        while True:
            try:
                result = await scan_once(self._sessionmaker, self._clock.now(), batch=self._batch)
            except Exception:
                log.exception("sla_scan_failed")
                return
            if result.transitions or result.failed:
                log.info(
                    "sla_scan",
                    claimed=result.claimed,
                    transitions=result.transitions,
                    failed=result.failed,
                )
            if result.claimed < self._batch:
                return
