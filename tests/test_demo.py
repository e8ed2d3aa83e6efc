"""``qualityapi demo``: the sample loads through the API on both databases, leaves items at
every level with a history of met and breached clocks, and a second run adds only
today's items."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlalchemy import func, select

from qualityapi.clock import FrozenClock
from qualityapi.db.engine import make_engine
from qualityapi.db.session import make_sessionmaker
from qualityapi.demo import load, report
from qualityapi.main import create_app
from qualityapi.sla.models import SlaClock
from qualityapi.work_orders.models import WorkOrder
from tests.conftest import START, make_settings, started_api


async def _count(url: str, *where: object) -> int:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            stmt = select(func.count()).select_from(SlaClock).where(*where)  # type: ignore[arg-type]
            return int(await session.scalar(stmt) or 0)
    finally:
        await engine.dispose()


async def _orders(url: str, *where: object) -> int:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            stmt = select(func.count()).select_from(WorkOrder).where(*where)  # type: ignore[arg-type]
            return int(await session.scalar(stmt) or 0)
    finally:
        await engine.dispose()


async def test_demo_loads_every_level_and_runs_twice(database_url: str) -> None:
    async with started_api(database_url, FrozenClock(START)):
        pass  # a clean database with the defaults, as after a first `make run`
    settings = make_settings(database_url)
    said: list[str] = []
    first = await load(
        settings, base_url="http://127.0.0.1:8000", now=START, seed=3, days=3, say=said.append
    )
    assert first.history_loaded
    assert first.board["red"] > 0 and first.board["yellow"] > 0 and first.board["blue"] > 0
    assert len(first.watch) == 5
    assert first.surveys > 0 and first.complaints > 0
    text = report(first)
    assert "http://127.0.0.1:8000/board" in text and first.key in text
    assert "/docs" in text and "/redoc" in text
    # The report line works as printed, on a month the history filled.
    path = re.search(r"'http://127\.0\.0\.1:8000(/v1/reports/monthly\?month=[\d-]+)'", text)
    assert path is not None, text
    app = create_app(settings, clock=FrozenClock(START))  # on the demo's data, as served
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
            got = await client.get(path.group(1), headers={"Authorization": f"Bearer {first.key}"})
    assert got.status_code == 200, got.text
    assert got.json()["volumes"]["work_orders"] > 0
    # The history was played on its own clock: deadlines met and missed, callbacks made.
    assert await _count(database_url, SlaClock.met_at.is_not(None)) > 20
    assert await _count(database_url, SlaClock.breached_at.is_not(None)) > 0
    # Every order's milestones in the order they happen (the slowest-steps figures of the
    # demo's own month depend on it).
    assert await _orders(database_url, WorkOrder.responded_at > WorkOrder.resolved_at) == 0
    assert await _orders(database_url, WorkOrder.updated_at < WorkOrder.created_at) == 0
    assert await _orders(database_url, WorkOrder.resolved_at.is_not(None)) > 10

    again = await load(
        settings,
        base_url="http://127.0.0.1:8000",
        now=START + timedelta(minutes=10),
        seed=4,
        days=3,
        say=said.append,
    )
    assert not again.history_loaded
    assert any("already" in line for line in said)
    assert first.work_orders > again.work_orders > 0
