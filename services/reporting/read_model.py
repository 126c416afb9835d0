"""Reporting's tables: the archive of every event and the read models projected from it.

Every read model is a function of the archive: `chibo rebuild` drops and
recomputes them, and a test holds the live and rebuilt copies equal row for row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
)
from sqlalchemy.orm import Session

metadata = MetaData()

archive = Table(
    "archive", metadata,
    Column("source", String(50), primary_key=True),
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("stream_id", String(200), nullable=False, index=True),
    Column("type", String(100), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("data", Text, nullable=False),
    Column("metadata", Text, nullable=False),
    Column("recorded_at", String(32), nullable=False, index=True),
    # None for an event whose hash covers private values (hash form 1 of a type with
    # private fields): its source does not publish it.
    Column("hash", String(64), nullable=True),
    # What checks the event on its content (chibo.eventstore.signing), as its envelope
    # carried it; NULL on rows archived before the archive kept them (revision 0006).
    Column("stream_version", Integer, nullable=True),
    Column("prev_hash", String(64), nullable=True),
    Column("hash_form", Integer, nullable=True),
    Column("commitments", Text, nullable=True),  # JSON {field: commitment}
    Column("key_id", String(16), nullable=True),
    Column("signature", String(100), nullable=True),
    # Copied out of `metadata` when the event is archived, so the audit log can search
    # by them through an index rather than by reading every row's metadata text.
    Column("actor", String(200), nullable=True, index=True),
    Column("correlation_id", String(100), nullable=True, index=True),
)
# The audit log's order (newest first) and its pages' cursors: served by one index.
Index("archive_newest", archive.c.recorded_at, archive.c.source, archive.c.position)
# One per filter of the audit search, each the filter's column followed by the log's
# order: a page is a range of one index read in order, stopping after `limit` rows, and
# never a scan of the log's order that drops the rows not matching (which, for an actor
# or type nobody used, visits every archived event).
AUDIT_FILTER_INDEXES = {
    "archive_actor_newest": ("actor", "recorded_at", "source", "position"),
    "archive_type_newest": ("type", "recorded_at", "source", "position"),
    "archive_stream_newest": ("stream_id", "recorded_at", "source", "position"),
    "archive_source_newest": ("source", "recorded_at", "position"),
}
for _name, _columns in AUDIT_FILTER_INDEXES.items():
    Index(_name, *(archive.c[column] for column in _columns))

#: The archived events that shape the organisation tree (folded into reporting's places).
TREE_TYPES = ("unit_established", "unit_renamed", "unit_moved", "unit_dissolved")
# Small and only written for tree events: every page asks for the newest of them, which
# without it means visiting every unit event in the archive.
Index("archive_tree_events", archive.c.source, archive.c.position,
      postgresql_where=archive.c.type.in_(TREE_TYPES),
      sqlite_where=archive.c.type.in_(TREE_TYPES))

#: Every unit as it is now (its history is in the archive, folded into a Tree).
units = Table(
    "units", metadata,
    Column("unit_id", String(100), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(50), nullable=False),
    Column("parent_id", String(100), nullable=True),
    Column("is_cell", Boolean, nullable=False),
    Column("established_on", String(10), nullable=False),
    Column("dissolved_on", String(10), nullable=True),
    Column("successor_id", String(100), nullable=True),
)

members = Table(
    "members", metadata,
    Column("member_id", String(100), primary_key=True),
    Column("full_name", String(200), nullable=False),
    Column("cell_id", String(100), nullable=True, index=True),
    Column("admitted_on", String(10), nullable=False),
    # The member's dated standing (confirmation, periods away, exempt or elsewhere,
    # removal), as JSON: the status is read from it for the day asked about, so a
    # period that has ended is over without any further event (`standing.py`).
    Column("standing", Text, nullable=False),
)

meetings = Table(
    "meetings", metadata,
    Column("meeting_id", String(100), primary_key=True),
    Column("cell_id", String(100), nullable=False),
    Column("month", String(7), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("held_on", String(10), nullable=False),
    Column("topic", Text, nullable=True),
    Column("place", Text, nullable=True),
    Column("started_at", String(8), nullable=True),
    Column("ended_at", String(8), nullable=True),
    Column("duration_minutes", Integer, nullable=True),
    Column("chair_id", String(100), nullable=True),
    Column("minutes_taker_id", String(100), nullable=True),
    Column("agenda", Text, nullable=False),
    Column("speakers", Text, nullable=False),
    Column("minutes", Text, nullable=True),
    Column("conclusion", Text, nullable=True),
    Column("attendance", Text, nullable=False),
    Column("members_counted", Integer, nullable=False),
    Column("members_present", Integer, nullable=False),
    Column("unexcused", Integer, nullable=False),
    Column("self_level", String(20), nullable=True),
    Column("visit_level", String(20), nullable=True),
    Column("flags", Text, nullable=False),
    # A make-up meeting (sinh hoạt bù): the month it makes up, which is also its `month`
    # (the one its figures count in); null for a meeting of its own month.
    Column("makes_up_month", String(7), nullable=True),
)
Index("meetings_cell_month", meetings.c.cell_id, meetings.c.month)
# Make-ups are few: the heat map finds its "held late" months through this index.
Index("meetings_made_up", meetings.c.cell_id, meetings.c.month,
      postgresql_where=meetings.c.makes_up_month.is_not(None),
      sqlite_where=meetings.c.makes_up_month.is_not(None))
Index("meetings_month", meetings.c.month)

resolutions = Table(
    "resolutions", metadata,
    Column("resolution_id", String(100), primary_key=True),
    Column("meeting_id", String(100), nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=True),
    Column("vote", Text, nullable=False),
)

tasks = Table(
    "tasks", metadata,
    Column("task_id", String(100), primary_key=True),
    Column("cell_id", String(100), nullable=False, index=True),
    Column("meeting_id", String(100), nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("assignee_name", String(200), nullable=False),
    Column("due_on", String(10), nullable=False),
    Column("due_month", String(7), nullable=False, index=True),
    Column("state", String(20), nullable=False),
    Column("completed_on", String(10), nullable=True),
)

visits = Table(
    "visits", metadata,
    Column("visit_id", String(100), primary_key=True),
    Column("cell_id", String(100), nullable=False),
    Column("meeting_id", String(100), nullable=False, index=True),
    Column("month", String(7), nullable=False, index=True),
    Column("visitor", String(200), nullable=False),
    Column("visited_on", String(10), nullable=False),
    Column("confirmed_level", String(20), nullable=True),
    Column("comments", Text, nullable=False),
)

escalations = Table(
    "escalations", metadata,
    Column("escalation_id", String(100), primary_key=True),
    Column("rule", String(50), nullable=False),
    Column("level", Integer, nullable=False),
    Column("target_unit_id", String(100), nullable=False),
    Column("target_name", String(200), nullable=False),
    Column("subject_id", String(100), nullable=False, index=True),
    Column("subject_name", Text, nullable=False),
    Column("cell_id", String(100), nullable=False, index=True),
    Column("period", String(100), nullable=False),
    # The prose of escalations logged before they carried facts; empty since.
    Column("reason", Text, nullable=False),
    #: The escalation's facts as JSON: its reason is read from them in the reader's
    #: language (services/shared/escalation_rules.py).
    Column("details", Text, nullable=True),
    Column("raised_on", String(10), nullable=False),
    Column("state", String(20), nullable=False, index=True),
    Column("acknowledged_on", String(10), nullable=True),
    Column("acknowledged_by", String(200), nullable=True),
    Column("resolved_on", String(10), nullable=True),
    Column("resolved_how", Text, nullable=True),
    Column("resolved_by", String(200), nullable=True),
)

#: Documents attached to meetings (the bytes stay with the meetings service, which
#: answers them by hash); who attached each and when come from the event's metadata.
materials = Table(
    "materials", metadata,
    Column("meeting_id", String(100), primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("cell_id", String(100), nullable=False),
    Column("file_name", Text, nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("uploaded_by", String(200), nullable=True),
    Column("uploaded_at", String(32), nullable=False),
)

member_years = Table(
    "member_years", metadata,
    Column("member_id", String(100), primary_key=True),
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("meetings_due", Integer, nullable=False, default=0),
    Column("present", Integer, nullable=False, default=0),
    Column("excused", Integer, nullable=False, default=0),
    Column("unexcused", Integer, nullable=False, default=0),
    Column("rating", String(20), nullable=True),
    # The cell whose figures the rating counts in: the member's cell at the end of
    # the rated year, as known when the rating was recorded.
    Column("rated_cell_id", String(100), nullable=True),
    Column("removal_flagged", Boolean, nullable=False, default=False),
)
Index("member_years_rated_cell", member_years.c.rated_cell_id, member_years.c.year)

#: The four annual rating levels, best first (đánh giá, xếp loại đảng viên).
RATINGS = ("excellent", "good", "complete", "failed")

#: Months in which something happened: the months reports cover. Every cell that
#: existed in an opened month has a row for it, so a month without a meeting counts.
opened_months = Table(
    "opened_months", metadata,
    Column("month", String(7), primary_key=True),
)

#: The figures every report sums: one row per cell and period (month, quarter, year).
MEASURES = ("months", "months_met", "meetings", "regular_meetings", "thematic_meetings",
            "thematic_held", "members_counted", "members_present", "unexcused",
            "duration_total", "duration_meetings", "q_good", "q_fair", "q_average", "q_poor",
            "q_unscored", "visits", "visited", "tasks_due", "tasks_completed", "tasks_open",
            *(f"rated_{level}" for level in RATINGS))
#: Measures only a year row carries (members rated for the year); months and quarters
#: hold 0.
YEAR_MEASURES = tuple(f"rated_{level}" for level in RATINGS)

cell_periods = Table(
    "cell_periods", metadata,
    Column("cell_id", String(100), primary_key=True),
    Column("period", String(7), primary_key=True),
    Column("kind", String(7), nullable=False),
    *(Column(name, Integer, nullable=False, default=0) for name in MEASURES),
    # Where the row is counted: the cell's path from the top as it was then, and
    # in today's tree (a merged cell's history counts under its successor).
    Column("then_path", Text, nullable=False),
    Column("today_path", Text, nullable=False),
)
Index("cell_periods_period", cell_periods.c.period)

#: The same figures summed for every node of the tree, by either grouping.
node_periods = Table(
    "node_periods", metadata,
    Column("grouping", String(5), primary_key=True),
    Column("node_id", String(100), primary_key=True),
    Column("period", String(7), primary_key=True),
    Column("cells", Integer, nullable=False),
    *(Column(name, Integer, nullable=False, default=0) for name in MEASURES),
)

#: Open escalations (raised or acknowledged) under each node of today's tree, by level.
node_escalations = Table(
    "node_escalations", metadata,
    Column("node_id", String(100), primary_key=True),
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("open", Integer, nullable=False),
)

#: Reasons to project the archive again, left by a migration that made read models anew:
#: reporting rebuilds at start while a row is here, and the rebuild deletes them.
rebuild_requests = Table(
    "rebuild_requests", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reason", Text, nullable=False),
)

READ_MODELS = (units, members, meetings, resolutions, tasks, visits, escalations, member_years,
               opened_months, cell_periods, node_periods, node_escalations, materials)


def snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read model and the archive, in key order: for comparisons."""
    out = {}
    for table in (archive, *READ_MODELS):
        rows = session.execute(select(table).order_by(*table.primary_key.columns)).all()
        out[table.name] = [tuple(r) for r in rows]
    return out
