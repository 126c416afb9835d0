"""Reporting's projection: each event of a run into the detail rows of the read models.

The live feed applies runs of consecutive events (`project_run`); `chibo rebuild`
applies the whole archive as one run into emptied models (`project_archive`, its details
written a batch at a time). Both go through the same two steps, with the same handlers
and roll-up rules, so they cannot disagree: each event updates the detail tables
(meetings, tasks, visits, members, escalations, units) and marks what it touched; then
`roll_up.settle` recomputes the touched cell-periods and sums their changes up the tree.
A rebuild keeps the member-year tallies until the end and settles with
`roll_up.settle_all`, which computes every row once and writes each table in bulk.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from sqlalchemy import Table, and_, bindparam, insert, select, update
from sqlalchemy.orm import Session

from chibo.db import upsert
from services.reporting import standing
from services.reporting.archive import Envelope, archive_envelopes, stored_json
from services.reporting.read_model import (
    escalations,
    materials,
    meetings,
    member_years,
    members,
    resolutions,
    tasks,
    units,
    visits,
)
from services.reporting.roll_up import CHUNK, Touched, Writer, settle, settle_all
from services.shared.escalation_rules import details_from_legacy
from services.shared.membership import Member
from services.shared.tree import UnitKinds, default_kinds

__all__ = ["project", "project_archive", "project_run"]

TASK_STATES = {"task_completed": "completed", "task_overdue": "overdue",
               "task_cancelled": "cancelled"}
#: Events that change a member's dated standing: folded by the members service's own
#: `Member`, whose `status_on(day)` the pages ask.
STANDING_EVENTS = ("member_confirmed", "member_exempted", "member_working_away",
                   "member_returned", "member_temporarily_transferred", "member_removed")
MEMBER_EVENTS = (*STANDING_EVENTS, "member_transferred", "member_rated")


def project(session: Session, envelope: Envelope, kinds: UnitKinds | None = None) -> None:
    project_run(session, [envelope], kinds=kinds)


class _Buffer:
    """The rows a run inserts into one table and the changes it makes, written together
    at the end of step one (a change to a row inserted in the same run folds into it)."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.key = [c.name for c in table.primary_key.columns]
        self.new: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.changes: dict[tuple[Any, ...], dict[str, Any]] = {}

    def insert(self, row: dict[str, Any]) -> None:
        self.new[tuple(row[k] for k in self.key)] = row

    def update(self, *key: Any, **values: Any) -> None:
        if key in self.new:
            self.new[key].update(values)
        else:
            self.changes.setdefault(key, {}).update(values)

    def flush(self, session: Session, write: Writer) -> None:
        if self.new:
            write(session, self.table, list(self.new.values()))
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for key, values in self.changes.items():
            groups[tuple(sorted(values))].append(
                {**{f"k_{k}": v for k, v in zip(self.key, key, strict=True)},
                 **{f"v_{c}": value for c, value in values.items()}})
        for columns, params in groups.items():
            where = and_(*(self.table.c[k] == bindparam(f"k_{k}") for k in self.key))
            session.execute(update(self.table).where(where)
                            .values({c: bindparam(f"v_{c}") for c in columns}), params)


