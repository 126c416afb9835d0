"""The audit search's indexes: one per filter (actor, type, stream, source), each the
filter's column followed by the log's newest-first order, so every search reads one
index range in order instead of scanning the whole archive.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from chibo.migrate import ops

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Indexes only: a database without them is told from 0004 by nothing, so this revision
# runs again on it, which creating only the missing indexes allows.
schema_marks: tuple[str, ...] = ()

#: As `services.reporting.read_model.AUDIT_FILTER_INDEXES` declares them.
INDEXES = {
    "archive_actor_newest": ["actor", "recorded_at", "source", "position"],
    "archive_type_newest": ["type", "recorded_at", "source", "position"],
    "archive_stream_newest": ["stream_id", "recorded_at", "source", "position"],
    "archive_source_newest": ["source", "recorded_at", "position"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        ops.create_index_if_missing(name, "archive", columns)
