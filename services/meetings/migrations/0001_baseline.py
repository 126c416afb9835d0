"""Baseline: meetings's tables as commit c3d112c made them with create_all.

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
    "replica_member_cells",
    "replica_member_events",
    "replica_units",
    "held_meetings",
    "tasks_index",
)


def upgrade() -> None:
    op.create_table(
        "replica_member_cells",
        sa.Column("member_id", sa.String(length=100), nullable=False),
        sa.Column("cell_id", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("member_id", "cell_id"),
    )
    op.create_table(
        "replica_member_events",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("member_id", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("position"),
    )
    op.create_index(
        op.f("ix_replica_member_events_member_id"),
        "replica_member_events",
        ["member_id"],
        unique=False,
    )
    op.create_table(
        "replica_units",
        sa.Column("unit_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("established_on", sa.Date(), nullable=False),
        sa.Column("dissolved_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("unit_id"),
    )
    op.create_table(
        "held_meetings",
        sa.Column("meeting_id", sa.String(length=100), nullable=False),
        sa.Column("cell_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("meeting_id"),
    )
    op.create_index(op.f("ix_held_meetings_cell_id"), "held_meetings", ["cell_id"], unique=False)
    op.create_table(
        "tasks_index",
        sa.Column("task_id", sa.String(length=100), nullable=False),
        sa.Column("cell_id", sa.String(length=100), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("task_id"),
    )
    op.create_index(op.f("ix_tasks_index_cell_id"), "tasks_index", ["cell_id"], unique=False)
    op.create_index(op.f("ix_tasks_index_due_on"), "tasks_index", ["due_on"], unique=False)
