"""What the scanner needs from each kind of subject, so the engine stays subject-agnostic.

Work orders register today; complaints and survey callbacks add an entry when they land.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.sla import work_orders

Describe = Callable[[AsyncSession, uuid.UUID], Awaitable[dict[str, Any] | None]]
SyncLevel = Callable[[AsyncSession, uuid.UUID, datetime], Awaitable[None]]


@dataclass(frozen=True)
class SubjectKind:
    # {"subject": {"type", "id", "number"}, "people": {role: staff id}} for SLA events.
    describe: Describe
    # Re-derive the subject's warning level and SLA summary from its clocks, safely
    # against concurrent scanners and requests.
    sync_level: SyncLevel


KINDS: dict[str, SubjectKind] = {
    work_orders.SUBJECT.value: SubjectKind(
        describe=work_orders.describe, sync_level=work_orders.sync_level_locked
    ),
}
