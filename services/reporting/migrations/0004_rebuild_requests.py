"""Reporting rebuilds its read models itself: `rebuild_requests` holds the reasons a
migration left, and the service projects the archive again when it starts while a row is
there. A database that 0003 just reshaped (its members read model empty while the archive
holds events) gets one, so upgrading needs no `chibo rebuild` by hand.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chibo.migrate import ops

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

schema_marks: tuple[str, ...] = ("rebuild_requests",)

RESHAPED = "read models reshaped by revision 0003 (members, member_years, cell_periods, " \
           "node_periods)"


def upgrade() -> None:
    if not ops.has_table("rebuild_requests"):
        op.create_table(
            "rebuild_requests",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("reason", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
    bind = op.get_bind()
    archived = bind.execute(sa.text("SELECT 1 FROM archive LIMIT 1")).first()
    members = bind.execute(sa.text("SELECT 1 FROM members LIMIT 1")).first()
    if archived and not members:
        bind.execute(sa.text("INSERT INTO rebuild_requests (reason) VALUES (:reason)"),
                     {"reason": RESHAPED})
        ops.follow_up("reporting: các bảng báo cáo sẽ được dựng lại từ kho lưu trữ khi dịch vụ "
                      "khởi động (reporting rebuilds its read models from the archive when "
                      "it starts)")
