"""The period reports' jobs and the files they made (`report_jobs`), and the accounts
that asked for each (`report_job_readers`), so that every instance of reporting sees the
same jobs and a restart forgets none (services/reporting/report_jobs.py). New tables:
nothing to move, and a database without them had its jobs in a process's memory.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chibo.migrate import ops

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

schema_marks: tuple[str, ...] = ("report_jobs", "report_job_readers")


def upgrade() -> None:
    if not ops.has_table("report_jobs"):
        op.create_table(
            "report_jobs",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("job_id", sa.String(length=32), nullable=False),
            sa.Column("key_hash", sa.String(length=64), nullable=False),
            sa.Column("format", sa.String(length=8), nullable=False),
            sa.Column("unit_id", sa.String(length=100), nullable=False),
            sa.Column("period", sa.String(length=16), nullable=False),
            sa.Column("grouping", sa.String(length=16), nullable=True),
            sa.Column("lang", sa.String(length=8), nullable=False),
            sa.Column("printed", sa.Text(), nullable=False),
            sa.Column("position", sa.Text(), nullable=False),
            sa.Column("owner", sa.String(length=200), nullable=False),
            sa.Column("title", sa.Text(), nullable=False),
            sa.Column("state", sa.String(length=16), nullable=False),
            sa.Column("claim", sa.String(length=32), nullable=False),
            sa.Column("total_steps", sa.Integer(), nullable=False),
            sa.Column("done_steps", sa.Integer(), nullable=False),
            sa.Column("error", sa.Text(), nullable=True),
            sa.Column("created_at", sa.String(length=32), nullable=False),
            sa.Column("finished_at", sa.String(length=32), nullable=True),
            sa.Column("media_type", sa.String(length=100), nullable=True),
            sa.Column("file_name", sa.Text(), nullable=True),
            sa.Column("body", sa.LargeBinary(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
            # The claim: of two requests for one report, one inserts and makes it.
            sa.UniqueConstraint("key_hash", name="one_job_per_report"),
            sa.UniqueConstraint("job_id", name="report_job_id"),
        )
    if not ops.has_table("report_job_readers"):
        op.create_table(
            "report_job_readers",
            sa.Column("job_id", sa.String(length=32), nullable=False),
            sa.Column("account", sa.String(length=200), nullable=False),
            sa.PrimaryKeyConstraint("job_id", "account"),
        )
