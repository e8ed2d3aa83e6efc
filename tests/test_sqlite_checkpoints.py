"""SQLite's WAL checkpoints run on a worker thread, never in a request's commit
(``db/sqlite_checkpoint.py``): a checkpoint in the inline connection's commit stalled
the event loop for 4-6 ms every ~40 creates."""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from qualityapi.clock import FrozenClock
from qualityapi.db.migrations import upgrade
from qualityapi.db.sqlite_checkpoint import FALLBACK_PAGES, Checkpointer
from tests.conftest import MIGRATIONS, START, Api, started_api
from tests.helpers import create_work_order

# SQLite's default threshold: a commit that finds the log past it checkpoints inline.
SQLITE_DEFAULT_AUTOCHECKPOINT = 1000


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}"
    # In a thread: Alembic's env runs an event loop of its own.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(upgrade, url, MIGRATIONS).result()
    return url


async def _create(api: Api, n: int) -> None:
    for i in range(n):
        await create_work_order(api, title=f"checkpoint {i}")


async def test_commits_leave_the_checkpoints_to_the_background(sqlite_url: str) -> None:
    # The background checkpointer does not come round in this test: the test runs it.
    async with started_api(
        sqlite_url, FrozenClock(START), sqlite_checkpoint_interval_seconds=60
    ) as api:
        async with api.app.state.engine.connect() as conn:
            threshold = (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one()
        assert threshold == FALLBACK_PAGES
        checkpointer = api.app.state.checkpointer
        assert checkpointer is not None
        await checkpointer.checkpoint()
        await _create(api, 80)
        found = await checkpointer.checkpoint()
        # The log grew past SQLite's own threshold: no commit checkpointed (one that did
        # would have restarted the log) and the worker copied every frame back.
        assert found.log_frames > SQLITE_DEFAULT_AUTOCHECKPOINT
        assert not found.busy
        assert found.checkpointed_frames == found.log_frames


async def test_the_checkpointer_keeps_up_by_itself(sqlite_url: str) -> None:
    async with started_api(
        sqlite_url, FrozenClock(START), sqlite_checkpoint_interval_seconds=0.05
    ) as api:
        checkpointer = api.app.state.checkpointer
        await _create(api, 20)
        # Waits for the job's next pass (the clock is frozen; this is the worker's own
        # timer), then finds everything written so far copied back.
        for _ in range(400):
            last = checkpointer.last
            if last is not None and 0 < last.log_frames == last.checkpointed_frames:
                break
            await asyncio.sleep(0.025)
        else:
            raise AssertionError(f"no complete checkpoint: {checkpointer.last}")


async def test_an_api_on_postgresql_has_no_checkpointer(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL has no WAL file for the service to checkpoint")
    async with started_api(database_url, FrozenClock(START)) as api:
        assert api.app.state.checkpointer is None


async def test_stopping_waits_for_a_checkpoint_under_way(tmp_path: Path) -> None:
    # A stop while a checkpoint runs on its thread closed the connection under it: the
    # suite's process died of a segmentation fault. Both orders, many times over.
    path = tmp_path / "race.db"
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (x TEXT)")
    for round_ in range(40):
        setup.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 200)
        setup.commit()
        checkpointer = Checkpointer(str(path), interval=60)
        await checkpointer.checkpoint()  # the connection exists
        setup.executemany("INSERT INTO t VALUES (?)", [("y" * 500,)] * 4000)
        setup.commit()
        running = asyncio.ensure_future(checkpointer.checkpoint())
        if round_ % 2:
            await asyncio.sleep(0)
        await checkpointer.stop()
        try:
            found = await running
        except sqlite3.ProgrammingError:
            continue  # it came after the stop: refused, no connection opened again
        assert found.checkpointed_frames == found.log_frames
    setup.close()
