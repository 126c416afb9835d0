"""Baseline: supervision's tables as commit c3d112c made them with create_all.

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
    "fact_absences",
    "fact_meetings",
    "fact_tasks",
    "fact_unit_events",
    "closes",
    "escalations",
    "followers",
    "visits_index",
    "notifications",
)


def upgrade() -> None:
    op.create_table(
        "fact_absences",
        sa.Column("meeting_id", sa.String(length=100), nullable=False),
        sa.Column("member_id", sa.String(length=100), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("cell_id", sa.String(length=100), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("unexcused", sa.Boolean(), nullable=False),
        sa.Column("dues_unpaid", sa.Boolean(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("meeting_id", "member_id"),
    )
    op.create_index(op.f("ix_fact_absences_held_on"), "fact_absences", ["held_on"], unique=False)
    op.create_table(
        "fact_meetings",
        sa.Column("meeting_id", sa.String(length=100), nullable=False),
        sa.Column("cell_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=True),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("meeting_id"),
    )
    op.create_index(op.f("ix_fact_meetings_cell_id"), "fact_meetings", ["cell_id"], unique=False)
    op.create_index(op.f("ix_fact_meetings_held_on"), "fact_meetings", ["held_on"], unique=False)
    op.create_table(
        "fact_tasks",
        sa.Column("task_id", sa.String(length=100), nullable=False),
        sa.Column("cell_id", sa.String(length=100), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("closed_position", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("task_id"),
    )
    op.create_index(op.f("ix_fact_tasks_cell_id"), "fact_tasks", ["cell_id"], unique=False)
    op.create_index(op.f("ix_fact_tasks_due_on"), "fact_tasks", ["due_on"], unique=False)
    op.create_table(
        "fact_unit_events",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("position"),
    )
    op.create_table(
        "closes",
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("period"),
    )
    op.create_table(
        "escalations",
        sa.Column("escalation_id", sa.String(length=36), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("raised_level", sa.Integer(), nullable=False),
        sa.Column("target_unit_id", sa.String(length=100), nullable=False),
        sa.Column("target_name", sa.String(length=200), nullable=False),
        sa.Column("subject_id", sa.String(length=100), nullable=False),
        sa.Column("subject_name", sa.Text(), nullable=False),
        sa.Column("cell_id", sa.String(length=100), nullable=False),
        sa.Column("period", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("raised_on", sa.Date(), nullable=False),
        sa.Column("level_since", sa.Date(), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.Column("resolved_how", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("escalation_id"),
    )
    op.create_index(op.f("ix_escalations_cell_id"), "escalations", ["cell_id"], unique=False)
    op.create_index(op.f("ix_escalations_rule"), "escalations", ["rule"], unique=False)
    op.create_index(op.f("ix_escalations_state"), "escalations", ["state"], unique=False)
    op.create_index(
        op.f("ix_escalations_target_unit_id"), "escalations", ["target_unit_id"], unique=False
    )
    op.create_table(
        "followers",
        sa.Column("assignment_id", sa.String(length=100), nullable=False),
        sa.Column("follower", sa.String(length=200), nullable=False),
        sa.Column("cell_id", sa.String(length=100), nullable=False),
        sa.Column("from_date", sa.Date(), nullable=False),
        sa.Column("until_date", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("assignment_id", "cell_id"),
    )
    op.create_index(op.f("ix_followers_follower"), "followers", ["follower"], unique=False)
    op.create_table(
        "visits_index",
        sa.Column("visit_id", sa.String(length=100), nullable=False),
        sa.Column("cell_id", sa.String(length=100), nullable=False),
        sa.Column("visitor", sa.String(length=200), nullable=False),
        sa.Column("visited_on", sa.Date(), nullable=False),
        sa.Column("meeting_id", sa.String(length=100), nullable=False),
        sa.Column("confirmed_level", sa.String(length=20), nullable=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("visit_id"),
    )
    op.create_index(op.f("ix_visits_index_cell_id"), "visits_index", ["cell_id"], unique=False)
    op.create_index(
        op.f("ix_visits_index_visited_on"), "visits_index", ["visited_on"], unique=False
    )
    op.create_table(
        "notifications",
        sa.Column("notification_id", sa.String(length=36), nullable=False),
        sa.Column("escalation_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("claim", sa.String(length=36), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("notification_id"),
    )
    op.create_index(
        "ix_notifications_due", "notifications", ["state", "next_attempt_at"], unique=False
    )
    op.create_index(
        op.f("ix_notifications_escalation_id"), "notifications", ["escalation_id"], unique=False
    )
