"""What the scanner needs from each kind of subject, so the engine stays subject-agnostic.

Work orders register today; complaints and survey callbacks add an entry when they land.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.sla import work_orders

DescribeMany = Callable[
    [AsyncSession, Iterable[uuid.UUID]], Awaitable[dict[uuid.UUID, dict[str, Any]]]
]
SyncLevels = Callable[[AsyncSession, Iterable[uuid.UUID], datetime], Awaitable[None]]


@dataclass(frozen=True)
class SubjectKind:
    # Per subject id: {"subject": {"type", "id", "number"}, "people": {role: staff id}}
    # for SLA events, loaded in one go for a whole scanner pass; missing subjects are
    # left out.
    describe_many: DescribeMany
    # Re-derive the subjects' warning levels and SLA summaries from their clocks, safely
    # against concurrent scanners and requests (rows locked in id order).
    sync_levels: SyncLevels


KINDS: dict[str, SubjectKind] = {
    work_orders.SUBJECT.value: SubjectKind(
        describe_many=work_orders.describe_many, sync_levels=work_orders.sync_levels_locked
    ),
}