class _Run(Touched):
    """What one run of events writes and touches; `kinds` say which units are cells."""

    def __init__(self, session: Session, kinds: UnitKinds | None = None,
                 write: Writer | None = None) -> None:
        super().__init__()
        self.session = session
        self.write = write or insert_rows
        self.kinds = default_kinds() if kinds is None else kinds
        self.buffers = {t.name: _Buffer(t) for t in (units, members, meetings, resolutions,
                                                     tasks, visits, escalations, materials)}
        self.attended: dict[tuple[str, int], dict[str, int]] = defaultdict(
            lambda: dict.fromkeys(("meetings_due", "present", "excused", "unexcused"), 0))
        self.ratings: dict[tuple[str, int], tuple[str, str | None]] = {}
        #: Members whose standing this run has read or changed (written back at flush).
        self.standings: dict[str, Member] = {}
        self.standings_changed: set[str] = set()
        self.flagged: set[tuple[str, int]] = set()
        self.meetings_touched: set[str] = set()
        self.tasks_touched: set[str] = set()
        #: Levels confirmed by visits, by meeting: read for the meetings a batch holds,
        #: and added to as this run projects visits.
        self.visit_levels: dict[str, str] = {}

    def __getattr__(self, table: str) -> _Buffer:
        return self.buffers[table]

    def member(self, member_id: str) -> Member | None:
        """The member's standing as folded so far (None for a member never admitted)."""
        if member_id not in self.standings:
            self.load_standings([member_id])
        return self.standings.get(member_id)

    def load_standings(self, member_ids: Iterable[str]) -> None:
        wanted = sorted(set(member_ids) - set(self.standings))
        for start in range(0, len(wanted), CHUNK):
            for row in self.session.execute(
                    select(members.c.member_id, members.c.standing)
                    .where(members.c.member_id.in_(wanted[start:start + CHUNK]))):
                self.standings[row.member_id] = standing.decode(row.member_id, row.standing)

    def load_visit_levels(self, meeting_ids: Iterable[str]) -> None:
        """The levels visits already projected confirmed for these meetings: each source
        arrives in its own order, but a visit (supervision) may arrive before the meeting
        it visited (meetings), and its level must not be lost."""
        wanted = sorted(set(meeting_ids) - set(self.visit_levels))
        for start in range(0, len(wanted), CHUNK):
            self.visit_levels.update(self.session.execute(
                select(visits.c.meeting_id, visits.c.confirmed_level)
                .where(visits.c.meeting_id.in_(wanted[start:start + CHUNK]),
                       visits.c.confirmed_level.is_not(None))).all())

    def changed_standing(self, member_id: str) -> None:
        self.standings_changed.add(member_id)

    def flush(self) -> None:
        """Write the detail rows and tallies gathered so far, and forget them; what the
        run touched (cell-months, months, the tree) stays for `_settle`."""
        for member_id in sorted(self.standings_changed):
            self.members.update(member_id,
                                standing=standing.encode(self.standings[member_id]))
        self.standings.clear()
        self.standings_changed.clear()
        for buffer in self.buffers.values():
            buffer.flush(self.session, self.write)
            buffer.new, buffer.changes = {}, {}
        self.write_tallies()
        # Which cell-months the changed meetings and tasks count in, now all are written.
        for table, ids, month in ((meetings, self.meetings_touched, meetings.c.month),
                                  (tasks, self.tasks_touched, tasks.c.due_month)):
            key = table.c[table.primary_key.columns.keys()[0]]
            ids = sorted(ids)
            for start in range(0, len(ids), CHUNK):
                self.cell_months.update((r[0], r[1]) for r in self.session.execute(
                    select(table.c.cell_id, month).where(key.in_(ids[start:start + CHUNK]))))
        self.meetings_touched.clear()
        self.tasks_touched.clear()

    def write_tallies(self) -> None:
        """Add this run's member-year tallies to the stored ones."""
        upsert(self.session, member_years, [
            _member_year(m, y, **c) for (m, y), c in self.attended.items()], add=COUNTS)
        upsert(self.session, member_years, [
            _member_year(m, y, rating=level, rated_cell_id=cell)
            for (m, y), (level, cell) in self.ratings.items()],
            replace=("rating", "rated_cell_id"))
        upsert(self.session, member_years, [
            _member_year(m, y, removal_flagged=True) for m, y in self.flagged],
            replace=("removal_flagged",))
        self.attended.clear()
        self.ratings.clear()
        self.flagged.clear()


class _Fold(_Run):
    """The whole archive as one run into emptied read models (a rebuild): detail rows
    are written a batch at a time, as in any run, but the member-year tallies (which
    nearly every batch touches) are kept until the end, and every tally and summary row
    is then written once, by `write` (which may be a bulk COPY)."""

    def load_visit_levels(self, meeting_ids: Iterable[str]) -> None:
        pass  # the models started empty: every level projected so far is in visit_levels

    def write_tallies(self) -> None:
        pass  # kept: written once, by `finish`

    def finish(self) -> None:
        rows = {key: _member_year(*key, **c) for key, c in self.attended.items()}
        for key, (level, cell) in self.ratings.items():
            rows.setdefault(key, _member_year(*key)).update(rating=level, rated_cell_id=cell)
        for key in self.flagged:
            rows.setdefault(key, _member_year(*key))["removal_flagged"] = True
        self.write(self.session, member_years, list(rows.values()))
        self.attended.clear()
        self.ratings.clear()
        self.flagged.clear()
        settle_all(self.session, self, self.write)


