"""What supervision knows of other services, from their events (ordered feeds),
and the loader of the plain facts the rules decide on.

Each fact keeps the source position it came from, so a decision can be
re-made exactly as it was: a period close records the watermarks it saw, and
the rules read only facts at or below them. This is the only part of the rules'
path that talks to the database: `for_close` reads, in a handful of bulk
queries, what one close needs (`rules.needs`) into a `Snapshot` of values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    MetaData,
    String,
    Table,
    Text,
    and_,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from services.shared.tree import Tree, UnitKinds
from services.supervision import read_model
from services.supervision.rules import quarter_bounds
from services.supervision.snapshot import (
    EVERY_ABSENCE,
    Absence,
    AbsenceCover,
    Meeting,
    Needs,
    Snapshot,
    Task,
    Visit,
    counting_for,
    months_in,
)

metadata = MetaData()

unit_events = Table(
    "fact_unit_events", metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("type", String(60), nullable=False),
    Column("data", Text, nullable=False),
)

held = Table(
    "fact_meetings", metadata,
    Column("meeting_id", String(100), primary_key=True),
    Column("cell_id", String(100), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("held_on", Date, nullable=False, index=True),
    Column("level", String(20), nullable=True),
    Column("event_id", String(36), nullable=False),
    Column("position", BigInteger, nullable=False),
)

#: Make-up meetings (sinh hoạt bù): a regular meeting held after the month it makes up,
#: which counts for that month and not for the one it was held in.
make_ups = Table(
    "fact_make_ups", metadata,
    Column("meeting_id", String(100), primary_key=True),
    Column("cell_id", String(100), nullable=False, index=True),
    Column("month", String(7), nullable=False, index=True),
    Column("position", BigInteger, nullable=False),
)

absences = Table(
    "fact_absences", metadata,
    Column("meeting_id", String(100), primary_key=True),
    Column("member_id", String(100), primary_key=True),
    Column("full_name", String(200), nullable=False),
    Column("cell_id", String(100), nullable=False),
    Column("held_on", Date, nullable=False, index=True),
    Column("unexcused", Boolean, nullable=False),
    Column("dues_unpaid", Boolean, nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("position", BigInteger, nullable=False),
)

tasks = Table(
    "fact_tasks", metadata,
    Column("task_id", String(100), primary_key=True),
    Column("cell_id", String(100), nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("due_on", Date, nullable=False, index=True),
    Column("event_id", String(36), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("closed_position", BigInteger, nullable=True),
)


def apply(session: Session, envelope: dict[str, Any]) -> None:
    """The feed's projector: facts from members' and meetings' events."""
    apply_run(session, [envelope])


def apply_run(session: Session, envelopes: list[dict[str, Any]]) -> None:
    """A run of events at once (what the feed uses): the facts of the whole run go in
    one statement per table. A task's closing updates a row an earlier event of the run
    may have inserted, so the rows gathered so far are written first."""
    rows: dict[Table, list[dict[str, Any]]] = {
        unit_events: [], held: [], make_ups: [], absences: [], tasks: []}

    def flush() -> None:
        for table, pending in rows.items():
            if pending:
                session.execute(insert(table), pending)
                pending.clear()

    for envelope in envelopes:
        data, kind, position = envelope["data"], envelope["type"], envelope["position"]
        if envelope["source"] == "members":
            if kind.startswith("unit"):
                rows[unit_events].append({"position": position, "type": kind,
                                          "data": json.dumps(data, ensure_ascii=False)})
        elif envelope["source"] != "meetings":
            continue
        elif kind == "meeting_held":
            _held_facts(rows, envelope)
        elif kind == "task_assigned":
            rows[tasks].append({"task_id": data["task_id"], "cell_id": data["cell_id"],
                                "title": data["title"], "closed_position": None,
                                "due_on": date.fromisoformat(data["due_on"]),
                                "event_id": envelope["event_id"], "position": position})
        elif kind in ("task_completed", "task_cancelled"):
            flush()
            session.execute(update(tasks).where(tasks.c.task_id == data["task_id"])
                            .values(closed_position=position))
    flush()


