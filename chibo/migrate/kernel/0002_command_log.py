"""The command log: one row per command id a caller sent, with the answer it got.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

schema_marks: tuple[str, ...] = ("command_log",)


def upgrade() -> None:
    op.create_table(
        "command_log",
        sa.Column("command_id", sa.String(length=64), autoincrement=False, nullable=False),
        sa.Column("command", sa.String(length=100), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("command_id"),
    )
