"""Accounts: what signing in checks beside the accounts' events (argon2 password
hashes, second-factor secrets, failed logins and lockouts) and the sign-in attempts
the rate limit counts.

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

schema_marks: tuple[str, ...] = ("account_secrets", "sign_in_attempts")


def upgrade() -> None:
    op.create_table(
        "account_secrets",
        sa.Column("account_id", sa.String(length=100), nullable=False),
        sa.Column("login", sa.String(length=100), nullable=False),
        sa.Column("external_id", sa.String(length=400), nullable=True),
        sa.Column("password_hash", sa.String(length=300), nullable=True),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("totp_pending", sa.String(length=64), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("account_id"),
        sa.UniqueConstraint("login"),
        sa.UniqueConstraint("external_id"),
    )
    op.create_table(
        "sign_in_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("login", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_sign_in_attempts_login"), "sign_in_attempts", ["login"],
                    unique=False)
