"""Escalations that carry their facts (`details`), meetings that say which month they
make up, and the two things pages need that came just before migrations: escalations'
period and subject as wide as overdue tasks need, and the index of tree events.

Each change is made only where missing: operators ran these by hand from the notes in
docs/operations.md before migrations existed.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa

from chibo.migrate import ops

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

schema_marks: tuple[str, ...] = ("escalations.details", "meetings.makes_up_month")

TREE_TYPES = "type IN ('unit_established', 'unit_renamed', 'unit_moved', 'unit_dissolved')"
MADE_UP = "makes_up_month IS NOT NULL"


def upgrade() -> None:
    ops.widen_varchar("escalations", "period", 100)
    ops.widen_varchar("escalations", "subject_name", None)
    ops.create_index_if_missing(
        "archive_tree_events",
        "archive",
        ["source", "position"],
        postgresql_where=sa.text(TREE_TYPES),
        sqlite_where=sa.text(TREE_TYPES),
    )
    ops.add_columns_if_missing("escalations", sa.Column("details", sa.Text(), nullable=True))
    ops.add_columns_if_missing(
        "meetings", sa.Column("makes_up_month", sa.String(length=7), nullable=True)
    )
    ops.create_index_if_missing(
        "meetings_made_up",
        "meetings",
        ["cell_id", "month"],
        postgresql_where=sa.text(MADE_UP),
        sqlite_where=sa.text(MADE_UP),
    )
