"""The scanner job keeps running by itself: it must never stop after a pass."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from qualityapi.clock import FrozenClock
from qualityapi.common.signals import commit
from qualityapi.db.base import table_of
from qualityapi.main import create_app
from qualityapi.scheduler.exclusive import SchedulerAlreadyRunning
from qualityapi.scheduler.jobs import JOB_ID, LOCKED_BACKOFF, SlaScanJob
from qualityapi.sla.models import SlaClock, SlaTransition
from qualityapi.sla.signals import CLOCK_CHANGED
from tests.conftest import START, make_settings, started_api
from tests.helpers import create_work_order


async def test_scanner_job_keeps_scanning_without_being_woken(database_url: str) -> None:
    clock = FrozenClock(START)  # far in the past: every run the job schedules is due at once
    async with started_api(
        database_url, clock, scheduler_enabled=True, sla_safety_interval_seconds=0.1
    ) as api:
        wo_id = (await create_work_order(api, priority="urgent"))["id"]
        # Nothing wakes the job now: only its own rescheduling can find the breach.
        await asyncio.sleep(0.5)
        clock.advance(timedelta(hours=2))
        level = None
        for _ in range(50):
            await asyncio.sleep(0.1)
            got = await api.client.get(f"/v1/work-orders/{wo_id}", headers=api.auth())
            level = got.json()["warning_level"]
            if level == "red":
                break
        assert level == "red"


async def test_scanner_job_wakes_when_the_earliest_clock_falls_due(database_url: str) -> None:
    # The safety interval is a day away: only the run set for the earliest next check can
    # apply the warning in time. Asserted on the injected clock, never on real time.
    clock = FrozenClock(START)
    async with started_api(database_url, clock) as api:
        wo_id = uuid.UUID((await create_work_order(api, priority="urgent"))["id"])
        job = SlaScanJob(api.app.state.sessionmaker, clock, safety_interval=86400, batch=10)
        job._scheduler.start(paused=True)
        try:
            await job.run()
            scheduled = job._scheduler.get_job(JOB_ID)
            assert scheduled is not None
            # urgent: respond within 1 h, yellow at 80 % = 48 min after the report.
            assert scheduled.next_run_time == START + timedelta(minutes=48)

            # A clock change committed in this process wakes the job at once.
            due = START + timedelta(minutes=5)
            clocks = table_of(SlaClock)
            async with api.app.state.sessionmaker() as session:
                await session.execute(
                    update(clocks)
                    .where(clocks.c.subject_id == wo_id, clocks.c.target == "response")
                    .values(warn_at=due, next_check_at=due)
                )
                await commit(session)
            CLOCK_CHANGED.subscribe(job.wake)
            CLOCK_CHANGED.notify()
            woken = job._scheduler.get_job(JOB_ID)
            assert woken is not None and woken.next_run_time == clock.now()
            await job.run()
            rescheduled = job._scheduler.get_job(JOB_ID)
            assert rescheduled is not None and rescheduled.next_run_time == due

            clock.advance(timedelta(minutes=5))
            await job.run()
            async with api.app.state.sessionmaker() as session:
                warned_at = await session.scalar(select(SlaTransition.occurred_at))
            # occurred_at is the ``now`` of the pass that applied it: the due instant.
            assert warned_at == due
        finally:
            job.shutdown()


async def test_a_create_does_not_wake_the_scanner_before_its_clocks_need_a_look(
    database_url: str,
) -> None:
    # Issue 12: every create used to wake a scanner pass. A new order's first check (its
    # yellow) lies ahead; the scanner is woken for it only if that is sooner than the pass
    # already scheduled, and then for that instant, not at once.
    clock = FrozenClock(START)
    async with started_api(database_url, clock) as api:
        job = SlaScanJob(api.app.state.sessionmaker, clock, safety_interval=86400, batch=10)
        job._scheduler.start(paused=True)
        CLOCK_CHANGED.subscribe(job.wake)
        try:
            await job.run()  # nothing open: the next pass is the safety interval away
            scheduled = job._scheduler.get_job(JOB_ID)
            assert scheduled is not None and scheduled.next_run_time == START + timedelta(days=1)

            await create_work_order(api, priority="urgent")  # yellow after 48 min
            woken = job._scheduler.get_job(JOB_ID)
            assert woken is not None and woken.next_run_time == START + timedelta(minutes=48)

            await create_work_order(api, priority="normal")  # its first check is later
            kept = job._scheduler.get_job(JOB_ID)
            assert kept is not None and kept.next_run_time == START + timedelta(minutes=48)

            CLOCK_CHANGED.notify()  # a change of unknown timing: at once
            now = job._scheduler.get_job(JOB_ID)
            assert now is not None and now.next_run_time == clock.now()
        finally:
            CLOCK_CHANGED.unsubscribe(job.wake)
            job.shutdown()


async def test_a_change_during_a_pass_brings_its_successor_forward(database_url: str) -> None:
    clock = FrozenClock(START)
    async with started_api(database_url, clock) as api:
        job = SlaScanJob(api.app.state.sessionmaker, clock, safety_interval=86400, batch=10)
        job._scheduler.start(paused=True)
        try:
            job._running = True  # as if a pass had read the clocks before this change
            job.wake(START + timedelta(minutes=10))
            job._running = False
            await job.run()
            scheduled = job._scheduler.get_job(JOB_ID)
            assert scheduled is not None and scheduled.next_run_time == START + timedelta(
                minutes=10
            )
        finally:
            job.shutdown()


async def test_clocks_locked_by_another_replica_are_retried_shortly_not_spun_on(
    database_url: str,
) -> None:
    """PostgreSQL: another replica's pass holds the due clocks (SKIP LOCKED hides them).
    The job must look again after a short backoff, not reschedule itself at once."""
    if not database_url.startswith("postgresql"):
        pytest.skip("one writer on SQLite: no other replica can hold a clock")
    clock = FrozenClock(START)
    async with started_api(database_url, clock) as api:
        await create_work_order(api, priority="urgent")
        clock.advance(timedelta(hours=2))
        sessionmaker = api.app.state.sessionmaker
        job = SlaScanJob(sessionmaker, clock, safety_interval=60, batch=10)
        job._scheduler.start(paused=True)
        try:
            async with sessionmaker() as other_replica:
                await other_replica.execute(select(SlaClock.id).with_for_update())
                await job.run()
                scheduled = job._scheduler.get_job(JOB_ID)
                assert scheduled is not None
                assert scheduled.next_run_time == clock.now() + LOCKED_BACKOFF
                await other_replica.rollback()
            await job.run()  # the lock is gone: the breach is applied
            async with sessionmaker() as session:
                stages = (await session.execute(select(SlaTransition.stage))).scalars().all()
            assert 2 in stages
        finally:
            job.shutdown()


async def test_a_second_scheduler_on_one_sqlite_file_is_refused(database_url: str) -> None:
    """Two processes sending from one SQLite file sent 21 % of messages twice."""
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL shares the work between replicas (SKIP LOCKED)")
    async with started_api(database_url, FrozenClock(START), scheduler_enabled=True):
        second = create_app(make_settings(database_url, scheduler_enabled=True))
        with pytest.raises(SchedulerAlreadyRunning, match="use PostgreSQL"):
            async with second.router.lifespan_context(second):
                pass
        api_only = create_app(make_settings(database_url, scheduler_enabled=False))
        async with api_only.router.lifespan_context(api_only):
            pass
    # Once the first stopped, the lock is free again.
    third = create_app(make_settings(database_url, scheduler_enabled=True))
    async with third.router.lifespan_context(third):
        pass


async def test_stop_lets_a_pass_in_progress_finish(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pass cancelled when the loop closed logged a plain-text CancelledError traceback
    # at every SIGTERM that caught one mid-way.
    from qualityapi.scheduler import jobs
    from qualityapi.sla.scanner import ScanResult

    finished: list[bool] = []
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow_scan(*_args: object, **_kwargs: object) -> ScanResult:
        entered.set()
        await release.wait()  # stands for a pass's statements, still running at stop()
        finished.append(True)
        return ScanResult(claimed=0, transitions=0, failed=0)

    clock = FrozenClock(START)
    async with started_api(database_url, clock) as api:
        monkeypatch.setattr(jobs, "scan_once", slow_scan)
        job = SlaScanJob(api.app.state.sessionmaker, clock, safety_interval=86400, batch=10)
        job._scheduler.start(paused=True)
        task = asyncio.create_task(job.run())
        await entered.wait()
        stopping = asyncio.create_task(job.stop(grace=10))
        await asyncio.sleep(0)  # stop() is now waiting for the pass
        assert not stopping.done()
        release.set()
        await stopping
        assert finished == [True]
        assert task.done() and not task.cancelled()
