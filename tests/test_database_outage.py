"""A PostgreSQL outage under load: retryable 503 problems, never a 500; nothing lost or
doubled; the log says "down" once and "back" once, with no traceback per request."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from qualityapi import errors
from qualityapi.auth.models import Role
from qualityapi.clock import FrozenClock
from qualityapi.db import health
from qualityapi.db.migrations import upgrade
from tests.conftest import MIGRATIONS, START, started_api
from tests.helpers import PROBLEM, work_order_body
from tests.support.pgserver import PostgresUnavailable, TemporaryPostgres, find_pg_bin_dir


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __getattr__(self, level: str) -> Any:
        def record(event: str, **_: Any) -> None:
            self.calls.append((level, event))

        return record


@pytest.fixture
def own_postgres() -> Iterator[TemporaryPostgres]:
    # Its own server: stopping the suite's shared one would break the tests beside it.
    try:
        find_pg_bin_dir()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    with TemporaryPostgres() as pg:
        yield pg


async def test_an_outage_is_a_503_and_recovery_needs_nothing(
    own_postgres: TemporaryPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = own_postgres.url
    await asyncio.to_thread(upgrade, url, MIGRATIONS)
    db_log, error_log = Recorder(), Recorder()
    monkeypatch.setattr(health, "log", db_log)
    monkeypatch.setattr(errors, "log", error_log)
    async with started_api(url, FrozenClock(START)) as api:
        headers = api.auth(Role.agent)

        async def create() -> httpx.Response:
            return await api.client.post("/v1/work-orders", json=work_order_body(), headers=headers)

        before = [await create() for _ in range(5)]
        assert all(r.status_code == 201 for r in before)

        await asyncio.to_thread(own_postgres.stop)
        during = await asyncio.gather(
            *(create() for _ in range(15)),
            *(api.client.get("/v1/work-orders", headers=headers) for _ in range(10)),
        )
        for response in during:
            assert response.status_code == 503, response.text
            assert response.headers["content-type"].startswith(PROBLEM)
            assert response.headers["retry-after"] == "2"
            assert response.json()["type"].endswith("/database-unavailable")

        await asyncio.to_thread(own_postgres.resume)
        after = [await create() for _ in range(3)]
        assert [r.status_code for r in after] == [201] * 3
        listed = (
            await api.client.get("/v1/work-orders", params={"limit": 100}, headers=headers)
        ).json()
        # Every create that answered 201 is there once; none that answered 503 is.
        assert sorted(o["id"] for o in listed["items"]) == sorted(
            r.json()["id"] for r in before + after
        )
    assert db_log.calls.count(("warning", "database_unavailable")) == 1
    assert db_log.calls.count(("warning", "database_available")) == 1
    assert not [c for c in error_log.calls if c[0] == "exception"]
