from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.auth.models import ApiKey
from qualityapi.common.pagination import KeyPageParams, paginate_by_key


async def get_active_by_hash(session: AsyncSession, key_hash: str) -> ApiKey | None:
    stmt = select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    return (await session.execute(stmt)).scalar_one_or_none()


async def get(session: AsyncSession, key_id: uuid.UUID) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


KEY_ORDER = ((ApiKey.created_at, False), (ApiKey.id, False))


async def list_all(
    session: AsyncSession, *, include_revoked: bool, page: KeyPageParams | None = None
) -> Sequence[ApiKey]:
    stmt = select(ApiKey)
    if page is None:
        stmt = stmt.order_by(ApiKey.created_at, ApiKey.id)
    else:
        stmt = paginate_by_key(stmt, page, KEY_ORDER)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return (await session.execute(stmt)).scalars().all()


async def count_all(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(ApiKey)) or 0)


async def revoke_named_except(
    session: AsyncSession, *, name: str, keep_hash: str, at: datetime
) -> None:
    await session.execute(
        update(ApiKey)
        .where(ApiKey.name == name, ApiKey.key_hash != keep_hash, ApiKey.revoked_at.is_(None))
        .values(revoked_at=at)
    )
