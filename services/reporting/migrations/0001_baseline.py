"""Baseline: reporting's tables as commit c3d112c made them with create_all.

Written by Alembic's autogenerate from that commit's MetaData against an empty database;
a database any later version made without migrations is recognised from here on.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

schema_marks: tuple[str, ...] = (
    "archive",
    "cell_periods",
    "escalations",
    "meetings",
    "member_years",
    "members",
    "node_escalations",
    "node_periods",
    "opened_months",
    "resolutions",
    "tasks",
    "units",
    "visits",
    "audit_checks",
)


def upgrade() -> None:
    op.create_table(
        "archive",
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("stream_id", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("metadata", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.String(length=32), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("source", "position"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index(
        "archive_tree_events",
        "archive",
        ["source", "position"],
        unique=False,
        postgresql_where=sa.text(
            "type IN ('unit_established', 'unit_renamed', 'unit_moved', 'unit_dissolved')"
        ),
        sqlite_where=sa.text(
            "type IN ('unit_established', 'unit_renamed', 'unit_moved', 'unit_dissolved')"
        ),
    )
    op.create_index(op.f("ix_archive_recorded_at"), "archive", ["recorded_at"], unique=False)
    op.create_index(op.f("ix_archive_stream_id"), "archive", ["stream_id"], unique=False)
    op.create_index(op.f("ix_archive_type"), "archive", ["type"], unique=False)
    op.create_table(
        "cell_periods",
        sa.Column("cell_id", sa.String(length=100), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("kind", sa.String(length=7), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("months_met", sa.Integer(), nullable=False),
        sa.Column("meetings", sa.Integer(), nullable=False),
        sa.Column("regular_meetings", sa.Integer(), nullable=False),
        sa.Column("thematic_meetings", sa.Integer(), nullable=False),
        sa.Column("thematic_held", sa.Integer(), nullable=False),
        sa.Column("members_counted", sa.Integer(), nullable=False),
        sa.Column("members_present", sa.Integer(), nullable=False),
        sa.Column("unexcused", sa.Integer(), nullable=False),
        sa.Column("duration_total", sa.Integer(), nullable=False),
        sa.Column("duration_meetings", sa.Integer(), nullable=False),
        sa.Column("q_good", sa.Integer(), nullable=False),
        sa.Column("q_fair", sa.Integer(), nullable=False),
        sa.Column("q_average", sa.Integer(), nullable=False),
        sa.Column("q_poor", sa.Integer(), nullable=False),
        sa.Column("q_unscored", sa.Integer(), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("visited", sa.Integer(), nullable=False),
        sa.Column("tasks_due", sa.Integer(), nullable=False),
        sa.Column("tasks_completed", sa.Integer(), nullable=False),
        sa.Column("tasks_overdue", sa.Integer(), nullable=False),
        sa.Column("then_path", sa.Text(), nullable=False),
        sa.Column("today_path", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("cell_id", "period"),
    )
    op.create_index("cell_periods_period", "cell_periods", ["period"], unique=False)
    op.create_table(
        "escalations",
        sa.Column("escalation_id", sa.String(length=100), nullable=False),
        sa.Column("rule", sa.String(length=50), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("target_unit_id", sa.String(length=100), nullable=False),
        sa.Column("target_name", sa.String(length=200), nullable=False),
        sa.Column("subject_id", sa.String(length=100), nullable=False),
        sa.Column("subject_name", sa.Text(), nullable=False),
        sa.Column("cell_id", sa.String(length=100), nullable=False),
        sa.Column("period", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raised_on", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("acknowledged_on", sa.String(length=10), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.Column("resolved_on", sa.String(length=10), nullable=True),
        sa.Column("resolved_how", sa.Text(), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("escalation_id"),
    )
    op.create_index(op.f("ix_escalations_cell_id"), "escalations", ["cell_id"], unique=False)
    op.create_index(op.f("ix_escalations_state"), "escalations", ["state"], unique=False)
    op.create_index(op.f("ix_escalations_subject_id"), "escalations", ["subject_id"], unique=False)
    op.create_table(
        "meetings",
        sa.Column("meeting_id", sa.String(length=100), nullable=False),
        sa.Column("cell_id", sa.String(length=100), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("held_on", sa.String(length=10), nullable=False),
        sa.Column("topic", sa.Text(), nullable=True),
        sa.Column("place", sa.Text(), nullable=True),
        sa.Column("started_at", sa.String(length=8), nullable=True),
        sa.Column("ended_at", sa.String(length=8), nullable=True),
        sa.Column("duration_minutes", sa.Integer(), nullable=True),
        sa.Column("chair_id", sa.String(length=100), nullable=True),
        sa.Column("minutes_taker_id", sa.String(length=100), nullable=True),
        sa.Column("agenda", sa.Text(), nullable=False),
        sa.Column("speakers", sa.Text(), nullable=False),
        sa.Column("minutes", sa.Text(), nullable=True),
        sa.Column("conclusion", sa.Text(), nullable=True),
        sa.Column("attendance", sa.Text(), nullable=False),
        sa.Column("members_counted", sa.Integer(), nullable=False),
        sa.Column("members_present", sa.Integer(), nullable=False),
        sa.Column("unexcused", sa.Integer(), nullable=False),
        sa.Column("self_level", sa.String(length=20), nullable=True),
        sa.Column("visit_level", sa.String(length=20), nullable=True),
        sa.Column("flags", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("meeting_id"),
    )
    op.create_index("meetings_cell_month", "meetings", ["cell_id", "month"], unique=False)
    op.create_index("meetings_month", "meetings", ["month"], unique=False)
    op.create_table(
        "member_years",
        sa.Column("member_id", sa.String(length=100), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("meetings_due", sa.Integer(), nullable=False),
        sa.Column("present", sa.Integer(), nullable=False),
        sa.Column("excused", sa.Integer(), nullable=False),
        sa.Column("unexcused", sa.Integer(), nullable=False),
        sa.Column("rating", sa.String(length=20), nullable=True),
        sa.Column("removal_flagged", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("member_id", "year"),
    )
    op.create_table(
        "members",
        sa.Column("member_id", sa.String(length=100), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("cell_id", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("admitted_on", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("member_id"),
    )
    op.create_index(op.f("ix_members_cell_id"), "members", ["cell_id"], unique=False)
    op.create_table(
        "node_escalations",
        sa.Column("node_id", sa.String(length=100), nullable=False),
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("open", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("node_id", "level"),
    )
    op.create_table(
        "node_periods",
        sa.Column("grouping", sa.String(length=5), nullable=False),
        sa.Column("node_id", sa.String(length=100), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("cells", sa.Integer(), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("months_met", sa.Integer(), nullable=False),
        sa.Column("meetings", sa.Integer(), nullable=False),
        sa.Column("regular_meetings", sa.Integer(), nullable=False),
        sa.Column("thematic_meetings", sa.Integer(), nullable=False),
        sa.Column("thematic_held", sa.Integer(), nullable=False),
        sa.Column("members_counted", sa.Integer(), nullable=False),
        sa.Column("members_present", sa.Integer(), nullable=False),
        sa.Column("unexcused", sa.Integer(), nullable=False),
        sa.Column("duration_total", sa.Integer(), nullable=False),
        sa.Column("duration_meetings", sa.Integer(), nullable=False),
        sa.Column("q_good", sa.Integer(), nullable=False),
        sa.Column("q_fair", sa.Integer(), nullable=False),
        sa.Column("q_average", sa.Integer(), nullable=False),
        sa.Column("q_poor", sa.Integer(), nullable=False),
        sa.Column("q_unscored", sa.Integer(), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("visited", sa.Integer(), nullable=False),
        sa.Column("tasks_due", sa.Integer(), nullable=False),
        sa.Column("tasks_completed", sa.Integer(), nullable=False),
        sa.Column("tasks_overdue", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("grouping", "node_id", "period"),
    )
    op.create_table(
        "opened_months",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.PrimaryKeyConstraint("month"),
    )
    op.create_table(
        "resolutions",
        sa.Column("resolution_id", sa.String(length=100), nullable=False),
        sa.Column("meeting_id", sa.String(length=100), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("vote", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("resolution_id"),
    )
    op.create_index(op.f("ix_resolutions_meeting_id"), "resolutions", ["meeting_id"], unique=False)
    op.create_table(
        "tasks",
        sa.Column("task_id", sa.String(length=100), nullable=False),
        sa.Column("cell_id", sa.String(length=100), nullable=False),
        sa.Column("meeting_id", sa.String(length=100), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("assignee_name", sa.String(length=200), nullable=False),
        sa.Column("due_on", sa.String(length=10), nullable=False),
        sa.Column("due_month", sa.String(length=7), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("completed_on", sa.String(length=10), nullable=True),
        sa.PrimaryKeyConstraint("task_id"),
    )
    op.create_index(op.f("ix_tasks_cell_id"), "tasks", ["cell_id"], unique=False)
    op.create_index(op.f("ix_tasks_due_month"), "tasks", ["due_month"], unique=False)
    op.create_index(op.f("ix_tasks_meeting_id"), "tasks", ["meeting_id"], unique=False)
    op.create_table(
        "units",
        sa.Column("unit_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("parent_id", sa.String(length=100), nullable=True),
        sa.Column("is_cell", sa.Boolean(), nullable=False),
        sa.Column("established_on", sa.String(length=10), nullable=False),
        sa.Column("dissolved_on", sa.String(length=10), nullable=True),
        sa.Column("successor_id", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("unit_id"),
    )
    op.create_table(
        "visits",
        sa.Column("visit_id", sa.String(length=100), nullable=False),
        sa.Column("cell_id", sa.String(length=100), nullable=False),
        sa.Column("meeting_id", sa.String(length=100), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("visitor", sa.String(length=200), nullable=False),
        sa.Column("visited_on", sa.String(length=10), nullable=False),
        sa.Column("confirmed_level", sa.String(length=20), nullable=True),
        sa.Column("comments", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("visit_id"),
    )
    op.create_index(op.f("ix_visits_meeting_id"), "visits", ["meeting_id"], unique=False)
    op.create_index(op.f("ix_visits_month"), "visits", ["month"], unique=False)
    op.create_table(
        "audit_checks",
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=True),
        sa.Column("checked_at", sa.String(length=32), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )
