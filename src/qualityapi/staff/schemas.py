from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, EmailStr, Field, model_validator

from qualityapi.common.schemas import (
    Id,
    InputModel,
    NotNull,
    ReadModel,
    ShortText,
    StrictBool,
    UtcDatetime,
)
from qualityapi.staff.models import ErrorSource

Phone = Field(default=None, max_length=50)


class TeamCreate(InputModel):
    name: ShortText
    description: str | None = Field(default=None, max_length=2000)
    supervisor_id: Id | None = None
    manager_id: Id | None = None


class TeamUpdate(InputModel):
    name: Annotated[ShortText | None, NotNull] = None
    description: str | None = Field(default=None, max_length=2000)
    supervisor_id: Id | None = None
    manager_id: Id | None = None


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
    team_id: Id | None = None
    active: StrictBool = True


class StaffUpdate(InputModel):
    name: Annotated[ShortText | None, NotNull] = None
    email: EmailStr | None = None
    phone: str | None = Phone
    title: str | None = Field(default=None, max_length=200)
    team_id: Id | None = None
    active: Annotated[StrictBool | None, NotNull] = None


class StaffRead(ReadModel):
    id: uuid.UUID
    name: str
    email: str | None
    phone: str | None
    title: str | None
    team_id: uuid.UUID | None
    active: bool
    retraining_required: bool = Field(
        description="Set when the error-record rule was reached (README: staff quality "
        "records); cleared by a supervisor with POST /v1/staff/{id}/clear-retraining."
    )
    retraining_required_since: UtcDatetime | None
    retraining_record_ids: list[uuid.UUID] = Field(
        description="The error records that raised the flag, newest first; empty when not set."
    )
    retraining_cleared_at: UtcDatetime | None = Field(
        description="When a supervisor last cleared the flag; records that occurred earlier "
        "no longer count."
    )
    version: int
    created_at: UtcDatetime
    updated_at: UtcDatetime


# --- service error records -------------------------------------------------------------

SubjectType = Annotated[
    str, Field(min_length=1, max_length=30, pattern=r"^[a-z][a-z0-9_]*$", examples=["work_order"])
]
Reason = Annotated[str, Field(min_length=1, max_length=2000)]


class ErrorRecordCreate(InputModel):
    occurred_at: UtcDatetime | None = Field(
        default=None, description="When the error happened; not in the future. Defaults to now."
    )
    category: str = Field(
        min_length=1, max_length=100, examples=["late_arrival"], description="The kind of error."
    )
    description: str = Field(min_length=1, max_length=10_000)
    source: ErrorSource = Field(
        default=ErrorSource.manual,
        description="How the error came to light; `sla_breach` and `complaint` need a source.",
    )
    source_type: SubjectType | None = Field(
        default=None, description="The subject the error is about (with source_id)."
    )
    source_id: Id | None = None
    recorded_by: Id | None = Field(
        default=None, description="The staff member who records it (a supervisor)."
    )

    @model_validator(mode="after")
    def _source_reference(self) -> ErrorRecordCreate:
        if (self.source_type is None) != (self.source_id is None):
            raise ValueError("source_type and source_id: send both or neither")
        if self.source is not ErrorSource.manual and self.source_id is None:
            raise ValueError(f"source {self.source.value}: needs source_type and source_id")
        return self


class ErrorRecordVoid(InputModel):
    reason: Reason = Field(description="Why the record was made in error.")


class RetrainingClear(InputModel):
    note: Reason = Field(description="What was done, e.g. the retraining course taken.")


class ErrorRecordRead(ReadModel):
    id: uuid.UUID
    staff_id: uuid.UUID
    occurred_at: UtcDatetime
    category: str
    description: str
    source: ErrorSource
    source_type: str | None
    source_id: uuid.UUID | None
    recorded_by: uuid.UUID | None
    created_by: str = Field(description="The API key that recorded it; `system` if automatic.")
    created_at: UtcDatetime
    voided: bool = Field(description="A voided record is kept but never counts.")
    voided_at: UtcDatetime | None
    voided_by: str | None
    void_reason: str | None
    version: int


# --- the staff.retraining_required event ------------------------------------------------

RETRAINING_REQUIRED = "staff.retraining_required"


class StaffSummary(BaseModel):
    id: uuid.UUID
    name: str
    team_id: uuid.UUID | None


class ErrorRecordSummary(BaseModel):
    id: uuid.UUID
    occurred_at: UtcDatetime
    category: str
    source: ErrorSource
    source_type: str | None
    source_id: uuid.UUID | None


class RetrainingRequiredData(BaseModel):
    """``data`` of ``staff.retraining_required``: the rule was reached for a person."""

    staff: StaffSummary
    retraining_required_since: UtcDatetime
    threshold: int = Field(description="Records needed within the window (the setting).")
    window_days: int = Field(description="The rolling window, in days (the setting).")
    records: list[ErrorRecordSummary] = Field(
        description="The non-voided records counted, newest first."
    )
