from __future__ import annotations

import uuid

from pydantic import Field

from qualityapi.auth.models import Role
from qualityapi.common.schemas import InputModel, ReadModel, UtcDatetime


class ApiKeyCreate(InputModel):
    name: str = Field(min_length=1, max_length=100)
    role: Role


class ApiKeyRead(ReadModel):
    id: uuid.UUID
    name: str
    role: Role
    prefix: str = Field(description="First characters of the key, to tell keys apart.")
    created_at: UtcDatetime
    created_by: str | None
    revoked_at: UtcDatetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The API key. Shown once: store it now, it cannot be read again.")
