"""The rollup job: folds new clock outcomes into the hourly and daily sums every few
seconds, where the background work runs (``scheduler_enabled``). Reports stay exact
without it; it only keeps the ledger rows a report must add up itself few."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qualityapi.db import health
from qualityapi.reports.service import fold_pending

log = structlog.get_logger("qualityapi.reports")


class RollupJob:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, interval: float) -> None:
        self._sessionmaker = sessionmaker
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="reports-rollup")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                folded = await fold_pending(self._sessionmaker)
                log.debug("reports_rollup", folded=folded)
            except Exception as exc:
                # One failed fold is retried at the next interval; it never stops the job.
                if not health.outage(exc):
                    log.exception("reports_rollup_failed")
            await asyncio.sleep(self._interval)
