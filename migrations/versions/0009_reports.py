"""reports: ledgers kept by triggers (clock outcomes, countable facts, first resolutions),
their sums, first-contact columns on work orders, and the indexes reports read (owned by the
reports work)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 21:00:00

The ledgers are written by triggers, so that every path that decides a clock or changes
what a report counts (the engine's actions through the ORM, the scanner's batched
UPDATEs, re-plans after policy edits, surveys and complaints written by reactions) records
it in its own transaction, with no hook in other domains' code. Careful: SQLite drops a
table's triggers when Alembic's batch mode rebuilds the table; a later migration that
rebuilds ``sla_clocks``, ``work_orders``, ``complaints``, ``surveys`` or
``survey_responses`` must create them again (``tests/test_reports.py`` checks that they
all exist at head).
"""

# Every SQL text here is built from this file's own constants; no input reaches it.
# ruff: noqa: S608

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from alembic import op

from qualityapi.db.base import UtcDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"


# --- the clock-outcome ledger -------------------------------------------------------------

_OUTCOME_COLUMNS = (
    "clock_id, cycle, subject_type, subject_id, target, outcome, decided_at, due_at, "
    "policy_id, calendar_id, priority, category, team_id, assignee_id, rolled"
)


def _outcome_select(row: str, source: str) -> str:
    """One ledger row for the clock ``row`` (``NEW`` in a trigger, an alias in the
    back-fill): a breach is decided at the deadline, also when the clock was met after
    it before the scanner saw it; a met clock at ``met_at``; a cancellation when it
    happened. The subject's dimensions are read as they are now, in this transaction."""
    late = (
        f"({row}.met_at IS NOT NULL AND {row}.due_at IS NOT NULL AND {row}.met_at > {row}.due_at)"
    )
    return f"""
    SELECT {row}.id, {row}.cycle, {row}.subject_type, {row}.subject_id, {row}.target,
           CASE WHEN {row}.breached_at IS NOT NULL OR {late} THEN 'breached'
                WHEN {row}.met_at IS NOT NULL THEN 'met'
                ELSE 'cancelled' END,
           CASE WHEN {row}.breached_at IS NOT NULL THEN {row}.breached_at
                WHEN {late} THEN {row}.due_at
                WHEN {row}.met_at IS NOT NULL THEN {row}.met_at
                ELSE {row}.updated_at END,
           {row}.due_at, {row}.policy_id, {row}.calendar_id,
           COALESCE(w.priority, c.severity, s.priority),
           COALESCE(w.category, c.category, s.category),
           COALESCE(w.team_id, o.team_id, s.team_id),
           COALESCE(w.assignee_id, c.owner_id, s.assignee_id),
           false
    FROM {source}
    LEFT JOIN work_orders AS w ON {row}.subject_type = 'work_order' AND w.id = {row}.subject_id
    LEFT JOIN complaints AS c ON {row}.subject_type = 'complaint' AND c.id = {row}.subject_id
    LEFT JOIN staff AS o ON o.id = c.owner_id
    LEFT JOIN surveys AS s ON {row}.subject_type = 'survey_callback' AND s.id = {row}.subject_id
    """


# The first outcome of a cycle stands (a breached clock met later stays breached).
_INSERT_OUTCOME = (
    f"INSERT INTO report_clock_outcomes ({_OUTCOME_COLUMNS})"
    + _outcome_select("NEW", "(SELECT 1) AS one")
    + " WHERE true ON CONFLICT (clock_id, cycle) DO NOTHING"
)

# --- countable facts and first resolutions ------------------------------------------------


def _count(kind: str, at: str, key1: str = "''", key2: str = "''", n: str = "1") -> str:
    return f"({kind!r}, {at}, {key1}, {key2}, {n}, false)"


_INSERT_COUNTS = "INSERT INTO report_count_events (kind, at, key1, key2, n, rolled) VALUES "


