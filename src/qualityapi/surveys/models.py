"""Survey templates (versioned), callbacks, their attempts, answers and answer links."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from qualityapi.db.base import Base, BigIntPk, UuidPk, str_enum
from qualityapi.sla.vocabulary import WarningLevel
from qualityapi.surveys.states import Channel, Outcome, Status


class SurveyTemplate(UuidPk, Base):
    """One version of a questionnaire. A version a survey uses is never changed again: an
    edit then makes the next version (a new row) and marks this one superseded."""

    __tablename__ = "survey_templates"
    __table_args__ = (
        UniqueConstraint("family_id", "version"),
        Index("ix_survey_templates_created_at_id", "created_at", "id"),
    )

    # The same for every version of one template (the id of its first version).
    family_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000))
    # [{"key", "kind": overall|rating|solved|text|nps, "text", "required"}, ...]
    questions: Mapped[list[Any]]
    # The words for 1..5 on every 5-point item.
    scale_labels: Mapped[list[Any]]
    # New callbacks use the current version of the default template.
    is_default: Mapped[bool]
    # Both the template's version within its family and the ETag: an in-place edit of an
    # unused version and a new version each take the next number.
    version: Mapped[int] = mapped_column(Integer)
    supersedes_id: Mapped[uuid.UUID | None]
    superseded_by_id: Mapped[uuid.UUID | None]
    superseded_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    # Set by the service (see ``version`` above); the UPDATE still checks the old value.
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}


class Survey(UuidPk, Base):
    """A satisfaction callback: issued when a work order is resolved, with its own clock."""

    __tablename__ = "surveys"
    __table_args__ = (
        Index("ix_surveys_created_at_id", "created_at", "id"),
        Index("ix_surveys_status", "status"),
        Index("ix_surveys_warning_level", "warning_level"),
        Index("ix_surveys_work_order_id", "work_order_id"),
        # The throttle looks a customer up by phone or e-mail within a recent window.
        Index("ix_surveys_customer_phone", "customer_phone", "created_at"),
        Index("ix_surveys_customer_email", "customer_email", "created_at"),
    )

    number: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[Status] = mapped_column(str_enum(Status))
    skip_reason: Mapped[str | None] = mapped_column(String(500))
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    work_order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("work_orders.id", ondelete="SET NULL")
    )
    work_order_number: Mapped[str | None] = mapped_column(String(32))
    # Null only for a skipped survey: it never showed any questions.
    template_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("survey_templates.id"))
    customer: Mapped[dict[str, Any]]
    # Normalised (digits only; lower case) for the throttle.
    customer_phone: Mapped[str | None] = mapped_column(String(50))
    customer_email: Mapped[str | None] = mapped_column(String(320))
    # The work order's, so SLA policies can match callbacks by priority and category.
    priority: Mapped[str | None] = mapped_column(String(20))
    category: Mapped[str | None] = mapped_column(String(100))
    team_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    # Who makes the call (the clock's "assignee"); optional.
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )
    warning_level: Mapped[WarningLevel] = mapped_column(str_enum(WarningLevel))
    sla: Mapped[list[Any]]
    attempts_count: Mapped[int] = mapped_column(Integer)
    failed_attempts: Mapped[int] = mapped_column(Integer)
    # The setting when the callback was issued: a later change does not move its goalposts.
    max_attempts: Mapped[int] = mapped_column(Integer)
    completed_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}


class SurveyAttempt(Base):
    __tablename__ = "survey_attempts"
    __table_args__ = (Index("ix_survey_attempts_survey_id_id", "survey_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    survey_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    attempted_at: Mapped[datetime]
    outcome: Mapped[Outcome] = mapped_column(str_enum(Outcome))
    note: Mapped[str | None] = mapped_column(String(2000))
    agent_name: Mapped[str] = mapped_column(String(100))
    agent_key_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime]


class SurveyResponse(UuidPk, Base):
    """The answers. One per survey (the unique key makes a second answer impossible, also
    for two link submissions racing each other)."""

    __tablename__ = "survey_responses"

    survey_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("surveys.id", ondelete="CASCADE"), unique=True
    )
    template_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("survey_templates.id"))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    overall: Mapped[int] = mapped_column(Integer)
    solved: Mapped[bool | None]
    nps: Mapped[int | None] = mapped_column(Integer)
    # {question key: 1..5}, {question key: text}
    ratings: Mapped[dict[str, Any]]
    comments: Mapped[dict[str, Any]]
    dissatisfied: Mapped[bool]
    reasons: Mapped[list[Any]]
    recorded_by: Mapped[str] = mapped_column(String(100))
    answered_at: Mapped[datetime]


class SurveyLink(UuidPk, Base):
    """A customer's single-use answer link. Only the SHA-256 of its token is stored."""

    __tablename__ = "survey_links"
    __table_args__ = (Index("ix_survey_links_survey_id", "survey_id"),)

    survey_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    # Set when a newer link replaces it.
    revoked_at: Mapped[datetime | None]
