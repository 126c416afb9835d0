"""What checks an archived event on its content: its stream version, the previous row's
hash, its hash form, the commitments of its private fields, the key id and signature its
source signed it with (chibo/eventstore/signing.py), beside the hash the archive already
kept. The hash may now be NULL: a source does not publish a hash that covers private
values. Rows archived before keep NULLs in the new columns and are checked on their hash
alone.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chibo.migrate import ops

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

schema_marks: tuple[str, ...] = ("archive.stream_version", "archive.prev_hash",
                                 "archive.hash_form", "archive.commitments",
                                 "archive.key_id", "archive.signature")


def upgrade() -> None:
    ops.add_columns_if_missing(
        "archive",
        sa.Column("stream_version", sa.Integer(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=True),
        sa.Column("hash_form", sa.Integer(), nullable=True),
        sa.Column("commitments", sa.Text(), nullable=True),
        sa.Column("key_id", sa.String(length=16), nullable=True),
        sa.Column("signature", sa.String(length=100), nullable=True),
    )
    hash_column = next(column for column in sa.inspect(op.get_bind()).get_columns("archive")
                       if column["name"] == "hash")
    if not hash_column["nullable"]:  # SQLite copies the whole table to change it: once
        with op.batch_alter_table("archive") as batch:
            batch.alter_column("hash", existing_type=sa.String(length=64), nullable=True)
