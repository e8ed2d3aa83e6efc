"""idempotency records keep the first response's Location (replays send it again)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 23:30:00

A plain ADD COLUMN (nullable): SQLite does it in place, no table rebuild, so no trigger of
0009 is dropped.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("idempotency_keys", sa.Column("location", sa.String(2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("location")
