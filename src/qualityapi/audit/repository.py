from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.audit.models import AuditEvent
from qualityapi.common.pagination import PageParams, paginate_newest_first


def record(
    session: AsyncSession,
    *,
    at: datetime,
    actor_id: uuid.UUID | None,
    actor_name: str,
    action: str,
    resource_type: str,
    resource_id: object,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    session.add(
        AuditEvent(
            created_at=at,
            actor_id=actor_id,
            actor_name=actor_name,
            action=action,
            resource_type=resource_type,
            resource_id=str(resource_id),
            before=before,
            after=after,
        )
    )


async def list_page(
    session: AsyncSession,
    params: PageParams,
    *,
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
    stmt = paginate_newest_first(stmt, params, AuditEvent.created_at, AuditEvent.id)
    return (await session.execute(stmt)).scalars().all()
