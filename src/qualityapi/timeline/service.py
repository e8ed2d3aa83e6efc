"""A subject's timeline as the API lists it (``GET /{resource}/{id}/events``)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.common.pagination import SeqPageParams
from qualityapi.common.schemas import Page
from qualityapi.timeline import repository
from qualityapi.timeline.schemas import TimelineEventRead


async def page(
    session: AsyncSession, *, subject_type: str, subject_id: uuid.UUID, params: SeqPageParams
) -> Page[TimelineEventRead]:
    """Oldest first, ``params.limit`` at a time."""
    found = await repository.list_for(
        session,
        subject_type=subject_type,
        subject_id=subject_id,
        after_id=params.cursor_id,
        limit=params.limit,
    )
    rows, cursor = params.split(list(found))
    return Page(items=[TimelineEventRead.model_validate(e) for e in rows], next_cursor=cursor)
