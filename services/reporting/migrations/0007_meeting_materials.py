"""The documents attached to meetings (`materials`): one row per meeting and file hash,
projected from `material_attached`. New, and no event of that type was archived before
it, so nothing needs projecting again.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chibo.migrate import ops

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

schema_marks: tuple[str, ...] = ("materials",)


def upgrade() -> None:
    if not ops.has_table("materials"):
        op.create_table(
            "materials",
            sa.Column("meeting_id", sa.String(length=100), nullable=False),
            sa.Column("sha256", sa.String(length=64), nullable=False),
            sa.Column("cell_id", sa.String(length=100), nullable=False),
            sa.Column("file_name", sa.Text(), nullable=False),
            sa.Column("media_type", sa.String(length=100), nullable=False),
            sa.Column("size", sa.BigInteger(), nullable=False),
            sa.Column("uploaded_by", sa.String(length=200), nullable=True),
            sa.Column("uploaded_at", sa.String(length=32), nullable=False),
            sa.PrimaryKeyConstraint("meeting_id", "sha256"),
        )
