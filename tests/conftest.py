"""Test harness: every API test runs against SQLite and a real PostgreSQL server.

The PostgreSQL server is started here (initdb/pg_ctl, as the ``postgres`` user when the
suite runs as root) once per session and removed afterwards. Without PostgreSQL binaries
the PostgreSQL half is skipped loudly, except in CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from qualityapi.auth import service as keys_service
from qualityapi.auth.models import Role
from qualityapi.auth.principal import SYSTEM_PRINCIPAL
from qualityapi.clock import Clock, FrozenClock
from qualityapi.config import Settings
from qualityapi.db.engine import make_engine
from qualityapi.db.migrations import upgrade
from qualityapi.db.models import Base
from qualityapi.main import create_app
from tests.support.pgserver import PostgresUnavailable, TemporaryPostgres, find_pg_bin_dir

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "migrations"
ADMIN_KEY = "qak_test_admin_key_0123456789abcdef"
START = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Asia/Shanghai
BACKENDS = ["sqlite", "postgresql"]


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


_PG_MISSING: list[str] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    try:
        find_pg_bin_dir()
    except PostgresUnavailable as exc:
        message = (
            f"PostgreSQL binaries not found: the PostgreSQL half of the suite cannot run. {exc}"
        )
        if _in_ci():
            pytest.exit(f"FAIL (CI=true): {message}", returncode=3)
        _PG_MISSING.append(message)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for message in _PG_MISSING:
        terminalreporter.section("POSTGRESQL NOT TESTED", sep="!", red=True, bold=True)
        terminalreporter.write_line(message, red=True, bold=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[TemporaryPostgres]:
    if _PG_MISSING:
        pytest.skip(_PG_MISSING[0])
    server = TemporaryPostgres().start()
    try:
        yield server
    finally:
        server.close()


def _migrated(url: str) -> str:
    # In a thread: Alembic's env runs its own event loop, and an async test may be the
    # first to ask for a session fixture, with the suite's loop already running.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(upgrade, url, MIGRATIONS).result()
    return url


# One unparametrized fixture per backend, so each is migrated once per process: pytest
# keeps a single instance of a parametrized session fixture, and under xdist's
# --dist loadfile a worker runs each file's SQLite and PostgreSQL tests together.
@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _migrated(f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'qualityapi.db'}")


@pytest.fixture(scope="session")
def migrated_postgresql(postgres: TemporaryPostgres) -> str:
    return _migrated(postgres.url)


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"migrated_{request.param}")
    return url


def backend_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


async def _clean(url: str) -> None:
    """Empty every table but the migrations' own rows, so each test starts from zero."""
    engine = make_engine(url)
    keep = {"alembic_version", "checklist_templates"}
    names = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name not in keep]
    statements = [f"DELETE FROM {name}" for name in names]
    statements.append("DELETE FROM checklist_templates WHERE created_by <> 'migration'")
    async with engine.begin() as conn:
        if backend_of(url) == "postgresql":
            # DELETE, not TRUNCATE: on tables this small it is 5x faster (TRUNCATE makes
            # new files for every table), and the suite pays it before every test. The
            # sequences (identities, work-order numbers per year) start again too.
            sequences = await conn.execute(text("SELECT relname FROM pg_class WHERE relkind = 'S'"))
            statements += [f'ALTER SEQUENCE "{name}" RESTART' for (name,) in sequences]
            # One round trip: asyncpg runs a script of several statements unprepared.
            raw = await conn.get_raw_connection()
            await raw.driver_connection.execute(";".join(statements))  # type: ignore[union-attr]
        else:
            for statement in statements:
                await conn.execute(text(statement))
    await engine.dispose()


def make_settings(url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": url,
        "bootstrap_admin_key": ADMIN_KEY,
        "scheduler_enabled": False,
        "log_level": "warning",
        "migrations_dir": MIGRATIONS,
        # Route-walking tests send hundreds of wrong keys from one address: the failed-auth
        # throttle is tested on its own (tests/test_ops_security.py sets its values).
        "auth_failure_limit": 10_000,
        "auth_failure_max_delay_seconds": 0.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class Api:
    """A running app (lifespan entered) with an HTTP client and a key per role."""

    app: FastAPI
    client: httpx.AsyncClient
    clock: Any
    keys: dict[Role, str]
    database_url: str

    def auth(self, role: Role = Role.admin) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    @property
    def backend(self) -> str:
        return backend_of(self.database_url)


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    async with started_api(database_url, FrozenClock(START)) as running:
        yield running


@asynccontextmanager
async def started_api(database_url: str, clock: Clock, **settings: object) -> AsyncIterator[Api]:
    """A clean database and the app on it, lifespan entered (``settings`` override)."""
    await _clean(database_url)
    app = create_app(make_settings(database_url, **settings), clock=clock)
    async with app.router.lifespan_context(app):
        keys = {Role.admin: ADMIN_KEY}
        async with app.state.sessionmaker() as session:
            for role in (Role.viewer, Role.agent, Role.supervisor):
                created = await keys_service.create_key(
                    session,
                    name=f"test-{role.value}",
                    role=role,
                    actor=SYSTEM_PRINCIPAL,
                    at=clock.now(),
                )
                keys[role] = created.raw
            await session.commit()
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(app=app, client=client, clock=clock, keys=keys, database_url=database_url)
