"""Make-up meetings among the facts, and escalations that carry their facts (`details`);
escalations' period and subject as wide as overdue tasks need.

Each change is made only where missing: operators ran these by hand from the notes in
docs/operations.md before migrations existed.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chibo.migrate import ops

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

schema_marks: tuple[str, ...] = ("fact_make_ups", "escalations.details")


def upgrade() -> None:
    # An overdue task's escalation has the task's id as its period, its title as subject.
    ops.widen_varchar("escalations", "period", 100)
    ops.widen_varchar("escalations", "subject_name", None)
    ops.add_columns_if_missing("escalations", sa.Column("details", sa.Text(), nullable=True))
    if not ops.has_table("fact_make_ups"):
        op.create_table(
            "fact_make_ups",
            sa.Column("meeting_id", sa.String(length=100), nullable=False),
            sa.Column("cell_id", sa.String(length=100), nullable=False),
            sa.Column("month", sa.String(length=7), nullable=False),
            sa.Column("position", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("meeting_id"),
        )
    ops.create_index_if_missing("ix_fact_make_ups_cell_id", "fact_make_ups", ["cell_id"])
    ops.create_index_if_missing("ix_fact_make_ups_month", "fact_make_ups", ["month"])