COUNTS = ("meetings_due", "present", "excused", "unexcused")


def _member_year(member_id: str, year: int, **values: Any) -> dict[str, Any]:
    """A member_years row: nothing counted, rated or flagged but `values`."""
    return {"member_id": member_id, "year": year, **dict.fromkeys(COUNTS, 0),
            "rating": None, "rated_cell_id": None, "removal_flagged": False, **values}


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows in one executemany: how a run writes its new detail rows."""
    if rows:
        session.execute(insert(table), rows)


def project_run(session: Session, envelopes: list[Envelope], archived: bool = False,
                kinds: UnitKinds | None = None) -> None:
    """Apply a run of consecutive events (archiving them first, unless they come from
    the archive, as in a rebuild). `kinds`: the service's configured unit kinds (the
    packaged ones when None)."""
    if not archived:
        archive_envelopes(session, envelopes)
    run = _Run(session, kinds)
    _apply(run, envelopes)
    settle(session, run)


def project_archive(session: Session, batches: Iterable[list[Envelope]],
                    progress: Callable[[int], None] | None = None,
                    kinds: UnitKinds | None = None, write: Writer | None = None) -> int:
    """Project archived events into emptied read models as one run (a rebuild): the
    same handlers as every run, a batch of details at a time so memory stays bounded,
    the tallies and summaries computed and written once at the end (`write`: how rows
    go into a table, e.g. a bulk COPY; an executemany INSERT when None). The models
    come out as from any other split into runs. Returns how many events were projected."""
    run, total = _Fold(session, kinds, write), 0
    for batch in batches:
        _apply(run, batch)
        total += len(batch)
        if progress:
            progress(len(batch))
    run.finish()
    return total


def _apply(run: _Run, envelopes: list[Envelope]) -> None:
    # The standings this batch changes, read in a few statements rather than one a member.
    run.load_standings({e["data"]["member_id"] for e in envelopes
                        if e["type"] in MEMBER_EVENTS})
    run.load_visit_levels({e["data"]["meeting_id"] for e in envelopes
                           if e["type"] == "meeting_held"})
    for envelope in envelopes:
        handler = HANDLERS.get(envelope["type"])
        if handler:
            handler(run, envelope["data"])
        elif envelope["type"] == "material_attached":
            _material_attached(run, envelope)
    run.flush()


# -- step one: the detail tables ----------------------------------------------------

def _unit_established(run: _Run, data: dict[str, Any]) -> None:
    kind = run.kinds.get(data["kind"])
    is_cell = bool(kind and kind.meets)
    run.units.insert({"unit_id": data["unit_id"], "name": data["name"], "kind": data["kind"],
                      "parent_id": data.get("parent_id"), "is_cell": is_cell,
                      "established_on": str(data["effective_date"]), "dissolved_on": None,
                      "successor_id": None})
    if is_cell:
        run.new_cells.add(data["unit_id"])


def _unit_renamed(run: _Run, data: dict[str, Any]) -> None:
    run.units.update(data["unit_id"], name=data["name"])


def _unit_moved(run: _Run, data: dict[str, Any]) -> None:
    run.units.update(data["unit_id"], parent_id=data["parent_id"])
    run.tree_changed = True
    run.moved.add(data["unit_id"])


def _unit_dissolved(run: _Run, data: dict[str, Any]) -> None:
    run.units.update(data["unit_id"], dissolved_on=str(data["effective_date"]),
                     successor_id=data.get("successor_id"))
    run.tree_changed = True
    run.moved.add(data["unit_id"])


def _member_admitted(run: _Run, data: dict[str, Any]) -> None:
    member = Member(data["member_id"])
    member.apply("member_admitted", data)
    run.standings[member.member_id] = member
    run.changed_standing(member.member_id)
    run.members.insert({"member_id": data["member_id"], "full_name": data["full_name"],
                        "cell_id": data["cell_id"], "admitted_on": str(data["admitted_on"]),
                        "standing": ""})


def _member_renamed(run: _Run, data: dict[str, Any]) -> None:
    run.members.update(data["member_id"], full_name=data["full_name"])


def _member_standing(run: _Run, event_type: str, data: dict[str, Any]) -> Member | None:
    member = run.member(data["member_id"])
    if member is not None:
        member.apply(event_type, data)
        run.changed_standing(member.member_id)
    return member


def _member_transferred(run: _Run, data: dict[str, Any]) -> None:
    # The member stays listed with their last cell of the province when they leave it
    # (their status then says they moved out).
    _member_standing(run, "member_transferred", data)
    if data.get("to_cell_id"):
        run.members.update(data["member_id"], cell_id=data["to_cell_id"])


def _member_rated(run: _Run, data: dict[str, Any]) -> None:
    year = int(data["year"])
    member = run.member(data["member_id"])
    cell = None
    if member is not None:
        cell = member.cell_on(date(year, 12, 31)) or next(
            (c for _, c in reversed(member.cells) if c), None)
    run.ratings[(data["member_id"], year)] = (data["level"], cell)
    if cell:
        run.cell_months.add((cell, str(year)))  # the cell's year row counts its ratings


def _meeting_held(run: _Run, data: dict[str, Any]) -> None:
    held_on = str(data["held_on"])
    lines = data["attendance"]
    # A make-up meeting counts in the month it makes up, and only there.
    made_up = data.get("makes_up_month")
    month = made_up or held_on[:7]
    run.meetings.insert({
        "meeting_id": data["meeting_id"], "cell_id": data["cell_id"], "month": month,
        "makes_up_month": made_up,
        "kind": data["kind"], "held_on": held_on, "topic": data.get("topic"),
        "place": data.get("place"), "started_at": data.get("started_at"),
        "ended_at": data.get("ended_at"), "duration_minutes": data.get("duration_minutes"),
        "chair_id": data.get("chair_id"), "minutes_taker_id": data.get("minutes_taker_id"),
        "agenda": stored_json(data.get("agenda") or []),
        "speakers": stored_json(data.get("speakers") or []),
        "minutes": data.get("minutes"), "conclusion": data.get("conclusion"),
        "attendance": stored_json(lines), "members_counted": data["members_counted"],
        "members_present": data["members_present"],
        "unexcused": sum(1 for a in lines
                         if a.get("counted", True) and a["status"] == "absent_unexcused"),
        "self_level": (data.get("self_score") or {}).get("level"),
        "visit_level": run.visit_levels.get(data["meeting_id"]),
        "flags": stored_json(data.get("flags") or [])})
    run.cell_months.add((data["cell_id"], month))
    run.months.update({month, held_on[:7]})
    year = int(held_on[:4])
    for line in lines:
        counts = run.attended[(line["member_id"], year)]
        if not line.get("counted", True):
            counts["excused"] += 1
            continue
        counts["meetings_due"] += 1
        status = line["status"]
        if status == "present":
            counts["present"] += 1
        elif status == "absent_unexcused":
            counts["unexcused"] += 1
        else:
            counts["excused"] += 1


def _meeting_corrected(run: _Run, data: dict[str, Any]) -> None:
    changes = dict(data["changes"])
    for key in ("agenda", "speakers", "flags"):
        if key in changes:
            changes[key] = stored_json(changes[key] or [])
    columns = {c.name for c in meetings.columns}
    values = {k: v for k, v in changes.items() if k in columns}
    if values:
        run.meetings.update(data["meeting_id"], **values)
        run.meetings_touched.add(data["meeting_id"])


def _resolution_adopted(run: _Run, data: dict[str, Any]) -> None:
    run.resolutions.insert({"resolution_id": data["resolution_id"],
                            "meeting_id": data["meeting_id"], "title": data["title"],
                            "text": data.get("text"), "vote": stored_json(data["vote"])})


def _material_attached(run: _Run, envelope: Envelope) -> None:
    # Who attached it and when are the event's own metadata, not its data.
    data, meta = envelope["data"], envelope.get("metadata") or {}
    run.materials.insert({
        "meeting_id": data["meeting_id"], "sha256": data["sha256"], "cell_id": data["cell_id"],
        "file_name": data["file_name"], "media_type": data["media_type"], "size": data["size"],
        "uploaded_by": str(meta.get("actor_name") or meta.get("actor") or "")[:200] or None,
        "uploaded_at": envelope["recorded_at"]})


def _task_assigned(run: _Run, data: dict[str, Any]) -> None:
    due_on = str(data["due_on"])
    run.tasks.insert({"task_id": data["task_id"], "cell_id": data["cell_id"],
                      "meeting_id": data["meeting_id"], "title": data["title"],
                      "assignee_name": data["assignee_name"], "due_on": due_on,
                      "due_month": due_on[:7], "state": "assigned", "completed_on": None})
    run.cell_months.add((data["cell_id"], due_on[:7]))


def _task_state(run: _Run, data: dict[str, Any], state: str) -> None:
    run.tasks.update(data["task_id"], state=state,
                     completed_on=str(data["completed_on"]) if data.get("completed_on")
                     else None)
    run.tasks_touched.add(data["task_id"])


def _visit_logged(run: _Run, data: dict[str, Any]) -> None:
    visited_on = str(data["visited_on"])
    run.visits.insert({"visit_id": data["visit_id"], "cell_id": data["cell_id"],
                       "meeting_id": data["meeting_id"], "month": visited_on[:7],
                       "visitor": data["visitor"], "visited_on": visited_on,
                       "confirmed_level": data.get("confirmed_level"),
                       "comments": data.get("comments") or ""})
    if data.get("confirmed_level"):
        run.visit_levels[data["meeting_id"]] = data["confirmed_level"]
        run.meetings.update(data["meeting_id"], visit_level=data["confirmed_level"])
        run.meetings_touched.add(data["meeting_id"])
    run.cell_months.add((data["cell_id"], visited_on[:7]))
    run.months.add(visited_on[:7])


def _escalation_raised(run: _Run, data: dict[str, Any]) -> None:
    run.escalations.insert({
        "escalation_id": data["escalation_id"], "rule": data["rule"], "level": data["level"],
        "target_unit_id": data["target_unit_id"], "target_name": data["target_name"],
        "subject_id": data["subject_id"], "subject_name": data["subject_name"],
        "cell_id": data["cell_id"], "period": data["period"],
        # Facts (version 2), or those recovered from an archived version 1's prose.
        "reason": data.get("reason") or "",
        "details": stored_json(data["details"] if "details" in data else details_from_legacy(data)),
        "raised_on": str(data["raised_on"]), "state": "raised", "acknowledged_on": None,
        "acknowledged_by": None, "resolved_on": None, "resolved_how": None,
        "resolved_by": None})
    if data["rule"] == "removal_candidate":
        run.flagged.add((data["subject_id"], int(str(data["raised_on"])[:4])))
    run.escalations_changed = True


def _escalation_update(run: _Run, escalation_id: str, **values: Any) -> None:
    run.escalations.update(escalation_id, **values)
    run.escalations_changed = True


def _period_closed(run: _Run, data: dict[str, Any]) -> None:
    if data["kind"] == "month":
        run.months.add(data["period"])


HANDLERS = {
    "unit_established": _unit_established,
    "unit_renamed": _unit_renamed,
    "unit_moved": _unit_moved,
    "unit_dissolved": _unit_dissolved,
    "member_admitted": _member_admitted,
    "member_renamed": _member_renamed,
    "member_transferred": _member_transferred,
    "member_rated": _member_rated,
    **{kind: (lambda run, data, kind=kind: _member_standing(run, kind, data))
       for kind in STANDING_EVENTS},
    "meeting_held": _meeting_held,
    "meeting_corrected": _meeting_corrected,
    "resolution_adopted": _resolution_adopted,
    "task_assigned": _task_assigned,
    **{kind: (lambda run, data, state=state: _task_state(run, data, state))
       for kind, state in TASK_STATES.items()},
    "visit_logged": _visit_logged,
    "escalation_raised": _escalation_raised,
    "escalation_acknowledged": lambda run, data: _escalation_update(
        run, data["escalation_id"], state="acknowledged", acknowledged_on=str(data["on"]),
        acknowledged_by=data["by"]),
    "escalation_reescalated": lambda run, data: _escalation_update(
        run, data["escalation_id"], level=data["level"], target_unit_id=data["target_unit_id"],
        target_name=data["target_name"]),
    "escalation_resolved": lambda run, data: _escalation_update(
        run, data["escalation_id"], state="resolved", resolved_on=str(data["on"]),
        resolved_how=data["how"], resolved_by=data.get("by")),
    "period_closed": _period_closed,
}
