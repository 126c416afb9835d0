"""Baseline: members's tables as commit c3d112c made them with create_all.

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
    "member_cells",
    "members_index",
)


def upgrade() -> None:
    op.create_table(
        "member_cells",
        sa.Column("member_id", sa.String(length=100), nullable=False),
        sa.Column("cell_id", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("member_id", "cell_id"),
    )
    op.create_table(
        "members_index",
        sa.Column("member_id", sa.String(length=100), nullable=False),
        sa.Column("member_code", sa.String(length=40), nullable=True),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("cell_id", sa.String(length=100), nullable=True),
        sa.Column("admitted_on", sa.Date(), nullable=False),
        sa.Column("full_since", sa.Date(), nullable=True),
        sa.Column("removed_on", sa.Date(), nullable=True),
        sa.Column("reminded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("member_id"),
        sa.UniqueConstraint("member_code"),
    )
    op.create_index(op.f("ix_members_index_cell_id"), "members_index", ["cell_id"], unique=False)
