"""Make-up meetings: the month each one makes up, one per cell and month.

Databases made before migrations may have the table without its unique constraint (it
came a little later), so both are made where missing.

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

# No marks: a database that has the table may still lack the constraint, which the
# upgrade adds where it is missing.
schema_marks: tuple[str, ...] = ()

ONE_A_MONTH = "one_make_up_a_month"


def upgrade() -> None:
    if not ops.has_table("make_up_meetings"):
        op.create_table(
            "make_up_meetings",
            sa.Column("meeting_id", sa.String(length=100), nullable=False),
            sa.Column("cell_id", sa.String(length=100), nullable=False),
            sa.Column("month", sa.String(length=7), nullable=False),
            sa.PrimaryKeyConstraint("meeting_id"),
            sa.UniqueConstraint("cell_id", "month", name=ONE_A_MONTH),
        )
    elif not ops.has_unique("make_up_meetings", ONE_A_MONTH):
        # Fails if a cell has two make-ups of one month: those need a person's decision.
        with op.batch_alter_table("make_up_meetings") as batch:
            batch.create_unique_constraint(ONE_A_MONTH, ["cell_id", "month"])
    ops.create_index_if_missing("ix_make_up_meetings_cell_id", "make_up_meetings", ["cell_id"])
