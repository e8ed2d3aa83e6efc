"""All SQL that writes events. Rows are plain INSERTs: events are on every hot path."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.common.jsonable import jsonable
from qualityapi.db.base import table_of
from qualityapi.events import reactions, signals
from qualityapi.events.models import OutboxMessage

_INSERT = insert(table_of(OutboxMessage))


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def row(*, type: str, subject_key: str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    """One outbox row's values; ``data`` must already be JSON-ready (see ``jsonable``)."""
    return {
        "message_id": new_message_id(),
        "type": type,
        "subject_key": subject_key,
        "payload": {"type": type, "timestamp": jsonable(at), "data": data},
        "created_at": at,
    }


async def emit_many(session: AsyncSession, rows: Iterable[dict[str, Any]]) -> int:
    """Writes the rows (one executemany) and wakes the dispatcher after the commit."""
    values = list(rows)
    if not values:
        return 0
    await session.execute(_INSERT, values)
    signals.MESSAGE_WRITTEN.after_commit(session)
    # Other domains' reactions run in this same transaction (events.reactions).
    await reactions.react(session, values)
    return len(values)
