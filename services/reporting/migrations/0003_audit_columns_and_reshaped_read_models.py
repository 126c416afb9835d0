"""The audit log's search columns in the archive (`actor`, `correlation_id`, filled from
each event's metadata) and its page order; read models reshaped for members' dated
standing, the cell each rating counts in, tasks still open and the ratings distribution.

The reshaped read models (members, member_years, cell_periods, node_periods) are derived
from the archive: they are made anew, empty, and projected again from the archive
(reporting does it when it starts, asked by revision 0004; `chibo rebuild` also does). Each
change is made only where missing: operators ran these by hand from the notes in
docs/operations.md before migrations existed.

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

schema_marks: tuple[str, ...] = (
    "archive.actor",
    "archive.correlation_id",
    "members.standing",
    "member_years.rated_cell_id",
    "cell_periods.tasks_open",
    "node_periods.tasks_open",
)

#: Per reshaped read model, a column only its new shape has.
NEW_SHAPE = {
    "members": "standing",
    "member_years": "rated_cell_id",
    "cell_periods": "tasks_open",
    "node_periods": "tasks_open",
}

REBUILD = (
    "reporting: các bảng báo cáo {tables} đã đổi dạng và đang trống "
    "(reporting's read models {tables} were reshaped and are empty)"
)


def upgrade() -> None:
    _archive_search_columns()
    reshaped = [table for table, column in NEW_SHAPE.items() if column not in ops.columns(table)]
    for table in reshaped:
        op.drop_table(table)
        CREATE[table]()
    archived = op.get_bind().execute(sa.text("SELECT 1 FROM archive LIMIT 1")).first()
    if reshaped and archived:
        # Revision 0004 asks the service to rebuild them when it starts.
        ops.follow_up(REBUILD.format(tables=", ".join(reshaped)))


def _archive_search_columns() -> None:
    ops.add_columns_if_missing(
        "archive",
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("correlation_id", sa.String(length=100), nullable=True),
    )
    dialect = op.get_bind().dialect.name
    field = _json_field_postgresql if dialect == "postgresql" else _json_field_sqlite
    op.execute(
        f"UPDATE archive SET actor = {field('actor', 200)}, "
        f"correlation_id = {field('correlation_id', 100)} "
        "WHERE actor IS NULL AND correlation_id IS NULL"
    )
    ops.create_index_if_missing("ix_archive_actor", "archive", ["actor"])
    ops.create_index_if_missing("ix_archive_correlation_id", "archive", ["correlation_id"])
    ops.create_index_if_missing("archive_newest", "archive", ["recorded_at", "source", "position"])


def _json_field_postgresql(key: str, length: int) -> str:
    """The metadata's `key` as the projector copies it: a string that fits, else NULL."""
    return (
        f"CASE WHEN json_typeof(metadata::json->'{key}') = 'string' "
        f"AND length(metadata::json->>'{key}') <= {length} "
        f"THEN metadata::json->>'{key}' END"
    )


def _json_field_sqlite(key: str, length: int) -> str:
    return (
        f"CASE WHEN json_type(metadata, '$.{key}') = 'text' "
        f"AND length(json_extract(metadata, '$.{key}')) <= {length} "
        f"THEN json_extract(metadata, '$.{key}') END"
    )


