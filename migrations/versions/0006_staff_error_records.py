"""staff service error records and the retraining flag (owned by the staff work)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from qualityapi.db.base import UtcDateTime

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "retraining_required", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
        batch_op.add_column(
            sa.Column("retraining_required_since", UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("retraining_record_ids", JSON, server_default=sa.text("'[]'"), nullable=False)
        )
        batch_op.add_column(
            sa.Column("retraining_cleared_at", UtcDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "staff_error_records",
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "source",
            sa.Enum(
                "manual",
                "sla_breach",
                "complaint",
                name="errorsource",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("source_type", sa.String(length=30), nullable=True),
        sa.Column("source_id", sa.Uuid(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=100), nullable=True),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("voided_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("voided_by", sa.String(length=100), nullable=True),
        sa.Column("void_reason", sa.String(length=2000), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["staff.id"],
            name=op.f("fk_staff_error_records_recorded_by_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_staff_error_records_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_error_records")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_staff_error_records_dedupe_key")),
    )
    with op.batch_alter_table("staff_error_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_staff_error_records_staff_id_occurred_at",
            ["staff_id", "occurred_at", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("staff_error_records", schema=None) as batch_op:
        batch_op.drop_index("ix_staff_error_records_staff_id_occurred_at")
    op.drop_table("staff_error_records")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_column("retraining_cleared_at")
        batch_op.drop_column("retraining_record_ids")
        batch_op.drop_column("retraining_required_since")
        batch_op.drop_column("retraining_required")
