from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from qualityapi.complaints.states import Action, Facts, Status, allowed_actions
from qualityapi.db.base import Base, UuidPk, str_enum
from qualityapi.sla.vocabulary import WarningLevel


class Channel(enum.StrEnum):
    phone = "phone"
    web = "web"
    wechat = "wechat"
    email = "email"
    in_person = "in_person"
    platform = "platform"
    other = "other"


class Severity(enum.StrEnum):
    simple = "simple"
    general = "general"
    major = "major"


class Complaint(UuidPk, Base):
    __tablename__ = "complaints"
    __table_args__ = (
        Index("ix_complaints_created_at_id", "created_at", "id"),
        Index("ix_complaints_status", "status"),
        Index("ix_complaints_warning_level", "warning_level"),
        Index("ix_complaints_category_received_at", "category", "received_at"),
        Index("ix_complaints_owner_id", "owner_id"),
    )

    number: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    severity: Mapped[Severity] = mapped_column(str_enum(Severity))
    category: Mapped[str | None] = mapped_column(String(100))
    customer: Mapped[dict[str, Any]]
    # Normalised phone or e-mail, so that "the same customer" can be counted.
    customer_key: Mapped[str | None] = mapped_column(String(320), index=True)
    location: Mapped[str | None] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text)
    expected_outcome: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]
    work_order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("work_orders.id", ondelete="SET NULL")
    )
    subject_staff_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )
    # First contact: set at intake, never changed (null only for an automatic intake, e.g.
    # from a dissatisfied survey).
    received_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    # Who owns it now: the receiver until a handover is accepted.
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id"))
    pending_owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )
    status: Mapped[Status] = mapped_column(str_enum(Status))
    root_cause: Mapped[str | None] = mapped_column(Text)
    corrective_action: Mapped[str | None] = mapped_column(Text)
    resolution: Mapped[str | None] = mapped_column(Text)
    # Whether the complaint was found justified (None until resolved).
    upheld: Mapped[bool | None] = mapped_column(Boolean)
    # {"text", "channel", "at"}: the decision as communicated to the customer.
    decision: Mapped[dict[str, Any] | None]
    # {"result": reached|not_reached|refused, "accepted": bool|None, "attempts", "note", "at"}
    callback: Mapped[dict[str, Any] | None]
    source_survey_id: Mapped[uuid.UUID | None]
    warning_level: Mapped[WarningLevel] = mapped_column(str_enum(WarningLevel))
    sla: Mapped[list[Any]] = mapped_column(server_default=text("'[]'"))
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    reopen_count: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}

    @property
    def facts(self) -> Facts:
        return Facts(
            status=self.status,
            handover_pending=self.pending_owner_id is not None,
            callback_recorded=self.callback is not None,
        )

    @property
    def allowed_actions(self) -> list[Action]:
        return allowed_actions(self.facts)


class ActionStatus(enum.StrEnum):
    open = "open"
    done = "done"
    effective = "effective"
    ineffective = "ineffective"


class CorrectiveAction(UuidPk, Base):
    """A corrective action agreed on a complaint; it can outlive the complaint."""

    __tablename__ = "corrective_actions"
    __table_args__ = (Index("ix_corrective_actions_complaint_id", "complaint_id"),)

    complaint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"))
    description: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff.id"))
    due_at: Mapped[datetime]
    status: Mapped[ActionStatus] = mapped_column(str_enum(ActionStatus))
    done_at: Mapped[datetime | None]
    # The effectiveness check: when it was checked, by whom, what was found.
    checked_at: Mapped[datetime | None]
    check_note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}


class Dimension(enum.StrEnum):
    category = "category"
    location = "location"
    customer = "customer"


class PlanStatus(enum.StrEnum):
    open = "open"
    in_progress = "in_progress"
    done = "done"


class ImprovementPlan(UuidPk, Base):
    """A high-frequency problem (001 §3.1) and the plan that answers it: one per
    (dimension, key) while not done."""

    __tablename__ = "improvement_plans"
    __table_args__ = (Index("ix_improvement_plans_dimension_key", "dimension", "key"),)

    dimension: Mapped[Dimension] = mapped_column(str_enum(Dimension))
    key: Mapped[str] = mapped_column(String(500))
    # The count in the window when the flag was raised, and the complaints behind it.
    complaint_count: Mapped[int] = mapped_column(Integer)
    complaint_ids: Mapped[list[Any]]
    window_days: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[int] = mapped_column(Integer)
    flagged_at: Mapped[datetime]
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    due_at: Mapped[datetime | None]
    plan: Mapped[str | None] = mapped_column(Text)
    status: Mapped[PlanStatus] = mapped_column(str_enum(PlanStatus))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}