def _create_members() -> None:
    op.create_table(
        "members",
        sa.Column("member_id", sa.String(length=100), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("cell_id", sa.String(length=100), nullable=True),
        sa.Column("admitted_on", sa.String(length=10), nullable=False),
        sa.Column("standing", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("member_id"),
    )
    op.create_index("ix_members_cell_id", "members", ["cell_id"], unique=False)


def _create_member_years() -> None:
    op.create_table(
        "member_years",
        sa.Column("member_id", sa.String(length=100), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("meetings_due", sa.Integer(), nullable=False),
        sa.Column("present", sa.Integer(), nullable=False),
        sa.Column("excused", sa.Integer(), nullable=False),
        sa.Column("unexcused", sa.Integer(), nullable=False),
        sa.Column("rating", sa.String(length=20), nullable=True),
        sa.Column("rated_cell_id", sa.String(length=100), nullable=True),
        sa.Column("removal_flagged", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("member_id", "year"),
    )
    op.create_index(
        "member_years_rated_cell", "member_years", ["rated_cell_id", "year"], unique=False
    )


def _create_cell_periods() -> None:
    op.create_table(
        "cell_periods",
        sa.Column("cell_id", sa.String(length=100), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("kind", sa.String(length=7), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("months_met", sa.Integer(), nullable=False),
        sa.Column("meetings", sa.Integer(), nullable=False),
        sa.Column("regular_meetings", sa.Integer(), nullable=False),
        sa.Column("thematic_meetings", sa.Integer(), nullable=False),
        sa.Column("thematic_held", sa.Integer(), nullable=False),
        sa.Column("members_counted", sa.Integer(), nullable=False),
        sa.Column("members_present", sa.Integer(), nullable=False),
        sa.Column("unexcused", sa.Integer(), nullable=False),
        sa.Column("duration_total", sa.Integer(), nullable=False),
        sa.Column("duration_meetings", sa.Integer(), nullable=False),
        sa.Column("q_good", sa.Integer(), nullable=False),
        sa.Column("q_fair", sa.Integer(), nullable=False),
        sa.Column("q_average", sa.Integer(), nullable=False),
        sa.Column("q_poor", sa.Integer(), nullable=False),
        sa.Column("q_unscored", sa.Integer(), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("visited", sa.Integer(), nullable=False),
        sa.Column("tasks_due", sa.Integer(), nullable=False),
        sa.Column("tasks_completed", sa.Integer(), nullable=False),
        sa.Column("tasks_open", sa.Integer(), nullable=False),
        sa.Column("rated_excellent", sa.Integer(), nullable=False),
        sa.Column("rated_good", sa.Integer(), nullable=False),
        sa.Column("rated_complete", sa.Integer(), nullable=False),
        sa.Column("rated_failed", sa.Integer(), nullable=False),
        sa.Column("then_path", sa.Text(), nullable=False),
        sa.Column("today_path", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("cell_id", "period"),
    )
    op.create_index("cell_periods_period", "cell_periods", ["period"], unique=False)


def _create_node_periods() -> None:
    op.create_table(
        "node_periods",
        sa.Column("grouping", sa.String(length=5), nullable=False),
        sa.Column("node_id", sa.String(length=100), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("cells", sa.Integer(), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("months_met", sa.Integer(), nullable=False),
        sa.Column("meetings", sa.Integer(), nullable=False),
        sa.Column("regular_meetings", sa.Integer(), nullable=False),
        sa.Column("thematic_meetings", sa.Integer(), nullable=False),
        sa.Column("thematic_held", sa.Integer(), nullable=False),
        sa.Column("members_counted", sa.Integer(), nullable=False),
        sa.Column("members_present", sa.Integer(), nullable=False),
        sa.Column("unexcused", sa.Integer(), nullable=False),
        sa.Column("duration_total", sa.Integer(), nullable=False),
        sa.Column("duration_meetings", sa.Integer(), nullable=False),
        sa.Column("q_good", sa.Integer(), nullable=False),
        sa.Column("q_fair", sa.Integer(), nullable=False),
        sa.Column("q_average", sa.Integer(), nullable=False),
        sa.Column("q_poor", sa.Integer(), nullable=False),
        sa.Column("q_unscored", sa.Integer(), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("visited", sa.Integer(), nullable=False),
        sa.Column("tasks_due", sa.Integer(), nullable=False),
        sa.Column("tasks_completed", sa.Integer(), nullable=False),
        sa.Column("tasks_open", sa.Integer(), nullable=False),
        sa.Column("rated_excellent", sa.Integer(), nullable=False),
        sa.Column("rated_good", sa.Integer(), nullable=False),
        sa.Column("rated_complete", sa.Integer(), nullable=False),
        sa.Column("rated_failed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("grouping", "node_id", "period"),
    )


CREATE = {
    "members": _create_members,
    "member_years": _create_member_years,
    "cell_periods": _create_cell_periods,
    "node_periods": _create_node_periods,
}
