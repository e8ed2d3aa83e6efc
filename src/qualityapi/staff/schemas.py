from __future__ import annotations

import uuid

from pydantic import EmailStr, Field

from qualityapi.common.schemas import InputModel, ReadModel, ShortText, UtcDatetime

Phone = Field(default=None, max_length=50)


class TeamCreate(InputModel):
    name: ShortText
    description: str | None = Field(default=None, max_length=2000)
    supervisor_id: uuid.UUID | None = None
    manager_id: uuid.UUID | None = None


class TeamUpdate(InputModel):
    name: ShortText | None = None
    description: str | None = Field(default=None, max_length=2000)
    supervisor_id: uuid.UUID | None = None
    manager_id: uuid.UUID | None = None


class TeamRead(ReadModel):
    id: uuid.UUID
    name: str
    description: str | None
    supervisor_id: uuid.UUID | None
    manager_id: uuid.UUID | None
    version: int
    created_at: UtcDatetime
    updated_at: UtcDatetime


class StaffCreate(InputModel):
    name: ShortText
    email: EmailStr | None = None
    phone: str | None = Phone
    title: str | None = Field(default=None, max_length=200)
    team_id: uuid.UUID | None = None
    active: bool = True


class StaffUpdate(InputModel):
    name: ShortText | None = None
    email: EmailStr | None = None
    phone: str | None = Phone
    title: str | None = Field(default=None, max_length=200)
    team_id: uuid.UUID | None = None
    active: bool | None = None


class StaffRead(ReadModel):
    id: uuid.UUID
    name: str
    email: str | None
    phone: str | None
    title: str | None
    team_id: uuid.UUID | None
    active: bool
    version: int
    created_at: UtcDatetime
    updated_at: UtcDatetime
