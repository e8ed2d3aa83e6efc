"""indexes for the retention job and the outbox-age metric

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 23:45:00

- idempotency_keys(created_at): the retention job deletes expired keys in bounded batches
  (their primary key is a random UUID: no order to walk).
- webhook_deliveries(endpoint_id, message_pk) WHERE status = 'pending': /metrics reads the
  oldest undelivered message per enabled endpoint with one index probe each, however
  large the backlog. Partial: finished deliveries are not in it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    op.create_index(
        "ix_webhook_deliveries_pending_age",
        "webhook_deliveries",
        ["endpoint_id", "message_pk"],
        postgresql_where=_PENDING,
        sqlite_where=_PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_pending_age", table_name="webhook_deliveries")
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
