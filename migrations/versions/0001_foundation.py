"""foundation: keys, audit, timeline, staff, work orders

Revision ID: 0001
Revises:
Create Date: 2026-11-21 20:53:56.520687
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from qualityapi.db.base import UtcDateTime

# JSONB on PostgreSQL, JSON text on SQLite, as in qualityapi.db.base.JsonType.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
DEFAULT_CHECKLIST_ID = "6f1c0c8e-3a52-4c1b-9d7e-000000000001"
# 001 §2.1.2: the key nodes of every on-site service.
DEFAULT_CHECKLIST_ITEMS = [
    {"key": "identity_verified", "label": "Identity verified (身份核实)"},
    {"key": "environment_checked", "label": "Environment checked (环境检查)"},
    {"key": "tools_complete", "label": "Tools complete (工具齐全)"},
    {"key": "service_items_done", "label": "Every service item done (服务项目完成)"},
    {"key": "customer_signoff", "label": "Customer confirmation / sign-off (客户确认签字)"},
]

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "viewer", "agent", "supervisor", "admin", name="role", native_enum=False, length=20
            ),
            nullable=False,
        ),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("revoked_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_name", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("resource_type", sa.String(length=50), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("before", JSON, nullable=True),
        sa.Column("after", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_events_resource", ["resource_type", "resource_id"], unique=False
        )

    op.create_table(
        "checklist_templates",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("items", JSON, nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checklist_templates")),
    )
    with op.batch_alter_table("checklist_templates", schema=None) as batch_op:
        batch_op.create_index(
            "uq_checklist_templates_name_version", ["name", "version"], unique=True
        )

    op.create_table(
        "idempotency_keys",
        sa.Column("principal_key", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response_body", JSON, nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint(
            "principal_key", "key", name=op.f("uq_idempotency_keys_principal_key_key")
        ),
    )
    op.create_table(
        "number_sequences",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_number_sequences")),
    )
    op.create_table(
        "teams",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("supervisor_id", sa.Uuid(), nullable=True),
        sa.Column("manager_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    op.create_table(
        "timeline_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject_type", sa.String(length=30), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_name", sa.String(length=100), nullable=False),
        sa.Column("changes", JSON, nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeline_events")),
    )
    with op.batch_alter_table("timeline_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_timeline_events_subject", ["subject_type", "subject_id", "id"], unique=False
        )

    op.create_table(
        "staff",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_staff_team_id_teams"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
    )
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_team_id"), ["team_id"], unique=False)

    # teams and staff point at each other: the teams side is added once staff exists.
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.create_foreign_key(
            op.f("fk_teams_manager_id_staff"), "staff", ["manager_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_foreign_key(
            op.f("fk_teams_supervisor_id_staff"),
            "staff",
            ["supervisor_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "work_orders",
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column(
            "priority",
            sa.Enum("urgent", "high", "normal", name="priority", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "assigned",
                "in_progress",
                "on_hold",
                "resolved",
                "closed",
                "cancelled",
                name="status",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("customer", JSON, nullable=False),
        sa.Column("location", sa.String(length=500), nullable=True),
        sa.Column("reported_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("appointment_start", UtcDateTime(timezone=True), nullable=True),
        sa.Column("appointment_end", UtcDateTime(timezone=True), nullable=True),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column(
            "warning_level",
            sa.Enum(
                "none", "blue", "yellow", "red", name="warninglevel", native_enum=False, length=20
            ),
            nullable=False,
        ),
        sa.Column("responded_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("arrived_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "held_from",
            sa.Enum(
                "open",
                "assigned",
                "in_progress",
                "on_hold",
                "resolved",
                "closed",
                "cancelled",
                name="status",
                native_enum=False,
                length=20,
            ),
            nullable=True,
        ),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["staff.id"],
            name=op.f("fk_work_orders_assignee_id_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_work_orders_team_id_teams"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_orders")),
        sa.UniqueConstraint("number", name=op.f("uq_work_orders_number")),
    )
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.create_index("ix_work_orders_assignee_id", ["assignee_id"], unique=False)
        batch_op.create_index("ix_work_orders_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index("ix_work_orders_status", ["status"], unique=False)
        batch_op.create_index("ix_work_orders_team_id", ["team_id"], unique=False)
        batch_op.create_index("ix_work_orders_warning_level", ["warning_level"], unique=False)

    op.create_table(
        "work_order_checklists",
        sa.Column("work_order_id", sa.Uuid(), nullable=False),
        sa.Column("template_id", sa.Uuid(), nullable=False),
        sa.Column("states", JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["checklist_templates.id"],
            name=op.f("fk_work_order_checklists_template_id_checklist_templates"),
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_work_order_checklists_work_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("work_order_id", name=op.f("pk_work_order_checklists")),
    )
    op.create_table(
        "work_order_logs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("work_order_id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("place", sa.String(length=500), nullable=True),
        sa.Column("action", sa.String(length=2000), nullable=False),
        sa.Column("customer_feedback", sa.String(length=2000), nullable=True),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("author_name", sa.String(length=100), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_work_order_logs_work_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_logs")),
    )
    with op.batch_alter_table("work_order_logs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_work_order_logs_work_order_id_id", ["work_order_id", "id"], unique=False
        )

    templates = sa.table(
        "checklist_templates",
        sa.column("id", sa.Uuid()),
        sa.column("name", sa.String()),
        sa.column("version", sa.Integer()),
        sa.column("items", JSON),
        sa.column("created_at", UtcDateTime(timezone=True)),
        sa.column("created_by", sa.String()),
    )
    op.bulk_insert(
        templates,
        [
            {
                "id": uuid.UUID(DEFAULT_CHECKLIST_ID),
                "name": "default",
                "version": 1,
                "items": DEFAULT_CHECKLIST_ITEMS,
                "created_at": datetime(2026, 1, 1, tzinfo=UTC),
                "created_by": "migration",
            }
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("work_order_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_work_order_logs_work_order_id_id")

    op.drop_table("work_order_logs")
    op.drop_table("work_order_checklists")
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_work_orders_warning_level")
        batch_op.drop_index("ix_work_orders_team_id")
        batch_op.drop_index("ix_work_orders_status")
        batch_op.drop_index("ix_work_orders_created_at_id")
        batch_op.drop_index("ix_work_orders_assignee_id")

    op.drop_table("work_orders")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_team_id"))

    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_teams_supervisor_id_staff"), type_="foreignkey")
        batch_op.drop_constraint(op.f("fk_teams_manager_id_staff"), type_="foreignkey")

    op.drop_table("staff")
    with op.batch_alter_table("timeline_events", schema=None) as batch_op:
        batch_op.drop_index("ix_timeline_events_subject")

    op.drop_table("timeline_events")
    op.drop_table("teams")
    op.drop_table("number_sequences")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("checklist_templates", schema=None) as batch_op:
        batch_op.drop_index("uq_checklist_templates_name_version")

    op.drop_table("checklist_templates")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_resource")

    op.drop_table("audit_events")
    op.drop_table("api_keys")
