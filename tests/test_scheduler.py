"""The scanner job keeps running by itself: it must never stop after a pass."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from qualityapi.clock import FrozenClock
from qualityapi.main import create_app
from tests.conftest import ADMIN_KEY, START, _clean, make_settings


async def test_scanner_job_keeps_scanning_without_being_woken(database_url: str) -> None:
    await _clean(database_url)
    clock = FrozenClock(START)  # far in the past: every run the job schedules is due at once
    settings = make_settings(database_url, scheduler_enabled=True, sla_safety_interval_seconds=0.1)
    app = create_app(settings, clock=clock)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=headers
        ) as c:
            created = await c.post(
                "/v1/work-orders",
                json={"title": "Lift", "priority": "urgent", "customer": {"name": "Q"}},
            )
            assert created.status_code == 201
            wo_id = created.json()["id"]
            # Nothing wakes the job now: only its own rescheduling can find the breach.
            await asyncio.sleep(0.5)
            clock.advance(timedelta(hours=2))
            level = None
            for _ in range(50):
                await asyncio.sleep(0.1)
                level = (await c.get(f"/v1/work-orders/{wo_id}")).json()["warning_level"]
                if level == "red":
                    break
            assert level == "red"
