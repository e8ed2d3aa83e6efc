"""Start-up data: the bootstrap admin key, a first key on a brand-new database, and the
default calendars and SLA policies (domain.md) on first start."""

from __future__ import annotations

import contextlib
import shutil
import sys
from pathlib import Path

import structlog
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qualityapi.auth import service as keys
from qualityapi.auth.models import Role
from qualityapi.auth.principal import SYSTEM_PRINCIPAL
from qualityapi.clock import Clock
from qualityapi.config import Settings
from qualityapi.sla.policies import seed_defaults

log = structlog.get_logger("qualityapi.bootstrap")


def public_url(host: str, port: int) -> str:
    """Where a person on this machine reaches the service: a wildcard bind address
    (0.0.0.0 in a container) is no address to browse to."""
    if host in ("0.0.0.0", "::", "", "[::]"):  # noqa: S104 (reading a bind address)
        host = "localhost"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def cli_command() -> str:
    """How to run the CLI from here: ``qualityapi`` when it is on PATH (an installed
    package, the container image), else the path of this environment's script relative
    to the working directory (``.venv/bin/qualityapi`` in a checkout)."""
    if shutil.which("qualityapi"):
        return "qualityapi"
    script = Path(sys.prefix) / "bin" / "qualityapi"
    if script.exists():
        with contextlib.suppress(ValueError):
            return str(script.relative_to(Path.cwd()))
        return str(script)
    return f"{Path(sys.executable).name} -m qualityapi"


def first_key_banner(raw_key: str, base_url: str) -> str:
    return "\n".join(
        [
            "",
            "=" * 78,
            " qualityapi: no API key existed, so an admin key was created. It is shown once:",
            "",
            f"   {raw_key}",
            "",
            " Try it:",
            f"   curl -H 'Authorization: Bearer {raw_key}' {base_url}/v1/work-orders",
            "",
            f" More keys: {cli_command()} keys create --name alice --role agent",
            f" Board:     {base_url}/board   (paste the key when it asks)",
            f" API docs:  {base_url}/docs   and {base_url}/redoc",
            "=" * 78,
            "",
        ]
    )


# Any constant: the key of the advisory lock that makes start-up seeding one at a time.
_SEED_LOCK = 0x7161_7069_5345_4544  # "qapiSEED"
_SEED_ATTEMPTS = 3


async def prepare(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock
) -> str | None:
    """Returns the banner to print when a first key was created, else None.

    Several replicas may start at the same instant on an empty database. On PostgreSQL the
    seeding runs under a transaction-level advisory lock, so the second replica waits and
    then finds everything in place; on any database a unique-key collision (a replica
    that won the race without the lock, e.g. on SQLite) rolls back and tries again, when
    the rows are there to be found.
    """
    for attempt in range(1, _SEED_ATTEMPTS + 1):
        try:
            return await _prepare_once(sessionmaker, settings, clock)
        except IntegrityError:
            if attempt == _SEED_ATTEMPTS:
                raise
            log.info("startup_seed_raced", attempt=attempt)
    return None


async def _prepare_once(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock
) -> str | None:
    async with sessionmaker() as session:
        if session.get_bind().dialect.name == "postgresql":
            # Waiting for another replica's seeding is expected here, however long it
            # takes: no QUALITYAPI_LOCK_TIMEOUT_MS for this transaction.
            await session.execute(text("SET LOCAL lock_timeout = 0"))
            await session.execute(select(func.pg_advisory_xact_lock(_SEED_LOCK)))
        banner = None
        if settings.bootstrap_admin_key is not None:
            created = await keys.ensure_bootstrap_key(
                session,
                settings.bootstrap_admin_key.get_secret_value(),
                actor=SYSTEM_PRINCIPAL,
                at=clock.now(),
            )
            if created:
                log.info("bootstrap_admin_key_installed")
        elif not await keys.has_any_key(session):
            created_key = await keys.create_key(
                session, name="first-admin", role=Role.admin, actor=SYSTEM_PRINCIPAL, at=clock.now()
            )
            banner = first_key_banner(created_key.raw, public_url(settings.host, settings.port))
        if await seed_defaults(session, actor=SYSTEM_PRINCIPAL, now=clock.now()):
            log.info("default_sla_policies_created")
        await session.commit()
    return banner
