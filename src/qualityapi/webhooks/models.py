from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from qualityapi.db.base import Base, BigIntPk, UuidPk


class WebhookEndpoint(UuidPk, Base):
    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(500))
    # Empty: every event type.
    event_types: Mapped[list[Any]]
    enabled: Mapped[bool]
    secret: Mapped[str] = mapped_column(String(120))
    # During a rotation's overlap both secrets sign, so receivers can switch at leisure.
    previous_secret: Mapped[str | None] = mapped_column(String(120))
    previous_secret_expires_at: Mapped[datetime | None]
    # Why and when the service disabled it (410 Gone, failing too long); null if a person
    # did, or if it is enabled.
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    disabled_at: Mapped[datetime | None]
    # Start of the current run of failed attempts; cleared by any success.
    failing_since: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}


class DeliveryStatus(enum.StrEnum):
    pending = "pending"
    succeeded = "succeeded"
    # Retries exhausted; resend or replay to try again.
    failed = "failed"
    # No longer true when its turn came (a warning whose clock was met or re-planned).
    expired = "expired"


class WebhookDelivery(Base):
    """One message for one endpoint, tried until it succeeds, fails for good or expires.

    ``next_attempt_at`` is both the schedule and the lease: a dispatcher that claims a row
    pushes it forward by the lease, so a crashed dispatcher's rows come due again by
    themselves. It is null once the delivery is finished.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "message_pk"),
        # The claim walks this in order and stops after its LIMIT: its cost follows the
        # batch, not the backlog.
        Index("ix_webhook_deliveries_next_attempt_at", "next_attempt_at", "id"),
        # "Is an earlier message about this subject still pending for this endpoint?"
        # Only pending rows: finished deliveries pile up, this index does not grow with them.
        Index(
            "ix_webhook_deliveries_order",
            "endpoint_id",
            "subject_key",
            "message_pk",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_webhook_deliveries_message", "message_pk"),
        # /metrics: the oldest undelivered message per endpoint, one probe each (issue 11).
        Index(
            "ix_webhook_deliveries_pending_age",
            "endpoint_id",
            "message_pk",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    message_pk: Mapped[int] = mapped_column(ForeignKey("outbox_messages.id", ondelete="CASCADE"))
    subject_key: Mapped[str] = mapped_column(String(100))
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(DeliveryStatus, native_enum=False, length=20, validate_strings=True)
    )
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None]
    # Who holds the lease: a result is only recorded by the dispatcher that claimed it.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    """Every HTTP attempt, successful or not: the delivery log users read."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        Index("ix_webhook_attempts_endpoint", "endpoint_id", "id"),
        Index("ix_webhook_attempts_delivery", "delivery_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    # Null for a test ping, which has no delivery row.
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    message_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(60))
    attempted_at: Mapped[datetime]
    succeeded: Mapped[bool]
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[float]
    # e.g. "connect_error", "timeout", "http_500", "ssrf_refused"; null on success.
    error_class: Mapped[str | None] = mapped_column(String(60))
    error: Mapped[str | None] = mapped_column(String(300))
    response_body: Mapped[str | None] = mapped_column(String(2000))
