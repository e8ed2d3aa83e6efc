from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from qualityapi.db.base import Base, BigIntPk, UuidPk
from qualityapi.sla.vocabulary import ClockState

__all__ = [
    "Calendar",
    "ClockState",
    "SlaClock",
    "SlaPolicy",
    "SlaReplan",
    "SlaTransition",
]


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
    # A kind registered with the engine (``sla.subjects``), e.g. ``work_order``.
    subject: Mapped[str] = mapped_column(String(20))
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
    # How many times a clock of this policy may be extended per cycle (None: no limit).
    max_extensions: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool]
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}


class SlaClock(UuidPk, Base):
    """One deadline of one subject (work order, complaint, survey callback).

    ``next_check_at`` is the next instant at which anything about the clock can change
    (warning, breach, next escalation level); null when nothing can. The scanner only
    ever reads clocks whose ``next_check_at`` has come, so its cost follows the number of
    due clocks, never the number of open ones.
    """

    __tablename__ = "sla_clocks"
    __table_args__ = (
        Index("ix_sla_clocks_subject", "subject_type", "subject_id"),
        Index("ix_sla_clocks_next_check_at", "next_check_at"),
        Index("ix_sla_clocks_policy_id", "policy_id"),
        # Reports: the clocks not decided yet (counted apart from met and breached); only
        # those are in the index, so it stays small however many clocks have ended.
        Index(
            "ix_sla_clocks_undecided",
            "subject_type",
            "target",
            "started_at",
            postgresql_where=text("state IN ('pending', 'running', 'paused')"),
            sqlite_where=text("state IN ('pending', 'running', 'paused')"),
        ),
    )

    subject_type: Mapped[str] = mapped_column(String(30))
    subject_id: Mapped[uuid.UUID]
    target: Mapped[str] = mapped_column(String(30))
    policy_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sla_policies.id", ondelete="SET NULL")
    )
    calendar_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calendars.id"))
    state: Mapped[ClockState] = mapped_column(
        Enum(ClockState, native_enum=False, length=20, validate_strings=True)
    )
    # Restarts (reopen) start a new cycle; transitions are unique per clock, cycle, stage.
    cycle: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    warn_at: Mapped[datetime | None]
    # The target in working seconds, and the working seconds used before the current
    # running segment: a pause or a re-plan keeps what was already used.
    target_seconds: Mapped[float | None]
    elapsed_seconds: Mapped[float]
    segment_started_at: Mapped[datetime | None]
    paused_segments: Mapped[list[Any]]
    # 0 on track (blue), 1 warned (yellow), 2 breached (red), 2 + n: escalation level n.
    stage: Mapped[int] = mapped_column(Integer)
    met_at: Mapped[datetime | None]
    breached_at: Mapped[datetime | None]
    next_check_at: Mapped[datetime | None]
    # Working seconds that were left at ``warn_at`` under the plan that warned (the warning
    # rule of ``sla.clockwork``), and why a pending clock has no deadline yet.
    remaining_at_warning_seconds: Mapped[float | None]
    pending_reason: Mapped[str | None] = mapped_column(String(200))
    # Each extension of this cycle's deadline: [{"at", "from", "to", "reason"}]; the first
    # "from" is the original deadline.
    extensions: Mapped[list[Any]] = mapped_column(server_default=text("'[]'"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SlaReplan(Base):
    """A policy or calendar edit waiting to be applied to its running clocks.

    The edit commits at once; the scanner re-plans the clocks in bounded batches in id
    order, remembering the last clock done, and sets ``done_at`` when none is left.
    """

    __tablename__ = "sla_replans"
    __table_args__ = (Index("ix_sla_replans_done_at", "done_at"),)

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    # "policy" or "calendar", and that resource's id
    reason: Mapped[str] = mapped_column(String(20))
    ref_id: Mapped[uuid.UUID]
    requested_at: Mapped[datetime]
    after_clock_id: Mapped[uuid.UUID | None]
    clocks_done: Mapped[int] = mapped_column(Integer)
    done_at: Mapped[datetime | None]


class SlaTransition(Base):
    """Each warning, breach and escalation, once: the unique key makes two scanners safe."""

    __tablename__ = "sla_transitions"
    __table_args__ = (UniqueConstraint("clock_id", "cycle", "stage"),)

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    clock_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sla_clocks.id", ondelete="CASCADE"))
    cycle: Mapped[int] = mapped_column(Integer)
    stage: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime]
