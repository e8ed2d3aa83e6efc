from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from qualityapi.common.schemas import ReadModel, UtcDatetime


class Change(ReadModel):
    old: Any
    new: Any


class TimelineEventRead(ReadModel):
    id: int
    type: str
    created_at: UtcDatetime
    actor_id: uuid.UUID | None
    actor_name: str
    changes: dict[str, Change] = Field(description="Every field the event changed: old → new.")
    note: str | None
