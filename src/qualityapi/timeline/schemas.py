from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from qualityapi.common.schemas import ReadModel, UtcDatetime


class Change(ReadModel):
    old: Any
    new: Any
    # Left out when there is nothing to add (most fields), not sent as null.
    old_label: str | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="What `old` means to a person: a staff member's or team's name, a "
        "stage or level in words (`escalation level 1`); absent when nothing to add.",
    )
    new_label: str | None = Field(
        default=None, exclude_if=lambda v: v is None, description="The same for `new`."
    )


class TimelineEventRead(ReadModel):
    id: int
    type: str
    created_at: UtcDatetime
    actor_id: uuid.UUID | None
    actor_name: str
    changes: dict[str, Change] = Field(description="Every field the event changed: old → new.")
    note: str | None
