from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field, model_validator

from qualityapi.common.schemas import (
    Id,
    InputModel,
    LongText,
    NotNull,
    ReadModel,
    StrictBool,
    StrictInt,
    UtcDatetime,
)
from qualityapi.complaints.models import (
    ActionStatus,
    Channel,
    Dimension,
    PlanStatus,
    Severity,
)
from qualityapi.complaints.states import Action, Status
from qualityapi.sla.schemas import ClockSummary
from qualityapi.sla.vocabulary import WarningLevel
from qualityapi.work_orders.schemas import Customer, CustomerRead


class ComplaintCreate(InputModel):
    channel: Channel
    severity: Severity = Severity.general
    category: str | None = Field(default=None, min_length=1, max_length=100)
    customer: Customer
    location: str | None = Field(default=None, max_length=500)
    description: LongText = Field(min_length=1)
    expected_outcome: LongText | None = Field(
        default=None, description="The remedy the complainant asks for (ISO 10002 receipt)."
    )
    received_at: UtcDatetime | None = Field(
        default=None,
        description="When the complaint was received; defaults to now, may be earlier.",
    )
    received_by: Id = Field(
        description="The staff member who took it (first-contact owner; never changes)."
    )
    work_order_id: Id | None = None
    subject_staff_id: Id | None = Field(
        default=None, description="The person complained about, if any."
    )


class ComplaintUpdate(InputModel):
    """What a PATCH may change; status, ownership and outcome change only through actions."""

    severity: Annotated[Severity | None, NotNull] = None
    category: str | None = Field(default=None, min_length=1, max_length=100)
    customer: Annotated[Customer | None, NotNull] = None
    location: str | None = Field(default=None, max_length=500)
    # As on create: what must be said may not be blanked by an edit.
    description: Annotated[LongText | None, NotNull] = Field(default=None, min_length=1)
    expected_outcome: LongText | None = None
    work_order_id: Id | None = None
    subject_staff_id: Id | None = None


class Decision(InputModel):
    text: LongText = Field(min_length=1)
    channel: Channel = Field(description="How the decision was communicated.")
    at: UtcDatetime | None = Field(default=None, description="Defaults to now.")


class DecisionRead(ReadModel):
    text: str
    channel: Channel
    at: UtcDatetime


CallbackResult = Literal["reached", "not_reached", "refused"]


class CallbackRead(ReadModel):
    result: CallbackResult
    accepted: bool | None
    attempts: int
    note: str | None
    at: UtcDatetime


class ComplaintRead(ReadModel):
    id: uuid.UUID
    number: str = Field(examples=["CP-2026-000042"])
    channel: Channel
    severity: Severity
    category: str | None
    customer: CustomerRead
    location: str | None
    description: str
    expected_outcome: str | None
    received_at: UtcDatetime
    received_by: uuid.UUID | None = Field(
        description="First-contact owner; never changes (null: received automatically)."
    )
    owner_id: uuid.UUID | None = Field(
        description="Who owns it now (the receiver until a handover is accepted)."
    )
    pending_owner_id: uuid.UUID | None = Field(
        description="A handover offered and not accepted yet."
    )
    work_order_id: uuid.UUID | None
    subject_staff_id: uuid.UUID | None
    status: Status
    root_cause: str | None
    corrective_action: str | None
    resolution: str | None
    upheld: bool | None
    decision: DecisionRead | None
    callback: CallbackRead | None
    source_survey_id: uuid.UUID | None
    warning_level: WarningLevel
    sla: list[ClockSummary] = Field(default_factory=list)
    acknowledged_at: UtcDatetime | None
    resolved_at: UtcDatetime | None
    closed_at: UtcDatetime | None
    reopen_count: int
    allowed_actions: list[Action]
    created_by: str
    version: int
    created_at: UtcDatetime
    updated_at: UtcDatetime


# --- action bodies -------------------------------------------------------------------------


class ComplaintNote(InputModel):
    note: str | None = Field(default=None, max_length=2000)