def _minutes(start: str, end: str) -> str:
    """Whole minutes from ``start`` to ``end``, rounded up; null without both."""
    if _pg():
        seconds = f"EXTRACT(EPOCH FROM ({end} - {start}))"
    else:
        seconds = f"((julianday({end}) - julianday({start})) * 86400.0)"
    return (
        f"CASE WHEN {start} IS NOT NULL AND {end} IS NOT NULL AND {end} >= {start}"
        f" THEN (CAST(round({seconds}) AS BIGINT) + 59) / 60 END"
    )


_RESOLUTION_COLUMNS = (
    "work_order_id, resolved_at, category, by_first_assignee, reopened_at,"
    " reported_to_responded, responded_to_arrived, arrived_to_resolved, reported_to_resolved"
)


def _by_first(row: str) -> str:
    """Resolved by its first assignee, the only person it was ever given to."""
    return (
        f"{row}.assignments = 1 AND {row}.assignee_id IS NOT NULL"
        f" AND {row}.assignee_id = {row}.first_assignee_id"
    )


def _resolution_values(row: str, resolved: str, reopened: str) -> str:
    by_first = f"CASE WHEN {_by_first(row)} THEN true ELSE false END"
    return (
        f"{row}.id, {resolved}, {row}.category, {by_first}, {reopened},"
        f" {_minutes(f'{row}.reported_at', f'{row}.responded_at')},"
        f" {_minutes(f'{row}.responded_at', f'{row}.arrived_at')},"
        f" {_minutes(f'{row}.arrived_at', resolved)},"
        f" {_minutes(f'{row}.reported_at', resolved)}"
    )


# --- the triggers -------------------------------------------------------------------------


@dataclass(frozen=True)
class Trigger:
    name: str
    table: str
    event: str  # "INSERT" or "UPDATE OF ..."
    when: str | None
    body: tuple[str, ...]


def _triggers() -> tuple[Trigger, ...]:
    return (
        Trigger(
            "report_clock_decided",
            "sla_clocks",
            "UPDATE OF met_at, breached_at, state",
            "(NEW.met_at IS NOT NULL AND OLD.met_at IS NULL)"
            " OR (NEW.breached_at IS NOT NULL AND OLD.breached_at IS NULL)"
            " OR (NEW.state = 'cancelled' AND OLD.state <> 'cancelled')",
            (_INSERT_OUTCOME,),
        ),
        Trigger(
            "report_clock_inserted_decided",
            "sla_clocks",
            "INSERT",
            "NEW.met_at IS NOT NULL OR NEW.breached_at IS NOT NULL OR NEW.state = 'cancelled'",
            (_INSERT_OUTCOME,),
        ),
        Trigger(
            "report_work_order_created",
            "work_orders",
            "INSERT",
            None,
            (
                _INSERT_COUNTS
                + _count(
                    "work_order.created",
                    "NEW.created_at",
                    "COALESCE(NEW.priority, '')",
                    "COALESCE(NEW.category, '')",
                ),
            ),
        ),
        # The first resolution only: a later one after a reopen finds the row there.
        Trigger(
            "report_work_order_resolved",
            "work_orders",
            "UPDATE OF resolved_at",
            "OLD.resolved_at IS NULL AND NEW.resolved_at IS NOT NULL",
            (
                # Counted first (the row below is not there yet on a first resolution).
                "INSERT INTO report_count_events (kind, at, key1, key2, n, rolled)"
                " SELECT 'resolution.first', NEW.resolved_at, COALESCE(NEW.category, ''),"
                f" CASE WHEN {_by_first('NEW')} THEN 'by_first_assignee' ELSE '' END, 1, false"
                " WHERE NOT EXISTS (SELECT 1 FROM report_first_resolutions"
                " WHERE work_order_id = NEW.id)",
                f"INSERT INTO report_first_resolutions ({_RESOLUTION_COLUMNS}) VALUES ("
                + _resolution_values("NEW", "NEW.resolved_at", "NULL")
                + ") ON CONFLICT (work_order_id) DO NOTHING",
            ),
        ),
        Trigger(
            "report_work_order_reopened",
            "work_orders",
            "UPDATE OF reopen_count",
            "NEW.reopen_count > OLD.reopen_count",
            (
                "UPDATE report_first_resolutions SET reopened_at = NEW.updated_at"
                " WHERE work_order_id = NEW.id AND reopened_at IS NULL",
            ),
        ),
        Trigger(
            "report_complaint_created",
            "complaints",
            "INSERT",
            None,
            (_INSERT_COUNTS + _count("complaint.created", "NEW.created_at"),),
        ),
        Trigger(
            "report_survey_issued",
            "surveys",
            "INSERT",
            None,
            (_INSERT_COUNTS + _count("survey.status", "NEW.created_at", "NEW.status"),),
        ),
        Trigger(
            "report_survey_status",
            "surveys",
            "UPDATE OF status",
            "NEW.status <> OLD.status",
            (
                _INSERT_COUNTS
                + _count("survey.status", "NEW.created_at", "OLD.status", n="-1")
                + ", "
                + _count("survey.status", "NEW.created_at", "NEW.status"),
            ),
        ),
        Trigger(
            "report_survey_answered",
            "survey_responses",
            "INSERT",
            None,
            (
                "INSERT INTO report_count_events (kind, at, key1, key2, n, rolled)"
                " SELECT 'survey.answer', s.created_at,"
                " CASE WHEN NEW.overall >= 4 THEN 'satisfied' ELSE '' END,"
                " CASE WHEN NEW.dissatisfied THEN 'dissatisfied' ELSE '' END, 1, false"
                " FROM surveys AS s WHERE s.id = NEW.survey_id",
            ),
        ),
    )


