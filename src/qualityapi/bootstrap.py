"""Start-up data: the bootstrap admin key, a first key on a brand-new database, and the
default calendars and SLA policies (domain.md) on first start."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qualityapi.auth import service as keys
from qualityapi.auth.models import Role
from qualityapi.auth.principal import SYSTEM_PRINCIPAL
from qualityapi.clock import Clock
from qualityapi.config import Settings
from qualityapi.sla.policies import seed_defaults

log = structlog.get_logger("qualityapi.bootstrap")


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
            " More keys: .venv/bin/qualityapi keys create --name alice --role agent",
            f" Board:     {base_url}/board   (paste the key when it asks)",
            f" API docs:  {base_url}/docs   and {base_url}/redoc",
            "=" * 78,
            "",
        ]
    )


async def prepare(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock
) -> str | None:
    """Returns the banner to print when a first key was created, else None."""
    async with sessionmaker() as session:
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
            banner = first_key_banner(created_key.raw, f"http://{settings.host}:{settings.port}")
        if await seed_defaults(session, actor=SYSTEM_PRINCIPAL, now=clock.now()):
            log.info("default_sla_policies_created")
        await session.commit()
    return banner
