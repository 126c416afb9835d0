"""The roster replica's links of members to cells get an index by cell
(`replica_member_cells_by_cell`): every roll asks for one cell's members, and without
it each roll read the whole table.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from chibo.migrate import ops

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# An index only: a database without it is told from 0003 by nothing, so this revision
# runs again on it, which creating only a missing index allows.
schema_marks: tuple[str, ...] = ()


def upgrade() -> None:
    ops.create_index_if_missing("replica_member_cells_by_cell", "replica_member_cells",
                                ["cell_id", "member_id"])
