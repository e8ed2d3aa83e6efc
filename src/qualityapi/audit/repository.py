from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.audit.models import AuditEvent
from qualityapi.auth.principal import Principal


def record(
    session: AsyncSession,
    *,
    at: datetime,
    actor: Principal,
    action: str,
    resource_type: str,
    resource_id: object,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    session.add(
        AuditEvent(
            created_at=at,
            actor_id=actor.key_id,
            actor_name=actor.name,
            action=action,
            resource_type=resource_type,
            resource_id=str(resource_id),
            before=before,
            after=after,
        )
    )


async def list_page(
    session: AsyncSession,
    *,
    before_id: int | None,
    limit: int,
    resource_type: str | None,
    resource_id: str | None,
    since: datetime | None,
) -> Sequence[AuditEvent]:
    stmt = select(AuditEvent)
    if resource_type:
        stmt = stmt.where(AuditEvent.resource_type == resource_type)
    if resource_id:
        stmt = stmt.where(AuditEvent.resource_id == resource_id)
    if since:
        stmt = stmt.where(AuditEvent.created_at >= since)
    if before_id is not None:
        stmt = stmt.where(AuditEvent.id < before_id)
    stmt = stmt.order_by(AuditEvent.id.desc()).limit(limit + 1)
    return (await session.execute(stmt)).scalars().all()
