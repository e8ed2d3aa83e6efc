"""complaints, corrective actions, improvement plans

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from qualityapi.db.base import UtcDateTime

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=20)


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, UtcDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "complaints",
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column(
            "channel",
            _enum("channel", "phone", "web", "wechat", "email", "in_person", "platform", "other"),
            nullable=False,
        ),
        sa.Column("severity", _enum("severity", "simple", "general", "major"), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("customer", JSON, nullable=False),
        sa.Column("customer_key", sa.String(length=320), nullable=True),
        sa.Column("location", sa.String(length=500), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("expected_outcome", sa.Text(), nullable=True),
        _ts("received_at"),
        sa.Column("work_order_id", sa.Uuid(), nullable=True),
        sa.Column("subject_staff_id", sa.Uuid(), nullable=True),
        sa.Column("received_by", sa.Uuid(), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("pending_owner_id", sa.Uuid(), nullable=True),
        sa.Column(
            "status",
            _enum("status", "received", "acknowledged", "investigating", "resolved", "closed"),
            nullable=False,
        ),
        sa.Column("root_cause", sa.Text(), nullable=True),
        sa.Column("corrective_action", sa.Text(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("upheld", sa.Boolean(), nullable=True),
        sa.Column("decision", JSON, nullable=True),
        sa.Column("callback", JSON, nullable=True),
        sa.Column("source_survey_id", sa.Uuid(), nullable=True),
        sa.Column(
            "warning_level",
            _enum("warninglevel", "none", "blue", "yellow", "red"),
            nullable=False,
        ),
        sa.Column("sla", JSON, server_default=sa.text("'[]'"), nullable=False),
        _ts("acknowledged_at", True),
        _ts("resolved_at", True),
        _ts("closed_at", True),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_complaints_work_order_id_work_orders"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subject_staff_id"],
            ["staff.id"],
            name=op.f("fk_complaints_subject_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["received_by"], ["staff.id"], name=op.f("fk_complaints_received_by_staff")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["staff.id"], name=op.f("fk_complaints_owner_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["pending_owner_id"],
            ["staff.id"],
            name=op.f("fk_complaints_pending_owner_id_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaints")),
        sa.UniqueConstraint("number", name=op.f("uq_complaints_number")),
    )
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.create_index("ix_complaints_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index("ix_complaints_status", ["status"], unique=False)
        batch_op.create_index("ix_complaints_warning_level", ["warning_level"], unique=False)
        batch_op.create_index(
            "ix_complaints_category_received_at", ["category", "received_at"], unique=False
        )
        batch_op.create_index("ix_complaints_owner_id", ["owner_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_complaints_customer_key"), ["customer_key"], unique=False
        )

    op.create_table(
        "corrective_actions",
        sa.Column("complaint_id", sa.Uuid(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        _ts("due_at"),
        sa.Column(
            "status",
            _enum("actionstatus", "open", "done", "effective", "ineffective"),
            nullable=False,
        ),
        _ts("done_at", True),
        _ts("checked_at", True),
        sa.Column("check_note", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["complaint_id"],
            ["complaints.id"],
            name=op.f("fk_corrective_actions_complaint_id_complaints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["staff.id"], name=op.f("fk_corrective_actions_owner_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corrective_actions")),
    )
    with op.batch_alter_table("corrective_actions", schema=None) as batch_op:
        batch_op.create_index("ix_corrective_actions_complaint_id", ["complaint_id"], unique=False)

    op.create_table(
        "improvement_plans",
        sa.Column(
            "dimension", _enum("dimension", "category", "location", "customer"), nullable=False
        ),
        sa.Column("key", sa.String(length=500), nullable=False),
        sa.Column("complaint_count", sa.Integer(), nullable=False),
        sa.Column("complaint_ids", JSON, nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        _ts("flagged_at"),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        _ts("due_at", True),
        sa.Column("plan", sa.Text(), nullable=True),
        sa.Column("status", _enum("planstatus", "open", "in_progress", "done"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["staff.id"],
            name=op.f("fk_improvement_plans_owner_id_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_improvement_plans")),
    )
    with op.batch_alter_table("improvement_plans", schema=None) as batch_op:
        batch_op.create_index(
            "ix_improvement_plans_dimension_key", ["dimension", "key"], unique=False
        )


def downgrade() -> None:
    op.drop_table("improvement_plans")
    op.drop_table("corrective_actions")
    op.drop_table("complaints")
