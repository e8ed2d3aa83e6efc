"""What keeps reports fast and closed periods stable: the outcome ledger and its sums.

``report_clock_outcomes`` has one row per clock cycle whose outcome is decided (met,
breached or cancelled), written in the transaction that decided it by triggers on
``sla_clocks`` (migration 0009; see ``reports.repository`` for why triggers). A reopen
starts a new cycle on the same clock row, so without this ledger the first cycle's
outcome would vanish from the record and a closed month's figures would change. The
subject's priority, category, team and assignee are copied as they were at the decision.

``report_sla_hourly`` and ``report_sla_daily`` are sums of the ledger per UTC hour (no
grouping) and per UTC day (every grouping of at most two dimensions), folded in by the
rollup job. A report reads the sums for the whole buckets of its period, the ledger rows
not folded in yet, and the ledger itself for the partial buckets at its edges: exact for
any period and time zone, whether or not the job has run.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, String, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from qualityapi.db.base import Base, BigIntPk


class ClockOutcome(Base):
    __tablename__ = "report_clock_outcomes"
    __table_args__ = (
        UniqueConstraint("clock_id", "cycle"),
        # The partial buckets at a period's edges.
        Index("ix_report_clock_outcomes_decided_at", "decided_at"),
        # The rows the rollup job has not folded in yet (few, whatever the ledger's size):
        # by time for the reports, in id order for the fold.
        Index(
            "ix_report_clock_outcomes_unrolled",
            "decided_at",
            postgresql_where=text("rolled = false"),
            sqlite_where=text("rolled = 0"),
        ),
        Index(
            "ix_report_clock_outcomes_unrolled_id",
            "id",
            postgresql_where=text("rolled = false"),
            sqlite_where=text("rolled = 0"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    clock_id: Mapped[uuid.UUID]
    cycle: Mapped[int] = mapped_column(Integer)
    subject_type: Mapped[str] = mapped_column(String(30))
    subject_id: Mapped[uuid.UUID]
    target: Mapped[str] = mapped_column(String(30))
    # met | breached | cancelled
    outcome: Mapped[str] = mapped_column(String(10))
    # When it was decided: met_at; the deadline for a breach (also for one met late before
    # the scanner saw it); the cancellation's time.
    decided_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    policy_id: Mapped[uuid.UUID | None]
    calendar_id: Mapped[uuid.UUID | None]
    # The subject's, at the decision (a complaint: severity, and its owner and the owner's team).
    priority: Mapped[str | None] = mapped_column(String(20))
    category: Mapped[str | None] = mapped_column(String(100))
    team_id: Mapped[uuid.UUID | None]
    assignee_id: Mapped[uuid.UUID | None]
    # Folded into the hourly and daily sums.
    rolled: Mapped[bool] = mapped_column(server_default=false())


class SlaHourly(Base):
    """Outcomes per UTC hour, subject type and target (no grouping)."""

    __tablename__ = "report_sla_hourly"

    hour: Mapped[datetime] = mapped_column(primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(30), primary_key=True)
    target: Mapped[str] = mapped_column(String(30), primary_key=True)
    met: Mapped[int] = mapped_column(Integer)
    breached: Mapped[int] = mapped_column(Integer)
    cancelled: Mapped[int] = mapped_column(Integer)


class SlaDaily(Base):
    """Outcomes per UTC day, subject type and target, for each grouping of at most two
    dimensions (``dims`` names them, e.g. ``priority,team``; ``key1``/``key2`` are their
    values as text, '' for none)."""

    __tablename__ = "report_sla_daily"
    __table_args__ = (
        # A long period's sums read group by group from the index alone (migration 0013).
        Index(
            "ix_report_sla_daily_groups",
            "dims",
            "subject_type",
            "target",
            "key1",
            "key2",
            "day",
            "met",
            "breached",
            "cancelled",
        ),
    )

    dims: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(30), primary_key=True)
    target: Mapped[str] = mapped_column(String(30), primary_key=True)
    key1: Mapped[str] = mapped_column(String(100), primary_key=True)
    key2: Mapped[str] = mapped_column(String(100), primary_key=True)
    met: Mapped[int] = mapped_column(Integer)
    breached: Mapped[int] = mapped_column(Integer)
    cancelled: Mapped[int] = mapped_column(Integer)


class CountEvent(Base):
    """A countable fact of the monthly report, appended by triggers (migration 0009) in
    the transaction that caused it, keyed by the instant it counts at:

    - ``work_order.created`` (key1 priority, key2 category, as created),
    - ``complaint.created``,
    - ``survey.status`` (the survey's issue time; key1 a status; n +1 when a survey enters
      it, -1 when it leaves it: the sum is the surveys issued then now in that status),
    - ``survey.answer`` (the survey's issue time; key1 ``satisfied`` or '', key2
      ``dissatisfied`` or ''),
    - ``resolution.first`` (an order's first resolution; key1 category, key2
      ``by_first_assignee`` or '').

    Folded into ``report_counts_daily`` like the clock outcomes."""

    __tablename__ = "report_count_events"
    __table_args__ = (
        # Covering (migration 0012): a month's edge days are read from the index alone.
        Index("ix_report_count_events_kind_at_keys", "kind", "at", "key1", "key2", "n"),
        Index(
            "ix_report_count_events_unrolled",
            "kind",
            "at",
            postgresql_where=text("rolled = false"),
            sqlite_where=text("rolled = 0"),
        ),
        Index(
            "ix_report_count_events_unrolled_id",
            "id",
            postgresql_where=text("rolled = false"),
            sqlite_where=text("rolled = 0"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime]
    key1: Mapped[str] = mapped_column(String(100))
    key2: Mapped[str] = mapped_column(String(100))
    n: Mapped[int] = mapped_column(Integer)
    rolled: Mapped[bool] = mapped_column(server_default=false())


class CountDaily(Base):
    __tablename__ = "report_counts_daily"

    kind: Mapped[str] = mapped_column(String(30), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    key1: Mapped[str] = mapped_column(String(100), primary_key=True)
    key2: Mapped[str] = mapped_column(String(100), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class FirstResolution(Base):
    """A work order's first resolution, written by a trigger when ``resolved_at`` is first
    set (migration 0009): what first-contact resolution and the slowest steps read, in
    a table narrow enough to scan a month of it quickly. ``reopened_at``: its first reopen.

    Minutes between milestones are whole minutes rounded up (null without the milestones).
    """

    __tablename__ = "report_first_resolutions"
    __table_args__ = (
        # The steps of a month's resolutions, read from the index alone.
        Index(
            "ix_report_first_resolutions_resolved_at",
            "resolved_at",
            "reported_to_responded",
            "responded_to_arrived",
            "arrived_to_resolved",
            "reported_to_resolved",
        ),
        # The few that were reopened (whether within the first-contact window is worked
        # out when a report is read: the window is in working days).
        Index(
            "ix_report_first_resolutions_reopened",
            "resolved_at",
            "category",
            "by_first_assignee",
            "reopened_at",
            postgresql_where=text("reopened_at IS NOT NULL"),
            sqlite_where=text("reopened_at IS NOT NULL"),
        ),
    )

    work_order_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    resolved_at: Mapped[datetime]
    category: Mapped[str | None] = mapped_column(String(100))
    # Resolved by its first assignee, who was the only one it was ever given to.
    by_first_assignee: Mapped[bool]
    reopened_at: Mapped[datetime | None]
    reported_to_responded: Mapped[int | None] = mapped_column(Integer)
    responded_to_arrived: Mapped[int | None] = mapped_column(Integer)
    arrived_to_resolved: Mapped[int | None] = mapped_column(Integer)
    reported_to_resolved: Mapped[int | None] = mapped_column(Integer)
