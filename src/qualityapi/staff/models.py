from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, Integer, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from qualityapi.db.base import Base, UuidPk


class Team(UuidPk, Base):
    __tablename__ = "teams"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(String(2000))
    # Escalation contacts: the ladder notifies the supervisor first, then the manager.
    # use_alter: teams and staff point at each other.
    supervisor_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL", use_alter=True)
    )
    manager_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL", use_alter=True)
    )
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}


class Staff(UuidPk, Base):
    __tablename__ = "staff"

    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(50))
    title: Mapped[str | None] = mapped_column(String(200))
    team_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    active: Mapped[bool]
    # The retraining flag (001 §4.1), raised by the error-record rule and cleared by a
    # supervisor. Python defaults too: a server default would be expired after the INSERT,
    # and an async session cannot lazy-load it.
    retraining_required: Mapped[bool] = mapped_column(default=False, server_default=false())
    retraining_required_since: Mapped[datetime | None]
    # The ids of the error records that made the crossing (as strings, newest first).
    retraining_record_ids: Mapped[list[Any]] = mapped_column(
        default=list, server_default=text("'[]'")
    )
    # Records that occurred before the last clearing count no more: retraining dealt with them.
    retraining_cleared_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}


class ErrorSource(enum.StrEnum):
    manual = "manual"
    sla_breach = "sla_breach"
    complaint = "complaint"


class ErrorRecord(UuidPk, Base):
    """A service error of one staff member. Never deleted: a record made in error is voided."""

    __tablename__ = "staff_error_records"
    __table_args__ = (
        Index("ix_staff_error_records_staff_id_occurred_at", "staff_id", "occurred_at", "id"),
    )

    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime]
    category: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text)
    # VARCHAR + CHECK rather than a native enum: adding a source later is a plain migration.
    source: Mapped[ErrorSource] = mapped_column(
        Enum(ErrorSource, native_enum=False, length=20, validate_strings=True)
    )
    # What the error is about (a work order, a complaint ...): a reference, not a foreign
    # key, since staff knows no other domain's tables.
    source_type: Mapped[str | None] = mapped_column(String(30))
    source_id: Mapped[uuid.UUID | None]
    # Automatic records name their cause ("sla_breach:<clock id>", "complaint:<id>"), so
    # the same event seen twice records one error.
    dedupe_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    voided_at: Mapped[datetime | None]
    voided_by: Mapped[str | None] = mapped_column(String(100))
    void_reason: Mapped[str | None] = mapped_column(String(2000))
    version: Mapped[int] = mapped_column(Integer)

    __mapper_args__ = {"version_id_col": version}

    @property
    def voided(self) -> bool:
        return self.voided_at is not None
