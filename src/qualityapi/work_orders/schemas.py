from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import EmailStr, Field, field_validator, model_validator

from qualityapi.common.schemas import (
    Id,
    InputModel,
    LongText,
    NotNull,
    ReadModel,
    ShortText,
    StrictBool,
    UtcDatetime,
)
from qualityapi.sla.schemas import ClockSummary
from qualityapi.sla.vocabulary import WarningLevel
from qualityapi.work_orders.models import Priority
from qualityapi.work_orders.states import Action, Status


class Customer(InputModel):
    name: ShortText
    phone: str | None = Field(default=None, max_length=50)
    email: EmailStr | None = None
    address: str | None = Field(default=None, max_length=500)


def _check_window(start: Any, end: Any) -> None:
    if start is not None and end is not None and end <= start:
        raise ValueError("appointment_end must be after appointment_start")


class WorkOrderCreate(InputModel):
    title: ShortText
    description: LongText | None = None
    category: str | None = Field(default=None, min_length=1, max_length=100)
    priority: Priority = Priority.normal
    customer: Customer
    location: str | None = Field(default=None, max_length=500)
    reported_at: UtcDatetime | None = Field(
        default=None,
        description="When the customer reported the problem; defaults to now, may be earlier.",
    )
    appointment_start: UtcDatetime | None = None
    appointment_end: UtcDatetime | None = None
    assignee_id: Id | None = Field(
        default=None, description="Assign at once: the order starts in status 'assigned'."
    )
    team_id: Id | None = None

    @model_validator(mode="after")
    def _window(self) -> WorkOrderCreate:
        _check_window(self.appointment_start, self.appointment_end)
        return self


class WorkOrderUpdate(InputModel):
    """Fields a PATCH may change. Status and assignee change only through actions."""

    title: Annotated[ShortText | None, NotNull] = None
    description: LongText | None = None
    category: str | None = Field(default=None, min_length=1, max_length=100)
    priority: Annotated[Priority | None, NotNull] = None
    customer: Annotated[Customer | None, NotNull] = None
    location: str | None = Field(default=None, max_length=500)
    reported_at: Annotated[UtcDatetime | None, NotNull] = None
    appointment_start: UtcDatetime | None = None
    appointment_end: UtcDatetime | None = None


class CustomerRead(ReadModel):
    name: str
    phone: str | None = None
    email: str | None = None
    address: str | None = None


def customer_payload(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A stored customer (it keeps only the keys given) with every key, null where none
    was given: what the API's reads show, so a webhook receiver may index any key."""
    return {key: stored.get(key) for key in CustomerRead.model_fields}


class WorkOrderRead(ReadModel):
    id: uuid.UUID
    number: str = Field(examples=["WO-2026-000123"])
    title: str
    description: str | None
    category: str | None
    priority: Priority
    status: Status
    customer: CustomerRead
    location: str | None
    reported_at: UtcDatetime
    appointment_start: UtcDatetime | None
    appointment_end: UtcDatetime | None
    assignee_id: uuid.UUID | None
    team_id: uuid.UUID | None
    warning_level: WarningLevel
    sla: list[ClockSummary] = Field(
        default_factory=list, description="One entry per SLA clock (empty until clocks exist)."
    )
    responded_at: UtcDatetime | None
    arrived_at: UtcDatetime | None
    resolved_at: UtcDatetime | None
    closed_at: UtcDatetime | None
    cancelled_at: UtcDatetime | None
    resolution: str | None
    reopen_count: int
    allowed_actions: list[Action] = Field(description="Actions allowed in the current status.")
    created_by: str
    version: int
    created_at: UtcDatetime
    updated_at: UtcDatetime


# --- action bodies -------------------------------------------------------------------------


class ActionNote(InputModel):
    note: str | None = Field(default=None, max_length=2000)


class AssignAction(ActionNote):
    assignee_id: Id
    team_id: Id | None = None


class ReasonAction(InputModel):
    reason: str = Field(min_length=1, max_length=2000)


class ResolveAction(ActionNote):
    resolution: str | None = Field(default=None, max_length=10_000)

    @field_validator("resolution", mode="after")
    @classmethod
    def _blank_is_absent(cls, value: str | None) -> str | None:
        # A form's empty text box means "nothing said", not a resolution reading "".
        return value or None


# --- logs and checklist ----------------------------------------------------------------------


class WorkOrderLogCreate(InputModel):
    occurred_at: UtcDatetime | None = Field(default=None, description="Defaults to now.")
    place: str | None = Field(default=None, max_length=500)
    action: str = Field(min_length=1, max_length=2000, description="The key action taken.")
    customer_feedback: str | None = Field(default=None, max_length=2000)


class WorkOrderLogRead(ReadModel):
    id: int
    occurred_at: UtcDatetime
    place: str | None
    action: str
    customer_feedback: str | None
    author_id: uuid.UUID | None
    author_name: str
    created_at: UtcDatetime


class ChecklistTemplateItem(InputModel):
    key: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(min_length=1, max_length=200)


class ChecklistTemplateCreate(InputModel):
    name: str = Field(min_length=1, max_length=100)
    items: list[ChecklistTemplateItem] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _unique_keys(self) -> ChecklistTemplateCreate:
        keys = [i.key for i in self.items]
        if len(keys) != len(set(keys)):
            raise ValueError("item keys must be unique")
        return self


class ChecklistTemplateRead(ReadModel):
    id: uuid.UUID
    name: str
    version: int
    items: list[ChecklistTemplateItem]
    created_at: UtcDatetime
    created_by: str


class ChecklistItemUpdate(InputModel):
    key: str = Field(min_length=1, max_length=64)
    done: StrictBool
    note: str | None = Field(default=None, max_length=2000)


class ChecklistUpdate(InputModel):
    items: list[ChecklistItemUpdate] = Field(
        min_length=1, max_length=100, description="Items to set; items not listed keep their state."
    )


class ChecklistItemRead(ReadModel):
    key: str
    label: str
    done: bool
    note: str | None
    done_at: UtcDatetime | None
    done_by: str | None


class ChecklistRead(ReadModel):
    work_order_id: uuid.UUID
    template_id: uuid.UUID
    template_name: str
    template_version: int
    items: list[ChecklistItemRead]
    complete: bool = Field(description="True when every item is done.")
    version: int = Field(description="0 until the checklist is first saved.")
    updated_at: UtcDatetime | None
    updated_by: str | None
