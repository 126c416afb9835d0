"""The roster replica keeps the tree's events (`replica_unit_events`): where each unit
sits as the tree stands on a day, for the scope of a caller's grants.

A database that already applied members' events has none of them, and nothing it holds
says where its units sit. Its roster replica is derived from members' log, so it is
emptied and the feed's watermark on members goes back to 0: on its next start the
service's feed reads members' log from the beginning (it catches up at once on start,
and every command that names a cell it does not know syncs first) and fills the replica
again, tree events included. Until it has, callers limited to a subtree are refused
(their targets cannot be placed yet); callers with a whole-tree grant are not affected.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chibo.migrate import ops

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

schema_marks: tuple[str, ...] = ("replica_unit_events",)

#: The roster replica's tables, emptied together: the feed fills them again in one pass.
REPLICA_TABLES = ("replica_member_cells", "replica_member_events", "replica_units")
SOURCE = "members"


def upgrade() -> None:
    if not ops.has_table("replica_unit_events"):
        op.create_table(
            "replica_unit_events",
            sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column("type", sa.String(length=60), nullable=False),
            sa.Column("data", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("position"),
        )
    bind = op.get_bind()
    applied = bind.execute(sa.text("SELECT position FROM feed_watermarks WHERE source = :s"),
                           {"s": SOURCE}).scalar()
    has_tree = bind.execute(sa.text("SELECT 1 FROM replica_unit_events LIMIT 1")).first()
    if not applied or has_tree:
        return
    for table in REPLICA_TABLES:
        bind.execute(sa.text(f"DELETE FROM {table}"))  # noqa: S608 - names above, not input
    bind.execute(sa.text("UPDATE feed_watermarks SET position = 0 WHERE source = :s"),
                 {"s": SOURCE})
    ops.follow_up(
        "meetings: bản sao danh sách đảng viên sẽ được dựng lại từ nhật ký của members khi "
        "dịch vụ khởi động (the roster replica is refilled from members' log, the tree's "
        "events included, when the service starts)")