def _held_facts(rows: dict[Table, list[dict[str, Any]]], envelope: dict[str, Any]) -> None:
    data, position = envelope["data"], envelope["position"]
    score = data.get("self_score") or {}
    held_on = date.fromisoformat(data["held_on"])
    rows[held].append({"meeting_id": data["meeting_id"], "cell_id": data["cell_id"],
                       "kind": data["kind"], "held_on": held_on, "level": score.get("level"),
                       "event_id": envelope["event_id"], "position": position})
    if data.get("makes_up_month"):
        rows[make_ups].append({"meeting_id": data["meeting_id"], "cell_id": data["cell_id"],
                               "month": data["makes_up_month"], "position": position})
    rows[absences] += [
        {"meeting_id": data["meeting_id"], "member_id": a["member_id"],
         "full_name": a["full_name"], "cell_id": data["cell_id"], "held_on": held_on,
         "unexcused": a["status"] == "absent_unexcused",
         "dues_unpaid": a.get("dues_paid") is False,
         "event_id": envelope["event_id"], "position": position}
        for a in data["attendance"] if a.get("counted", True)
        and (a["status"] == "absent_unexcused" or a.get("dues_paid") is False)]


#: A watermark above every position: facts as they stand now.
EVERYTHING = 2**62


def load_tree(session: Session, members_watermark: int, kinds: UnitKinds | None = None
              ) -> Tree:
    """The organisation tree from the unit events at or below the watermark, of `kinds`
    (the service's configured ones; the packaged ones when None)."""
    rows = session.execute(
        select(unit_events).where(unit_events.c.position <= members_watermark)
        .order_by(unit_events.c.position)).all()
    return Tree.from_events((SimpleNamespace(type=r.type, data=json.loads(r.data))
                             for r in rows), kinds)


def _month_ranges(months: Iterable[str]) -> list[tuple[date, date]]:
    """Runs of consecutive months as [first day, first day after) ranges: one clause each."""
    ranges: list[tuple[date, date]] = []
    for month in sorted(set(months)):
        first = date.fromisoformat(f"{month}-01")
        after = (first.replace(year=first.year + 1, month=1) if first.month == 12
                 else first.replace(month=first.month + 1))
        if ranges and ranges[-1][1] == first:
            ranges[-1] = (ranges[-1][0], after)
        else:
            ranges.append((first, after))
    return ranges


def load_meetings(session: Session, meetings_watermark: int,
                  months: Iterable[str] | None = None, cell_id: str | None = None
                  ) -> list[Meeting]:
    """Meetings dated in `months` ("YYYY-MM"; None: every month), and the make-up
    meetings of those months wherever dated; of one cell when `cell_id` is given."""
    columns = (held.c.meeting_id, held.c.cell_id, held.c.kind, held.c.held_on,
               held.c.event_id, held.c.level, make_ups.c.month)
    joined = held.outerjoin(make_ups, make_ups.c.meeting_id == held.c.meeting_id)
    base = [held.c.position <= meetings_watermark]
    if cell_id is not None:
        base.append(held.c.cell_id == cell_id)
    queries = [select(*columns).select_from(joined).where(*base)]
    if months is not None:
        months = sorted(set(months))
        if not months:
            return []
        dated = or_(*(and_(held.c.held_on >= a, held.c.held_on < b)
                      for a, b in _month_ranges(months)))
        queries = [queries[0].where(dated),
                   select(*columns).select_from(joined).where(*base,
                                                              make_ups.c.month.in_(months))]
    found: dict[str, Meeting] = {}
    for query in queries:
        for row in session.execute(query):
            found[row[0]] = Meeting._make(row)  # columns in Meeting's order
    return list(found.values())


