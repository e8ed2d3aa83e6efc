"""Migrations are the only source of the schema: they round-trip and match the models."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from qualityapi.db.engine import make_engine
from qualityapi.db.migrations import downgrade, upgrade
from qualityapi.db.models import Base
from tests.conftest import MIGRATIONS


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def test_upgrade_downgrade_upgrade_and_models_match(database_url: str) -> None:
    import asyncio

    # The session fixture already upgraded; go all the way down and up again.
    downgrade(database_url, MIGRATIONS, "base")
    upgrade(database_url, MIGRATIONS, "head")

    async def check() -> list[Any]:
        engine = make_engine(database_url)
        async with engine.connect() as conn:
            diff = await conn.run_sync(_diff)
        await engine.dispose()
        return diff

    assert asyncio.run(check()) == []
