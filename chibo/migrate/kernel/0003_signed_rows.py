"""Signed rows and commitments: each row records its hash form, the salts of its
private fields' commitments, and the service's signature over its hash (see
chibo/eventstore/signing.py). Rows already written keep form 1 and no signature;
verification checks each row by its own form.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

schema_marks: tuple[str, ...] = ("events.hash_form", "events.salts", "events.key_id",
                                 "events.signature")


def upgrade() -> None:
    op.add_column("events", sa.Column("hash_form", sa.Integer(), nullable=False,
                                      server_default="1"))
    op.add_column("events", sa.Column("salts", sa.Text(), nullable=True))
    op.add_column("events", sa.Column("key_id", sa.String(length=16), nullable=True))
    op.add_column("events", sa.Column("signature", sa.String(length=100), nullable=True))
