from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from qualityapi.db.base import Base, BigIntPk


class OutboxMessage(Base):
    """An event, written in the transaction that caused it; webhooks deliver it.

    ``payload`` is the Standard Webhooks body: ``{"type", "timestamp", "data"}``.
    ``message_id`` is the ``webhook-id`` every endpoint sees on every retry.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_subject", "subject_key", "id"),
        Index("ix_outbox_messages_created_at", "created_at"),
        # The dispatcher's to-do list: only messages not yet fanned out are indexed.
        Index(
            "ix_outbox_messages_unrouted",
            "id",
            postgresql_where=text("routed_at IS NULL"),
            sqlite_where=text("routed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(60))
    # Messages about one subject are delivered to each endpoint in ``id`` order.
    subject_key: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    # Set by the webhook dispatcher once each subscribed endpoint has a delivery row. A
    # column rather than a "last id" cursor: ids are not committed in order.
    routed_at: Mapped[datetime | None]