class AssignBody(ComplaintNote):
    owner_id: Id = Field(description="The investigator who owns it from now on.")


class HandoverBody(ComplaintNote):
    to_staff_id: Id = Field(description="The named owner it is offered to.")


class AcceptHandoverBody(ComplaintNote):
    staff_id: Id = Field(description="Must be the person it was offered to.")


class ResolveBody(ComplaintNote):
    resolution: LongText = Field(min_length=1)
    upheld: bool = Field(description="Whether the complaint was found justified.")
    root_cause: LongText | None = Field(
        default=None, description="Required for general and major complaints."
    )
    corrective_action: LongText | None = Field(
        default=None, description="Required for general and major complaints."
    )
    decision: Decision = Field(description="The decision as communicated to the customer.")


class CallbackBody(ComplaintNote):
    result: CallbackResult
    accepted: StrictBool | None = Field(
        default=None, description="Whether the customer accepted the decision (when reached)."
    )
    attempts: StrictInt = Field(default=1, ge=1, le=50)

    @model_validator(mode="after")
    def _accepted_needs_reached(self) -> CallbackBody:
        if self.result != "reached" and self.accepted is not None:
            raise ValueError("accepted is only known when the customer was reached")
        return self


class ReasonBody(InputModel):
    reason: str = Field(min_length=1, max_length=2000)


class ExtendBody(ReasonBody):
    target: Literal["acknowledge", "resolution", "feedback"] = "resolution"
    new_due_at: UtcDatetime | None = None
    working_days: StrictInt | None = Field(default=None, ge=1, le=60)

    @model_validator(mode="after")
    def _exactly_one(self) -> ExtendBody:
        if (self.new_due_at is None) == (self.working_days is None):
            raise ValueError("give exactly one of new_due_at or working_days")
        return self


# --- corrective actions and improvement plans ------------------------------------------------


class CorrectiveActionCreate(InputModel):
    description: LongText = Field(min_length=1)
    owner_id: Id
    due_at: UtcDatetime


class CorrectiveActionUpdate(InputModel):
    # As on create: what must be said may not be blanked by an edit.
    description: Annotated[LongText | None, NotNull] = Field(default=None, min_length=1)
    owner_id: Annotated[Id | None, NotNull] = None
    due_at: Annotated[UtcDatetime | None, NotNull] = None
    status: Annotated[ActionStatus | None, NotNull] = Field(
        default=None,
        description="done when carried out; effective / ineffective after the effectiveness "
        "check (give check_note).",
    )
    check_note: str | None = Field(default=None, max_length=2000)


class CorrectiveActionRead(ReadModel):
    id: uuid.UUID
    complaint_id: uuid.UUID
    description: str
    owner_id: uuid.UUID
    due_at: UtcDatetime
    status: ActionStatus
    overdue: bool = False
    done_at: UtcDatetime | None
    checked_at: UtcDatetime | None
    check_note: str | None
    version: int
    created_at: UtcDatetime
    updated_at: UtcDatetime


class ImprovementPlanUpdate(InputModel):
    owner_id: Id | None = None
    due_at: UtcDatetime | None = None
    plan: LongText | None = None
    status: Annotated[PlanStatus | None, NotNull] = None


class ImprovementPlanRead(ReadModel):
    id: uuid.UUID
    dimension: Dimension
    key: str
    complaint_count: int
    complaint_ids: list[uuid.UUID]
    window_days: int
    threshold: int
    flagged_at: UtcDatetime
    owner_id: uuid.UUID | None
    due_at: UtcDatetime | None
    plan: str | None
    status: PlanStatus
    version: int
    created_at: UtcDatetime
    updated_at: UtcDatetime


class HighFrequencyRead(ReadModel):
    dimension: Dimension
    key: str
    count: int = Field(description="Complaints in the rolling window ending now.")
    window_days: int
    threshold: int
    complaint_ids: list[uuid.UUID]
    improvement_plan: ImprovementPlanRead | None
