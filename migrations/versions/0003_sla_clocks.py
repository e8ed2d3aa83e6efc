"""sla clocks transitions outbox

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 21:58:22.330053
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from qualityapi.db.base import UtcDateTime

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sla", JSON, server_default=sa.text("'[]'"), nullable=False))
    op.create_table(
        "outbox_messages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("subject_key", sa.String(length=100), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outbox_messages_message_id")),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_messages_subject", ["subject_key", "id"], unique=False)

    op.create_table(
        "sla_clocks",
        sa.Column("subject_type", sa.String(length=30), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("target", sa.String(length=30), nullable=False),
        sa.Column("policy_id", sa.Uuid(), nullable=True),
        sa.Column("calendar_id", sa.Uuid(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "running",
                "paused",
                "met",
                "breached",
                "cancelled",
                name="clockstate",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("started_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("due_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("warn_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("target_seconds", sa.Double(), nullable=True),
        sa.Column("elapsed_seconds", sa.Double(), nullable=False),
        sa.Column("segment_started_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("paused_segments", JSON, nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("met_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("breached_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("next_check_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"], ["calendars.id"], name=op.f("fk_sla_clocks_calendar_id_calendars")
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["sla_policies.id"],
            name=op.f("fk_sla_clocks_policy_id_sla_policies"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_clocks")),
    )
    with op.batch_alter_table("sla_clocks", schema=None) as batch_op:
        batch_op.create_index("ix_sla_clocks_next_check_at", ["next_check_at"], unique=False)
        batch_op.create_index("ix_sla_clocks_policy_id", ["policy_id"], unique=False)
        batch_op.create_index("ix_sla_clocks_subject", ["subject_type", "subject_id"], unique=False)

    op.create_table(
        "sla_transitions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("clock_id", sa.Uuid(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("occurred_at", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clock_id"],
            ["sla_clocks.id"],
            name=op.f("fk_sla_transitions_clock_id_sla_clocks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_transitions")),
        sa.UniqueConstraint(
            "clock_id", "cycle", "stage", name=op.f("uq_sla_transitions_clock_id_cycle_stage")
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.drop_column("sla")
    op.drop_table("sla_transitions")
    with op.batch_alter_table("sla_clocks", schema=None) as batch_op:
        batch_op.drop_index("ix_sla_clocks_subject")
        batch_op.drop_index("ix_sla_clocks_policy_id")
        batch_op.drop_index("ix_sla_clocks_next_check_at")

    op.drop_table("sla_clocks")
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_messages_subject")

    op.drop_table("outbox_messages")
