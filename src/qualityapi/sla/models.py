from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from qualityapi.db.base import Base, UuidPk


class Subject(enum.StrEnum):
    work_order = "work_order"
    complaint = "complaint"
    survey_callback = "survey_callback"


class Calendar(UuidPk, Base):
    """A business calendar as stored; ``sla.calendar.BusinessCalendar`` is its pure form."""

    __tablename__ = "calendars"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    time_zone: Mapped[str] = mapped_column(String(64))
    # {"monday": [{"start": "09:00", "end": "12:00"}, ...], ...}; missing day = closed.
    working_hours: Mapped[dict[str, Any]]
    holiday_country: Mapped[str | None] = mapped_column(String(8))
    holiday_subdivision: Mapped[str | None] = mapped_column(String(16))
    closed_days: Mapped[list[Any]]
    extra_working_days: Mapped[list[Any]]
    # Built-in calendars (24x7) cannot be changed: policies everywhere rely on them.
    builtin: Mapped[bool]
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}


class SlaPolicy(UuidPk, Base):
    __tablename__ = "sla_policies"
    __table_args__ = (Index("ix_sla_policies_subject_rank", "subject", "rank"),)

    name: Mapped[str] = mapped_column(String(100), unique=True)
    subject: Mapped[Subject] = mapped_column(
        Enum(Subject, native_enum=False, length=20, validate_strings=True)
    )
    # Lower rank is tried first; the first policy whose match accepts the subject wins.
    rank: Mapped[int] = mapped_column(Integer)
    # {"priorities": [...], "categories": [...]}; empty lists match anything.
    match: Mapped[dict[str, Any]]
    calendar_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calendars.id"))
    # {"response": {"duration": "PT1H"} | {"working_days": 3} | {"until": "appointment_end"},
    #  each optionally with "calendar_id"}
    targets: Mapped[dict[str, Any]]
    # {"percent": 80, "lead": "PT30M"}
    warning: Mapped[dict[str, Any]]
    # [{"level": 1, "after": "PT0S", "notify": [{"role": "assignee"}, ...]}, ...]
    escalation: Mapped[list[Any]]
    enabled: Mapped[bool]
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}
