"""sla: pending clocks, the warning rule's memory, extensions, re-plans in batches

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 20:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from qualityapi.db.base import UtcDateTime

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sla_clocks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("remaining_at_warning_seconds", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("pending_reason", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("extensions", JSON, server_default=sa.text("'[]'"), nullable=False)
        )
    with op.batch_alter_table("sla_policies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_extensions", sa.Integer(), nullable=True))
    op.create_table(
        "sla_replans",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("ref_id", sa.Uuid(), nullable=False),
        sa.Column("requested_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("after_clock_id", sa.Uuid(), nullable=True),
        sa.Column("clocks_done", sa.Integer(), nullable=False),
        sa.Column("done_at", UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_replans")),
    )
    with op.batch_alter_table("sla_replans", schema=None) as batch_op:
        batch_op.create_index("ix_sla_replans_done_at", ["done_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sla_replans", schema=None) as batch_op:
        batch_op.drop_index("ix_sla_replans_done_at")
    op.drop_table("sla_replans")
    with op.batch_alter_table("sla_policies", schema=None) as batch_op:
        batch_op.drop_column("max_extensions")
    with op.batch_alter_table("sla_clocks", schema=None) as batch_op:
        batch_op.drop_column("extensions")
        batch_op.drop_column("pending_reason")
        batch_op.drop_column("remaining_at_warning_seconds")
