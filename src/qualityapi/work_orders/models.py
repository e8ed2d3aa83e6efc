from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from qualityapi.db.base import Base, BigIntPk, UuidPk, str_enum
from qualityapi.sla.vocabulary import WarningLevel
from qualityapi.work_orders.states import Action, Facts, Status, allowed_actions


class Priority(enum.StrEnum):
    urgent = "urgent"
    high = "high"
    normal = "normal"


class WorkOrder(UuidPk, Base):
    __tablename__ = "work_orders"
    __table_args__ = (
        Index("ix_work_orders_created_at_id", "created_at", "id"),
        Index("ix_work_orders_status", "status"),
        Index("ix_work_orders_warning_level", "warning_level"),
        Index("ix_work_orders_assignee_id", "assignee_id"),
        Index("ix_work_orders_team_id", "team_id"),
    )

    number: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(100))
    priority: Mapped[Priority] = mapped_column(str_enum(Priority))
    status: Mapped[Status] = mapped_column(str_enum(Status))
    customer: Mapped[dict[str, Any]]
    location: Mapped[str | None] = mapped_column(String(500))
    reported_at: Mapped[datetime]
    appointment_start: Mapped[datetime | None]
    appointment_end: Mapped[datetime | None]
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )
    team_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    warning_level: Mapped[WarningLevel] = mapped_column(str_enum(WarningLevel))
    # The SLA clocks' summary, kept here by the SLA engine so reads need no second query.
    sla: Mapped[list[Any]] = mapped_column(server_default=text("'[]'"))
    responded_at: Mapped[datetime | None]
    arrived_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    # The status to go back to on resume.
    held_from: Mapped[Status | None] = mapped_column(str_enum(Status))
    resolution: Mapped[str | None] = mapped_column(Text)
    reopen_count: Mapped[int] = mapped_column(Integer)
    # First-contact resolution (reports/): who had the order first, and how many people it
    # was given to; set by the service, never reset. A reference, not a foreign key: the
    # history stays when a staff record goes.
    first_assignee_id: Mapped[uuid.UUID | None]
    assignments: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_by: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}

    @property
    def facts(self) -> Facts:
        return Facts(status=self.status, arrived_at=self.arrived_at, held_from=self.held_from)

    @property
    def allowed_actions(self) -> list[Action]:
        return allowed_actions(self.facts)


class NumberSequence(Base):
    """Per-prefix, per-year counters behind human-readable numbers (WO-2026-000123)."""

    __tablename__ = "number_sequences"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)


class WorkOrderLog(Base):
    __tablename__ = "work_order_logs"
    __table_args__ = (Index("ix_work_order_logs_work_order_id_id", "work_order_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    work_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE")
    )
    occurred_at: Mapped[datetime]
    place: Mapped[str | None] = mapped_column(String(500))
    action: Mapped[str] = mapped_column(String(2000))
    customer_feedback: Mapped[str | None] = mapped_column(String(2000))
    author_id: Mapped[uuid.UUID | None]
    author_name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class ChecklistTemplate(UuidPk, Base):
    """Key-node checklist definitions. Never edited in place: a change is a new version."""

    __tablename__ = "checklist_templates"
    __table_args__ = (Index("uq_checklist_templates_name_version", "name", "version", unique=True),)

    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    # [{"key": "identity_verified", "label": "..."}, ...]
    items: Mapped[list[Any]]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))


class WorkOrderChecklist(Base):
    __tablename__ = "work_order_checklists"

    work_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE"), primary_key=True
    )
    template_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("checklist_templates.id"))
    # {"identity_verified": {"done": true, "note": ..., "done_at": ..., "done_by": ...}}
    states: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(100))

    __mapper_args__ = {"version_id_col": version}
