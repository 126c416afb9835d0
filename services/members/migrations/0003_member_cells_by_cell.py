"""The links of members to cells get an index by cell (`member_cells_by_cell`): a roll
and a cell's dissolution or merger ask for the cell's members, and without it each
read the whole table.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from chibo.migrate import ops

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# An index only: a database without it is told from 0002 by nothing, so this revision
# runs again on it, which creating only a missing index allows.
schema_marks: tuple[str, ...] = ()


def upgrade() -> None:
    ops.create_index_if_missing("member_cells_by_cell", "member_cells", ["cell_id", "member_id"])
