"""survey templates, callbacks, attempts, responses, answer links (owned by the surveys work)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from qualityapi.db.base import UtcDateTime

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=20)


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, UtcDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "survey_templates",
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("questions", JSON, nullable=False),
        sa.Column("scale_labels", JSON, nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("supersedes_id", sa.Uuid(), nullable=True),
        sa.Column("superseded_by_id", sa.Uuid(), nullable=True),
        _ts("superseded_at", True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_templates")),
        sa.UniqueConstraint(
            "family_id", "version", name=op.f("uq_survey_templates_family_id_version")
        ),
    )
    with op.batch_alter_table("survey_templates", schema=None) as batch_op:
        batch_op.create_index(
            "ix_survey_templates_created_at_id", ["created_at", "id"], unique=False
        )

    op.create_table(
        "surveys",
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column(
            "status",
            _enum("status", "pending", "completed", "unreached", "refused", "cancelled", "skipped"),
            nullable=False,
        ),
        sa.Column("skip_reason", sa.String(length=500), nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        sa.Column("work_order_id", sa.Uuid(), nullable=True),
        sa.Column("work_order_number", sa.String(length=32), nullable=True),
        sa.Column("template_id", sa.Uuid(), nullable=True),
        sa.Column("customer", JSON, nullable=False),
        sa.Column("customer_phone", sa.String(length=50), nullable=True),
        sa.Column("customer_email", sa.String(length=320), nullable=True),
        sa.Column("priority", sa.String(length=20), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        sa.Column(
            "warning_level",
            _enum("warninglevel", "none", "blue", "yellow", "red"),
            nullable=False,
        ),
        sa.Column("sla", JSON, nullable=False),
        sa.Column("attempts_count", sa.Integer(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        _ts("completed_at", True),
        _ts("ended_at", True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["staff.id"],
            name=op.f("fk_surveys_assignee_id_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_surveys_team_id_teams"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["survey_templates.id"],
            name=op.f("fk_surveys_template_id_survey_templates"),
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_surveys_work_order_id_work_orders"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveys")),
        sa.UniqueConstraint("number", name=op.f("uq_surveys_number")),
    )
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.create_index("ix_surveys_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index("ix_surveys_status", ["status"], unique=False)
        batch_op.create_index("ix_surveys_warning_level", ["warning_level"], unique=False)
        batch_op.create_index("ix_surveys_work_order_id", ["work_order_id"], unique=False)
        batch_op.create_index(
            "ix_surveys_customer_phone", ["customer_phone", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_surveys_customer_email", ["customer_email", "created_at"], unique=False
        )

    op.create_table(
        "survey_attempts",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("survey_id", sa.Uuid(), nullable=False),
        _ts("attempted_at"),
        sa.Column(
            "outcome",
            _enum("outcome", "reached", "no_answer", "wrong_number", "refused"),
            nullable=False,
        ),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("agent_name", sa.String(length=100), nullable=False),
        sa.Column("agent_key_id", sa.Uuid(), nullable=True),
        _ts("created_at"),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name=op.f("fk_survey_attempts_survey_id_surveys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_attempts")),
    )
    with op.batch_alter_table("survey_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_survey_attempts_survey_id_id", ["survey_id", "id"], unique=False)

    op.create_table(
        "survey_responses",
        sa.Column("survey_id", sa.Uuid(), nullable=False),
        sa.Column("template_id", sa.Uuid(), nullable=False),
        sa.Column(
            "channel", _enum("channel", "phone", "in_person", "other", "link"), nullable=False
        ),
        sa.Column("overall", sa.Integer(), nullable=False),
        sa.Column("solved", sa.Boolean(), nullable=True),
        sa.Column("nps", sa.Integer(), nullable=True),
        sa.Column("ratings", JSON, nullable=False),
        sa.Column("comments", JSON, nullable=False),
        sa.Column("dissatisfied", sa.Boolean(), nullable=False),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        _ts("answered_at"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name=op.f("fk_survey_responses_survey_id_surveys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["survey_templates.id"],
            name=op.f("fk_survey_responses_template_id_survey_templates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_responses")),
        sa.UniqueConstraint("survey_id", name=op.f("uq_survey_responses_survey_id")),
    )

    op.create_table(
        "survey_links",
        sa.Column("survey_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("used_at", True),
        _ts("revoked_at", True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name=op.f("fk_survey_links_survey_id_surveys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_survey_links_token_hash")),
    )
    with op.batch_alter_table("survey_links", schema=None) as batch_op:
        batch_op.create_index("ix_survey_links_survey_id", ["survey_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("survey_links", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_links_survey_id")
    op.drop_table("survey_links")
    op.drop_table("survey_responses")
    with op.batch_alter_table("survey_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_attempts_survey_id_id")
    op.drop_table("survey_attempts")
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        for name in (
            "ix_surveys_customer_email",
            "ix_surveys_customer_phone",
            "ix_surveys_work_order_id",
            "ix_surveys_warning_level",
            "ix_surveys_status",
            "ix_surveys_created_at_id",
        ):
            batch_op.drop_index(name)
    op.drop_table("surveys")
    with op.batch_alter_table("survey_templates", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_templates_created_at_id")
    op.drop_table("survey_templates")
