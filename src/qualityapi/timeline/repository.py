from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.auth.principal import Principal
from qualityapi.db.base import table_of
from qualityapi.timeline.models import TimelineEvent

_INSERT = insert(table_of(TimelineEvent))


def row(
    *,
    subject_type: str,
    subject_id: uuid.UUID,
    type: str,
    at: datetime,
    actor: Principal,
    changes: dict[str, Any] | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """One timeline entry's values, for ``add_many``."""
    return {
        "subject_type": subject_type,
        "subject_id": subject_id,
        "type": type,
        "created_at": at,
        "actor_id": actor.key_id,
        "actor_name": actor.name,
        "changes": changes or {},
        "note": note,
    }


async def add_many(session: AsyncSession, rows: Iterable[dict[str, Any]]) -> int:
    """Writes the entries in the given order (one executemany), so their ids keep it."""
    values = list(rows)
    if values:
        await session.execute(_INSERT, values)
    return len(values)


async def add(
    session: AsyncSession,
    *,
    subject_type: str,
    subject_id: uuid.UUID,
    type: str,
    at: datetime,
    actor: Principal,
    changes: dict[str, Any] | None = None,
    note: str | None = None,
) -> None:
    # A plain INSERT, executed now: cheaper than the ORM's unit of work on the hot path,
    # and the sequence id records the order in which things happened.
    await add_many(
        session,
        [
            row(
                subject_type=subject_type,
                subject_id=subject_id,
                type=type,
                at=at,
                actor=actor,
                changes=changes,
                note=note,
            )
        ],
    )


async def list_for(
    session: AsyncSession,
    *,
    subject_type: str,
    subject_id: uuid.UUID,
    after_id: int | None,
    limit: int,
) -> Sequence[TimelineEvent]:
    """Oldest first (a timeline reads forwards); one extra row tells if more follow."""
    stmt = select(TimelineEvent).where(
        TimelineEvent.subject_type == subject_type, TimelineEvent.subject_id == subject_id
    )
    if after_id is not None:
        stmt = stmt.where(TimelineEvent.id > after_id)
    stmt = stmt.order_by(TimelineEvent.id).limit(limit + 1)
    return (await session.execute(stmt)).scalars().all()