def regular_meetings_for(session: Session, meetings_watermark: int, first_month: str,
                         last_month: str, cell_id: str | None = None) -> list[Meeting]:
    """The meetings that count for the months `first_month` to `last_month`."""
    months = months_in(*(date.fromisoformat(f"{m}-01") for m in (first_month, last_month)))
    return counting_for(load_meetings(session, meetings_watermark, months, cell_id),
                        first_month, last_month)


def load_absences(session: Session, meetings_watermark: int, cover: AbsenceCover
                  ) -> list[Absence]:
    """The absences `cover` names: dated within it, of members absent from its focus."""
    visible = absences.c.position <= meetings_watermark
    query = select(absences.c.meeting_id, absences.c.member_id, absences.c.full_name,
                   absences.c.cell_id, absences.c.held_on, absences.c.event_id).where(
        absences.c.held_on >= cover.first, absences.c.held_on <= cover.last, visible)
    if cover.focus is not None:
        recent = select(absences.c.member_id).where(
            absences.c.held_on >= cover.focus, absences.c.held_on <= cover.last, visible)
        query = query.where(absences.c.member_id.in_(recent))
    return [Absence._make(row) for row in session.execute(query)]


def load_open_tasks(session: Session, meetings_watermark: int) -> list[Task]:
    """Every task assigned at or below the watermark and not closed by then."""
    closed = tasks.c.closed_position
    rows = session.execute(select(
        tasks.c.task_id, tasks.c.cell_id, tasks.c.title, tasks.c.due_on, tasks.c.event_id)
        .where(tasks.c.position <= meetings_watermark,
               (closed.is_(None)) | (closed > meetings_watermark)))
    return [Task._make(row) for row in rows]


def load_visits(session: Session, before_position: int, quarters: Iterable[str] | None = None
                ) -> list[Visit]:
    """Visits recorded before `before_position` in supervision's log, in `quarters`
    ("YYYY-Qn"; None: every quarter)."""
    query = select(read_model.visits.c.cell_id, read_model.visits.c.visited_on).where(
        read_model.visits.c.position < before_position)
    if quarters is not None:
        quarters = frozenset(quarters)
        bounds = []
        for quarter in sorted(quarters):
            first, last = quarter_bounds(quarter)
            bounds.append(and_(read_model.visits.c.visited_on >= first,
                               read_model.visits.c.visited_on <= last))
        if not bounds:
            return []
        query = query.where(or_(*bounds))
    return [Visit._make(row) for row in session.execute(query)]


def for_close(session: Session, watermarks: dict[str, int], close_position: int,
              needs: Needs, kinds: UnitKinds | None = None) -> Snapshot:
    """The facts one close decides on: as they stood at `watermarks`, with visits
    recorded before the close (`close_position`), covering what `needs` names; the
    tree of `kinds`."""
    meetings_wm = int(watermarks.get("meetings", 0))
    return Snapshot(
        tree=load_tree(session, int(watermarks.get("members", 0)), kinds),
        meetings=tuple(load_meetings(session, meetings_wm, needs.months)),
        absences=tuple(load_absences(session, meetings_wm, needs.absences)
                       if needs.absences else ()),
        open_tasks=tuple(load_open_tasks(session, meetings_wm)),
        visits=tuple(load_visits(session, close_position, needs.quarters)),
        meeting_months=needs.months, visit_quarters=needs.quarters,
        absence_cover=needs.absences)


class Facts(Snapshot):
    """Every fact as it stood at `watermarks`, loaded at once, with every visit
    recorded: for a small database (a test, a one-off look). A close loads only what
    it decides on (`for_close`)."""

    def __init__(self, session: Session, watermarks: dict[str, int],
                 kinds: UnitKinds | None = None) -> None:
        meetings_wm = int(watermarks.get("meetings", 0))
        super().__init__(
            tree=load_tree(session, int(watermarks.get("members", 0)), kinds),
            meetings=tuple(load_meetings(session, meetings_wm)),
            absences=tuple(load_absences(session, meetings_wm, EVERY_ABSENCE)),
            open_tasks=tuple(load_open_tasks(session, meetings_wm)),
            visits=tuple(load_visits(session, EVERYTHING)))
