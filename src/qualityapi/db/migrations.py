"""Alembic from code: the CLI, start-up and /readyz share one way of reaching the scripts."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


def alembic_config(database_url: str, migrations_dir: Path) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, migrations_dir: Path, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url, migrations_dir), revision)


def downgrade(database_url: str, migrations_dir: Path, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url, migrations_dir), revision)


@cache  # the scripts do not change while the process runs; reading them takes ~40 ms
def head_revision(migrations_dir: Path) -> str | None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://", migrations_dir))
    return script.get_current_head()


async def current_revision(conn: AsyncConnection) -> str | None:
    result = await conn.execute(text("SELECT version_num FROM alembic_version"))
    row = result.first()
    return str(row[0]) if row else None