def _create_triggers() -> None:
    for t in _triggers():
        body = ";\n".join(t.body) + ";"
        if _pg():
            op.execute(
                f"CREATE FUNCTION {t.name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                f"BEGIN\n{body}\nRETURN NULL;\nEND\n$$"
            )
            when = f" WHEN ({t.when})" if t.when else ""
            op.execute(
                f"CREATE TRIGGER {t.name} AFTER {t.event} ON {t.table} FOR EACH ROW{when}"
                f" EXECUTE FUNCTION {t.name}()"
            )
        else:
            when = f" WHEN {t.when}" if t.when else ""
            op.execute(
                f"CREATE TRIGGER {t.name} AFTER {t.event} ON {t.table} FOR EACH ROW{when}\n"
                f"BEGIN\n{body}\nEND"
            )


def _drop_triggers() -> None:
    for t in _triggers():
        if _pg():
            op.execute(f"DROP TRIGGER IF EXISTS {t.name} ON {t.table}")
            op.execute(f"DROP FUNCTION IF EXISTS {t.name}()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {t.name}")


# --- the back-fill ------------------------------------------------------------------------


def _backfill() -> None:
    """What happened before this migration: decided clocks (their current cycles; the
    earlier cycles of reopened clocks were not kept), created orders and complaints,
    surveys and answers, and first resolutions, with the first-contact columns from the
    timeline (an assignment to the same person again counts as one more)."""
    op.execute(
        f"INSERT INTO report_clock_outcomes ({_OUTCOME_COLUMNS})"
        + _outcome_select("k", "sla_clocks AS k")
        + " WHERE k.met_at IS NOT NULL OR k.breached_at IS NOT NULL OR k.state = 'cancelled'"
    )
    counts = "INSERT INTO report_count_events (kind, at, key1, key2, n, rolled) "
    op.execute(
        counts + "SELECT 'work_order.created', created_at, COALESCE(priority, ''),"
        " COALESCE(category, ''), 1, false FROM work_orders"
    )
    op.execute(counts + "SELECT 'complaint.created', created_at, '', '', 1, false FROM complaints")
    op.execute(counts + "SELECT 'survey.status', created_at, status, '', 1, false FROM surveys")
    op.execute(
        counts + "SELECT 'survey.answer', s.created_at,"
        " CASE WHEN r.overall >= 4 THEN 'satisfied' ELSE '' END,"
        " CASE WHEN r.dissatisfied THEN 'dissatisfied' ELSE '' END, 1, false"
        " FROM survey_responses AS r JOIN surveys AS s ON s.id = r.survey_id"
    )
    named = (
        "(t.changes ? 'assignee_id')"
        if _pg()
        else "(json_extract(t.changes, '$.assignee_id') IS NOT NULL)"
    )
    op.execute(
        "UPDATE work_orders SET first_assignee_id = assignee_id,"
        " assignments = (SELECT count(*) FROM timeline_events AS t"
        " WHERE t.subject_type = 'work_order' AND t.subject_id = work_orders.id"
        f" AND (t.type = 'assigned' OR (t.type = 'created' AND {named})))"
    )

    def first(kind: str) -> str:
        return (
            "(SELECT min(t.created_at) FROM timeline_events AS t WHERE t.subject_type ="
            f" 'work_order' AND t.subject_id = w.id AND t.type = '{kind}')"
        )

    resolved = f"COALESCE({first('resolved')}, w.resolved_at)"
    op.execute(
        f"INSERT INTO report_first_resolutions ({_RESOLUTION_COLUMNS}) SELECT "
        + _resolution_values("w", resolved, first("reopened"))
        + f" FROM work_orders AS w WHERE {resolved} IS NOT NULL"
    )
    op.execute(
        counts + "SELECT 'resolution.first', resolved_at, COALESCE(category, ''),"
        " CASE WHEN by_first_assignee THEN 'by_first_assignee' ELSE '' END, 1, false"
        " FROM report_first_resolutions"
    )


