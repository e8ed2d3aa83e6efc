from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qualityapi.clock import Clock
from qualityapi.db import health
from qualityapi.retention import service as retention
from qualityapi.sla import metrics as sla_metrics
from qualityapi.sla import replans, repository, signals
from qualityapi.sla.scanner import scan_once

log = structlog.get_logger("qualityapi.scheduler")
JOB_ID = "sla-scan"
# When due clocks are all locked by another replica's pass.
LOCKED_BACKOFF = timedelta(milliseconds=50)


class SlaScanJob:
    """Runs the SLA scanner when the earliest ``next_check_at`` comes.

    After each pass the job is scheduled for the earliest next check, but no later than
    the safety interval (changes made by other replicas are found then). A clock change in
    this process (``sla.signals``) brings the next pass forward to the earliest check the
    change needs, and does nothing when a pass is due before that anyway: a burst of new
    orders, whose first checks lie minutes or hours ahead, costs no pass at all. A full
    batch is followed at once by another pass, so a burst of due clocks drains without
    waiting.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        safety_interval: float,
        batch: int,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._safety = timedelta(seconds=safety_interval)
        self._batch = batch
        self._scheduler = AsyncIOScheduler()
        self._running = False
        # When the scheduled pass runs (None: not scheduled); a change due later needs no
        # wake. ``_pending_at``: the earliest look asked for while a pass was running.
        self._next_at: datetime | None = None
        self._pending_at: datetime | None = None
        self._task: asyncio.Task[Any] | None = None  # the pass in progress, for stop()

    def start(self) -> None:
        self._scheduler.start()
        self._schedule(self._clock.now())
        signals.CLOCK_CHANGED.subscribe(self.wake)
        log.info("sla_scanner_started", safety_interval_s=self._safety.total_seconds())

    def shutdown(self) -> None:
        signals.CLOCK_CHANGED.unsubscribe(self.wake)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    async def stop(self, grace: float = 5.0) -> None:
        """Stops scheduling and lets a pass in progress finish (its transaction commits
        or rolls back whole either way); cut short after ``grace`` s. Without the wait the
        pass was cancelled when the loop closed, and its traceback went to the log."""
        self.shutdown()
        task = self._task
        if task is None or task.done():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait({task}, timeout=grace)
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def wake(self, at: datetime | None = None) -> None:
        """A clock changed that needs a look at ``at`` (None or past: at once)."""
        # Everything runs on the event loop: no lock needed.
        now = self._clock.now()
        when = now if at is None else max(at, now)
        if self._running:
            # The pass may have read the clocks before this change: remember it, so the
            # pass goes round again (if due) or schedules its successor no later.
            self._look_again(when)
            return
        if self._next_at is not None and self._next_at <= when:
            return
        self._schedule(when)

    def _schedule(self, when: datetime) -> None:
        self._next_at = when
        # max_instances=2: run() schedules its successor from its own ``finally``, while
        # APScheduler still counts it as running; with 1, a successor due at once would be
        # skipped and, being a one-shot job, dropped: the scanner would stop for good.
        # Two passes never overlap anyway: run() checks ``_running`` first.
        self._scheduler.add_job(
            self.run,
            "date",
            run_date=when,
            id=JOB_ID,
            replace_existing=True,
            misfire_grace_time=None,
            max_instances=2,
        )

    def _look_again(self, when: datetime) -> None:
        if self._pending_at is None or when < self._pending_at:
            self._pending_at = when

    def _due_again(self) -> bool:
        return self._pending_at is not None and self._pending_at <= self._clock.now()

    async def run(self) -> None:
        if self._running:
            self._look_again(self._clock.now())
            return
        self._running = True
        self._task = asyncio.current_task()
        # This task was started from whatever context woke it (often a request): its
        # lines carry the pass's own id, not that request's.
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(scan_pass=uuid.uuid4().hex[:12])
        next_at = self._clock.now() + self._safety
        try:
            while True:
                if self._due_again():
                    self._pending_at = None  # this pass sees that change
                started = time.perf_counter()
                result = await scan_once(self._sessionmaker, self._clock.now(), batch=self._batch)
                sla_metrics.observe_pass(
                    claimed=result.claimed,
                    failed=result.failed,
                    seconds=time.perf_counter() - started,
                )
                # Per pass: debug, so that a busy service's log (and the first run's key
                # banner) stays readable; a failure is a warning.
                (log.warning if result.failed else log.debug)(
                    "sla_scan",
                    claimed=result.claimed,
                    transitions=result.transitions,
                    failed=result.failed,
                    replanned=result.replanned,
                )
                # A full batch of due clocks or of re-plans: more may be waiting.
                more = result.claimed >= self._batch or result.replanned >= replans.BATCH
                if not more and not self._due_again():
                    break
            async with self._sessionmaker() as session:
                earliest = await repository.earliest_check(session)
            now = self._clock.now()
            if earliest is None:
                next_at = now + self._safety
            elif earliest <= now and (result.claimed == 0 or result.deferred):
                # Due, yet this pass could not claim it: another replica holds those clocks
                # (SKIP LOCKED). Look again shortly rather than spin until it commits.
                next_at = now + LOCKED_BACKOFF
            else:
                next_at = min(max(earliest, now), now + self._safety)
        except Exception as exc:
            if not health.outage(exc):
                log.exception("sla_scan_failed")
        finally:
            self._running = False
            if self._pending_at is not None:
                # Marked during the pass, maybe after ``earliest_check`` read the clocks.
                next_at = min(next_at, self._pending_at)
                self._pending_at = None
            if self._scheduler.running:
                self._schedule(next_at)


RETENTION_JOB_ID = "retention"
# The first pass waits this long after start-up: a (re)starting fleet does not delete in
# the same minute it migrates, seeds and catches up on due clocks.
RETENTION_FIRST_DELAY = timedelta(minutes=1)


class RetentionJob:
    """Deletes old delivery logs, outbox messages and idempotency keys every
    ``interval`` seconds (``retention.service``). One pass at a time; with several
    replicas each runs it, and the deletes are idempotent (a row is gone or not)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        policy: retention.Policy,
        *,
        interval: float,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._policy = policy
        self._interval = interval
        self._scheduler = AsyncIOScheduler()

    def start(self) -> None:
        self._scheduler.start()
        self._scheduler.add_job(
            self.run,
            "interval",
            seconds=self._interval,
            # APScheduler runs on the real time whatever clock the service is given.
            next_run_time=datetime.now(UTC) + RETENTION_FIRST_DELAY,
            id=RETENTION_JOB_ID,
            max_instances=1,
            coalesce=True,
        )

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    async def run(self) -> dict[str, int]:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(retention_pass=uuid.uuid4().hex[:12])
        try:
            deleted = await retention.prune(self._sessionmaker, self._clock.now(), self._policy)
        except Exception as exc:
            # The next pass tries again; nothing is half-deleted (one transaction a batch).
            if not health.outage(exc):
                log.exception("retention_failed")
            return {}
        (log.info if any(deleted.values()) else log.debug)("retention_pruned", **deleted)
        return deleted
