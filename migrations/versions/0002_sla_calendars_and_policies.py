"""sla calendars and policies

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 21:46:47.375753
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from qualityapi.db.base import UtcDateTime

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendars",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("working_hours", JSON, nullable=False),
        sa.Column("holiday_country", sa.String(length=8), nullable=True),
        sa.Column("holiday_subdivision", sa.String(length=16), nullable=True),
        sa.Column("closed_days", JSON, nullable=False),
        sa.Column("extra_working_days", JSON, nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendars")),
        sa.UniqueConstraint("name", name=op.f("uq_calendars_name")),
    )
    op.create_table(
        "sla_policies",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "subject",
            sa.Enum(
                "work_order",
                "complaint",
                "survey_callback",
                name="subject",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("match", JSON, nullable=False),
        sa.Column("calendar_id", sa.Uuid(), nullable=False),
        sa.Column("targets", JSON, nullable=False),
        sa.Column("warning", JSON, nullable=False),
        sa.Column("escalation", JSON, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"], ["calendars.id"], name=op.f("fk_sla_policies_calendar_id_calendars")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_policies")),
        sa.UniqueConstraint("name", name=op.f("uq_sla_policies_name")),
    )
    with op.batch_alter_table("sla_policies", schema=None) as batch_op:
        batch_op.create_index("ix_sla_policies_subject_rank", ["subject", "rank"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sla_policies", schema=None) as batch_op:
        batch_op.drop_index("ix_sla_policies_subject_rank")

    op.drop_table("sla_policies")
    op.drop_table("calendars")