# --- the schema ---------------------------------------------------------------------------


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, UtcDateTime(timezone=True), nullable=nullable)


def _counts() -> list[sa.Column]:  # type: ignore[type-arg]
    return [sa.Column(n, sa.Integer(), nullable=False) for n in ("met", "breached", "cancelled")]


def _unrolled(batch_op: object, name: str, columns: list[str]) -> None:
    batch_op.create_index(  # type: ignore[attr-defined]
        name,
        columns,
        unique=False,
        postgresql_where=sa.text("rolled = false"),
        sqlite_where=sa.text("rolled = 0"),
    )


def upgrade() -> None:
    op.create_table(
        "report_clock_outcomes",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("clock_id", sa.Uuid(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("subject_type", sa.String(length=30), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("target", sa.String(length=30), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        _ts("decided_at"),
        _ts("due_at", True),
        sa.Column("policy_id", sa.Uuid(), nullable=True),
        sa.Column("calendar_id", sa.Uuid(), nullable=True),
        sa.Column("priority", sa.String(length=20), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        sa.Column("rolled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_clock_outcomes")),
        sa.UniqueConstraint(
            "clock_id", "cycle", name=op.f("uq_report_clock_outcomes_clock_id_cycle")
        ),
    )
    with op.batch_alter_table("report_clock_outcomes", schema=None) as batch_op:
        batch_op.create_index("ix_report_clock_outcomes_decided_at", ["decided_at"], unique=False)
        _unrolled(batch_op, "ix_report_clock_outcomes_unrolled", ["decided_at"])
        _unrolled(batch_op, "ix_report_clock_outcomes_unrolled_id", ["id"])
    op.create_table(
        "report_sla_hourly",
        _ts("hour"),
        sa.Column("subject_type", sa.String(length=30), nullable=False),
        sa.Column("target", sa.String(length=30), nullable=False),
        *_counts(),
        sa.PrimaryKeyConstraint(
            "hour", "subject_type", "target", name=op.f("pk_report_sla_hourly")
        ),
    )
    op.create_table(
        "report_sla_daily",
        sa.Column("dims", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("subject_type", sa.String(length=30), nullable=False),
        sa.Column("target", sa.String(length=30), nullable=False),
        sa.Column("key1", sa.String(length=100), nullable=False),
        sa.Column("key2", sa.String(length=100), nullable=False),
        *_counts(),
        sa.PrimaryKeyConstraint(
            "dims",
            "day",
            "subject_type",
            "target",
            "key1",
            "key2",
            name=op.f("pk_report_sla_daily"),
        ),
    )
    op.create_table(
        "report_count_events",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        _ts("at"),
        sa.Column("key1", sa.String(length=100), nullable=False),
        sa.Column("key2", sa.String(length=100), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("rolled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_count_events")),
    )
    with op.batch_alter_table("report_count_events", schema=None) as batch_op:
        batch_op.create_index("ix_report_count_events_kind_at", ["kind", "at"], unique=False)
        _unrolled(batch_op, "ix_report_count_events_unrolled", ["kind", "at"])
        _unrolled(batch_op, "ix_report_count_events_unrolled_id", ["id"])
    op.create_table(
        "report_counts_daily",
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("key1", sa.String(length=100), nullable=False),
        sa.Column("key2", sa.String(length=100), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "day", "key1", "key2", name=op.f("pk_report_counts_daily")),
    )
    op.create_table(
        "report_first_resolutions",
        sa.Column("work_order_id", sa.Uuid(), nullable=False),
        _ts("resolved_at"),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("by_first_assignee", sa.Boolean(), nullable=False),
        _ts("reopened_at", True),
        *(
            sa.Column(step, sa.Integer(), nullable=True)
            for step in (
                "reported_to_responded",
                "responded_to_arrived",
                "arrived_to_resolved",
                "reported_to_resolved",
            )
        ),
        sa.PrimaryKeyConstraint("work_order_id", name=op.f("pk_report_first_resolutions")),
    )
    with op.batch_alter_table("report_first_resolutions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_report_first_resolutions_resolved_at",
            [
                "resolved_at",
                "reported_to_responded",
                "responded_to_arrived",
                "arrived_to_resolved",
                "reported_to_resolved",
            ],
            unique=False,
        )
        batch_op.create_index(
            "ix_report_first_resolutions_reopened",
            ["resolved_at", "category", "by_first_assignee", "reopened_at"],
            unique=False,
            postgresql_where=sa.text("reopened_at IS NOT NULL"),
            sqlite_where=sa.text("reopened_at IS NOT NULL"),
        )
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_assignee_id", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("assignments", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
    with op.batch_alter_table("sla_clocks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sla_clocks_undecided",
            ["subject_type", "target", "started_at"],
            unique=False,
            postgresql_where=sa.text("state IN ('pending', 'running', 'paused')"),
            sqlite_where=sa.text("state IN ('pending', 'running', 'paused')"),
        )
    with op.batch_alter_table("timeline_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_timeline_events_staff_type_created_at",
            ["type", "created_at"],
            unique=False,
            postgresql_where=sa.text("subject_type = 'staff'"),
            sqlite_where=sa.text("subject_type = 'staff'"),
        )
    _backfill()
    # Last: the back-fill above has recorded what happened before.
    _create_triggers()


def downgrade() -> None:
    _drop_triggers()
    with op.batch_alter_table("timeline_events", schema=None) as batch_op:
        batch_op.drop_index("ix_timeline_events_staff_type_created_at")
    with op.batch_alter_table("sla_clocks", schema=None) as batch_op:
        batch_op.drop_index("ix_sla_clocks_undecided")
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.drop_column("assignments")
        batch_op.drop_column("first_assignee_id")
    for table in (
        "report_first_resolutions",
        "report_counts_daily",
        "report_count_events",
        "report_sla_daily",
        "report_sla_hourly",
        "report_clock_outcomes",
    ):
        op.drop_table(table)
