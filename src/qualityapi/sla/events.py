"""The payload of ``sla.*`` events (the scanner writes them; webhooks publish the schema)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field

from qualityapi.common.schemas import UtcDatetime

WARNING = "sla.warning"
BREACHED = "sla.breached"
ESCALATED = "sla.escalated"


class SubjectRef(BaseModel):
    type: str = Field(examples=["work_order"])
    id: uuid.UUID
    number: str | None = Field(default=None, examples=["WO-2026-000123"])


class Notified(BaseModel):
    role: Literal["assignee", "team_supervisor", "team_manager", "staff"]
    staff_id: uuid.UUID | None = Field(description="Null when nobody holds the role.")


class SlaEventData(BaseModel):
    """``data`` of ``sla.warning`` (to yellow), ``sla.breached`` (to red) and
    ``sla.escalated`` (each level of the ladder)."""

    subject: SubjectRef
    target: Literal["response", "arrival", "resolution"]
    due_at: UtcDatetime | None
    warning_level: Literal["yellow", "red"]
    escalation_level: int = Field(ge=0, description="0 for warning and breach; n for level n.")
    notified: list[Notified]
    clock_id: uuid.UUID
