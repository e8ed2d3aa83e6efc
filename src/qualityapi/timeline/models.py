from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from qualityapi.db.base import Base, BigIntPk


class TimelineEvent(Base):
    __tablename__ = "timeline_events"
    __table_args__ = (
        Index("ix_timeline_events_subject", "subject_type", "subject_id", "id"),
        # Reports: retraining flags raised and cleared in a month. Staff entries only, so
        # the work-order and complaint entries (nearly all of them) cost it nothing.
        Index(
            "ix_timeline_events_staff_type_created_at",
            "type",
            "created_at",
            postgresql_where=text("subject_type = 'staff'"),
            sqlite_where=text("subject_type = 'staff'"),
        ),
    )

    # A sequence, not a UUID: events written in one request share a timestamp and must
    # still come back in the order they happened.
    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    subject_type: Mapped[str] = mapped_column(String(30))
    subject_id: Mapped[uuid.UUID]
    # e.g. created, status_changed, assigned, updated, log_added, checklist_updated,
    # warning_level_changed, escalated
    type: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    actor_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str] = mapped_column(String(100))
    # {"field": {"old": ..., "new": ...}} for every field the event changed.
    changes: Mapped[dict[str, Any]]
    note: Mapped[str | None] = mapped_column(String(2000))
