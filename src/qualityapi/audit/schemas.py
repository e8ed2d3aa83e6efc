from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from qualityapi.common.schemas import ReadModel, UtcDatetime


class AuditEventRead(ReadModel):
    id: int
    created_at: UtcDatetime
    actor_id: uuid.UUID | None
    actor_name: str
    action: str = Field(
        description="`<resource_type>.<what happened>`, past tense: `team.created`, "
        "`api_key.revoked`, `webhook_endpoint.secret_rotated`.",
        examples=["sla_policy.updated"],
    )
    resource_type: str
    resource_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
