"""Replicas starting at the same instant on an empty PostgreSQL database all come up."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

from sqlalchemy import func, select

from qualityapi.auth.models import ApiKey
from qualityapi.bootstrap import prepare
from qualityapi.clock import FrozenClock
from qualityapi.db.engine import make_engine
from qualityapi.db.migrations import current_revision, head_revision, upgrade
from qualityapi.db.session import make_sessionmaker
from qualityapi.main import create_app
from qualityapi.sla.models import Calendar, SlaPolicy
from tests.conftest import MIGRATIONS, START, make_settings
from tests.support.pgserver import TemporaryPostgres


async def test_replicas_seeding_an_empty_database_at_once(postgres: TemporaryPostgres) -> None:
    for _ in range(4):  # the race was lost in 4 of 7 tries before the seeding was locked
        url = postgres.create_database(f"race_{uuid.uuid4().hex[:10]}")
        await asyncio.to_thread(upgrade, url, MIGRATIONS)
        settings = make_settings(url)
        create_app(settings)  # registers the subject kinds, as each replica does
        engines = [make_engine(url) for _ in range(3)]
        try:
            banners = await asyncio.gather(
                *(prepare(make_sessionmaker(e), settings, FrozenClock(START)) for e in engines)
            )
            assert banners == [None, None, None]  # the bootstrap key was given
            async with make_sessionmaker(engines[0])() as session:
                keys = await session.scalar(select(func.count()).select_from(ApiKey))
                calendars = await session.scalar(select(func.count()).select_from(Calendar))
                names = (await session.execute(select(SlaPolicy.name))).scalars().all()
            assert keys == 1
            assert calendars == 2
            assert len(names) == len(set(names))
        finally:
            for engine in engines:
                await engine.dispose()


async def test_replicas_migrating_an_empty_database_at_once(postgres: TemporaryPostgres) -> None:
    # `qualityapi serve` migrates before serving, so replicas started together all run the
    # migrations: without a lock, the second's CREATE TABLE fails on the first's catalog
    # rows. Real processes, as a deployment starts them.
    for _ in range(3):  # without the lock, 2 of 3 tries failed here
        url = postgres.create_database(f"mrace_{uuid.uuid4().hex[:10]}")
        env = {**os.environ, "QUALITYAPI_DATABASE_URL": url}
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "qualityapi",
                "migrate",
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            for _ in range(3)
        ]
        outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 120)
        for proc, (out, _) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, out.decode(errors="replace")[-3000:]
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                assert await current_revision(conn) == head_revision(MIGRATIONS)
        finally:
            await engine.dispose()
