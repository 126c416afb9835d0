"""Reporting's projection: every event into the archive, then into the read models.

The live feed applies runs of consecutive events (`project_run`); `chibo rebuild`
applies the whole archive as one run (`project_archive`, its details written a batch
at a time). Both go through the same two steps, so they cannot disagree: each event
updates the detail tables (meetings, tasks, visits, members, escalations, units) and
marks what it touched; then the touched cell-periods are recomputed from the detail
tables, and the difference between their old and new figures is added to every node
on their paths. Recomputing from details (rather than adding each event's share) keeps
a corrected or re-scored meeting exact, and the path stored on each cell-period row
says where its figures were counted, so a restructured tree moves them precisely.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from sqlalchemy import Table, and_, bindparam, delete, func, insert, select, tuple_, update
from sqlalchemy.orm import Session

from chibo.db import upsert
from services.reporting import paths, standing
from services.reporting.periods import month_days, quarter_of
from services.reporting.read_model import (
    MEASURES,
    RATINGS,
    READ_MODELS,
    YEAR_MEASURES,
    archive,
    cell_periods,
    escalations,
    meetings,
    member_years,
    members,
    metadata,
    node_escalations,
    node_periods,
    opened_months,
    resolutions,
    tasks,
    units,
    visits,
)
from services.shared.escalation_rules import details_from_legacy
from services.shared.membership import Member
from services.shared.tree import KINDS

__all__ = ["metadata", "archive", "project", "project_run", "snapshot", "READ_MODELS"]

Envelope = dict[str, Any]
TASK_STATES = {"task_completed": "completed", "task_overdue": "overdue",
               "task_cancelled": "cancelled"}
#: Events that change a member's dated standing: folded by the members service's own
#: `Member`, whose `status_on(day)` the pages ask.
STANDING_EVENTS = ("member_confirmed", "member_exempted", "member_working_away",
                   "member_returned", "member_temporarily_transferred", "member_removed")
MEMBER_EVENTS = (*STANDING_EVENTS, "member_transferred", "member_rated")
CHUNK = 500


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def project(session: Session, envelope: Envelope) -> None:
    project_run(session, [envelope])


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

    def flush(self, session: Session) -> None:
        if self.new:
            session.execute(insert(self.table), list(self.new.values()))
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for key, values in self.changes.items():
            groups[tuple(sorted(values))].append(
                {**{f"k_{k}": v for k, v in zip(self.key, key, strict=True)},
                 **{f"v_{c}": value for c, value in values.items()}})
        for columns, params in groups.items():
            where = and_(*(self.table.c[k] == bindparam(f"k_{k}") for k in self.key))
            session.execute(update(self.table).where(where)
                            .values({c: bindparam(f"v_{c}") for c in columns}), params)


class _Run:
    """What one run of events writes and touches."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.buffers = {t.name: _Buffer(t) for t in (units, members, meetings, resolutions,
                                                     tasks, visits, escalations)}
        self.attended: dict[tuple[str, int], dict[str, int]] = defaultdict(
            lambda: dict.fromkeys(("meetings_due", "present", "excused", "unexcused"), 0))
        self.ratings: dict[tuple[str, int], tuple[str, str | None]] = {}
        #: Members whose standing this run has read or changed (written back at flush).
        self.standings: dict[str, Member] = {}
        self.standings_changed: set[str] = set()
        self.flagged: set[tuple[str, int]] = set()
        self.meetings_touched: set[str] = set()
        self.tasks_touched: set[str] = set()
        self.cell_months: set[tuple[str, str]] = set()
        self.months: set[str] = set()
        self.new_cells: set[str] = set()
        self.tree_changed = False
        self.moved: set[str] = set()  # units moved or dissolved in this run
        self.escalations_changed = False

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
            buffer.flush(self.session)
            buffer.new, buffer.changes = {}, {}
        counts = ("meetings_due", "present", "excused", "unexcused")
        blank = {**dict.fromkeys(counts, 0), "rating": None, "rated_cell_id": None,
                 "removal_flagged": False}
        upsert(self.session, member_years, [
            {**blank, "member_id": m, "year": y, **c} for (m, y), c in self.attended.items()],
            add=counts)
        upsert(self.session, member_years, [
            {**blank, "member_id": m, "year": y, "rating": level, "rated_cell_id": cell}
            for (m, y), (level, cell) in self.ratings.items()],
            replace=("rating", "rated_cell_id"))
        upsert(self.session, member_years, [
            {**blank, "member_id": m, "year": y, "removal_flagged": True}
            for m, y in self.flagged], replace=("removal_flagged",))
        # Which cell-months the changed meetings and tasks count in, now all are written.
        for table, ids, month in ((meetings, self.meetings_touched, meetings.c.month),
                                  (tasks, self.tasks_touched, tasks.c.due_month)):
            key = table.c[table.primary_key.columns.keys()[0]]
            ids = sorted(ids)
            for start in range(0, len(ids), CHUNK):
                self.cell_months.update((r[0], r[1]) for r in self.session.execute(
                    select(table.c.cell_id, month).where(key.in_(ids[start:start + CHUNK]))))
        self.attended.clear()
        self.ratings.clear()
        self.flagged.clear()
        self.meetings_touched.clear()
        self.tasks_touched.clear()


def project_run(session: Session, envelopes: list[Envelope], archived: bool = False) -> None:
    """Apply a run of consecutive events (archiving them first, unless they come from
    the archive, as in a rebuild)."""
    if not archived:
        _archive(session, envelopes)
    run = _Run(session)
    _apply(run, envelopes)
    _settle(run)


def project_archive(session: Session, batches: Iterable[list[Envelope]],
                    progress: Callable[[int], None] | None = None) -> int:
    """Project archived events as one run (a rebuild), a batch of details at a time so
    memory stays bounded, settling the summaries once at the end. The models come out
    as from any other split into runs, but each summary row is written once, not once
    per batch. Returns how many events were projected."""
    run, total = _Run(session), 0
    for batch in batches:
        _apply(run, batch)
        total += len(batch)
        if progress:
            progress(len(batch))
    _settle(run)
    return total


def _apply(run: _Run, envelopes: list[Envelope]) -> None:
    # The standings this batch changes, read in a few statements rather than one a member.
    run.load_standings({e["data"]["member_id"] for e in envelopes
                        if e["type"] in MEMBER_EVENTS})
    for envelope in envelopes:
        handler = HANDLERS.get(envelope["type"])
        if handler:
            handler(run, envelope["data"])
    run.flush()


def _archive(session: Session, envelopes: list[Envelope]) -> None:
    session.execute(insert(archive), [archive_row(e) for e in envelopes])


def archive_row(envelope: Envelope) -> dict[str, Any]:
    """The archive's row for an envelope: the event unchanged, and the metadata the audit
    log searches by copied into indexed columns."""
    e, meta = envelope, envelope["metadata"] or {}
    return {"source": e["source"], "position": e["position"], "event_id": e["event_id"],
            "stream_id": e["stream_id"], "type": e["type"], "version": e["version"],
            "data": _dumps(e["data"]), "metadata": _dumps(meta),
            "recorded_at": e["recorded_at"], "hash": e["hash"],
            "actor": _indexed(meta.get("actor"), archive.c.actor),
            "correlation_id": _indexed(meta.get("correlation_id"), archive.c.correlation_id)}


def _indexed(value: Any, column: Any) -> str | None:
    """A metadata value as its column holds it: text that fits, else nothing (a search
    for it then finds no row, rather than the wrong ones)."""
    return value if isinstance(value, str) and len(value) <= column.type.length else None


# -- step one: the detail tables ----------------------------------------------------

def _unit_established(run: _Run, data: dict[str, Any]) -> None:
    is_cell = bool(KINDS.get(data["kind"]) and KINDS[data["kind"]].meets)
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
        "agenda": _dumps(data.get("agenda") or []),
        "speakers": _dumps(data.get("speakers") or []),
        "minutes": data.get("minutes"), "conclusion": data.get("conclusion"),
        "attendance": _dumps(lines), "members_counted": data["members_counted"],
        "members_present": data["members_present"],
        "unexcused": sum(1 for a in lines
                         if a.get("counted", True) and a["status"] == "absent_unexcused"),
        "self_level": (data.get("self_score") or {}).get("level"), "visit_level": None,
        "flags": _dumps(data.get("flags") or [])})
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
            changes[key] = _dumps(changes[key] or [])
    columns = {c.name for c in meetings.columns}
    values = {k: v for k, v in changes.items() if k in columns}
    if values:
        run.meetings.update(data["meeting_id"], **values)
        run.meetings_touched.add(data["meeting_id"])


def _resolution_adopted(run: _Run, data: dict[str, Any]) -> None:
    run.resolutions.insert({"resolution_id": data["resolution_id"],
                            "meeting_id": data["meeting_id"], "title": data["title"],
                            "text": data.get("text"), "vote": _dumps(data["vote"])})


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
        "details": _dumps(data["details"] if "details" in data else details_from_legacy(data)),
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


# -- step two: cell-periods and node sums -----------------------------------------

def _settle(run: _Run) -> None:
    session = run.session
    if not (run.tree_changed or run.new_cells or run.cell_months or run.months
            or run.escalations_changed):
        return
    places = paths.places_for(session)
    changed: set[tuple[str, str]] = set()

    def count(rows: dict[tuple[str, str], tuple[dict[str, Any] | None, dict[str, Any] | None]]
              ) -> None:
        # Node sums take differences, so rows may be counted a part at a time: a whole
        # province's rows (a rebuild) need not be held at once.
        _add_to_nodes(session, rows.values())
        changed.update(rows)

    touched = set(run.cell_months)
    # A year whose members were rated counts them even if no month of it was opened (a
    # province's records start with last year's ratings): its row is made here.
    _create_rows(session, set(), {key for key in touched if len(key[1]) == 4})
    new_months = _open_months(session, run.months)
    if new_months:
        touched |= _create_rows(session, _cells_alive(session, new_months))
    if run.new_cells:
        months = [r.month for r in session.execute(select(opened_months.c.month))]
        touched |= _create_rows(session, _cells_alive(session, months, run.new_cells))
    if run.tree_changed:
        count(_prune_dissolved(session, run.moved, touched))
    for part in _by_cells({key for key in touched if key not in changed}):
        count(_recompute(session, places, part))
    if run.tree_changed:
        count(_reroute(session, places, run.moved, exclude=changed))
    if run.tree_changed or run.escalations_changed:
        _count_open_escalations(session, places)


def _by_cells(keys: set[tuple[str, str]], cells_per_part: int = 1_000
              ) -> Iterable[set[tuple[str, str]]]:
    """(cell, month) keys in parts of whole cells: a cell's quarter and year are summed
    from all its months, so a cell is never split across parts."""
    by_cell: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for key in keys:
        by_cell[key[0]].add(key)
    cells = sorted(by_cell)
    for start in range(0, len(cells), cells_per_part):
        yield {key for cell in cells[start:start + cells_per_part] for key in by_cell[cell]}


def _open_months(session: Session, months: set[str]) -> list[str]:
    if not months:
        return []
    known = {r.month for r in session.execute(
        select(opened_months.c.month).where(opened_months.c.month.in_(sorted(months))))}
    new = sorted(months - known)
    if new:
        session.execute(insert(opened_months), [{"month": m} for m in new])
    return new


def _cells_alive(session: Session, months: list[str], cells: Iterable[str] | None = None
                 ) -> set[tuple[str, str]]:
    """Which (cell, month) pairs of these months the cells existed in (any day of it)."""
    query = select(units.c.unit_id, units.c.established_on, units.c.dissolved_on).where(
        units.c.is_cell)
    rows = []
    if cells is None:
        rows = list(session.execute(query))
    else:
        cells = sorted(cells)
        for start in range(0, len(cells), CHUNK):
            rows += session.execute(query.where(units.c.unit_id.in_(cells[start:start + CHUNK])))
    return {(r.unit_id, m) for r in rows for m in months
            if _alive(r.established_on, r.dissolved_on, m)}


def _alive(established_on: str, dissolved_on: str | None, month: str) -> bool:
    first, last = month_days(month)
    return established_on <= last.isoformat() and (
        dissolved_on is None or dissolved_on > first.isoformat())


def _create_rows(session: Session, wanted: set[tuple[str, str]],
                 years: Iterable[tuple[str, str]] = ()) -> set[tuple[str, str]]:
    """Empty month rows (with their quarter and year rows), and year rows of `years`,
    where missing; returns the month keys, to be computed."""
    keys = {key for cell, month in wanted
            for key in ((cell, month), (cell, quarter_of(month)), (cell, month[:4]))} | set(years)
    upsert(session, cell_periods, [_empty_row(cell, period) for cell, period in sorted(keys)])
    return wanted


def _prune_dissolved(session: Session, units_changed: set[str], touched: set[tuple[str, str]]
                     ) -> dict[tuple[str, str], tuple[dict[str, Any] | None, None]]:
    """A cell dissolved from a date drops its rows for months wholly after it (they
    were opened while it still stood); quarters and years with no month left go too,
    except a year the cell's members were rated for (its ratings stand)."""
    lifetimes = {r.unit_id: (r.established_on, r.dissolved_on) for r in session.execute(
        select(units.c.unit_id, units.c.established_on, units.c.dissolved_on)
        .where(units.c.unit_id.in_(sorted(units_changed))).where(units.c.is_cell)
        .where(units.c.dissolved_on.is_not(None)))}
    removed: dict[tuple[str, str], tuple[dict[str, Any] | None, None]] = {}
    for cell_id, (established_on, dissolved_on) in lifetimes.items():
        rows = {r.period: dict(r._mapping) for r in session.execute(
            select(cell_periods).where(cell_periods.c.cell_id == cell_id))}
        gone = {p for p, r in rows.items() if r["kind"] == "month"
                and not _alive(established_on, dissolved_on, p)}
        if not gone:
            continue
        kept = [p for p, r in rows.items() if r["kind"] == "month" and p not in gone]
        rated = {str(year) for year in session.execute(
            select(member_years.c.year).where(member_years.c.rated_cell_id == cell_id)
            .where(member_years.c.rating.is_not(None)).distinct()).scalars()}
        gone |= {p for p, r in rows.items() if r["kind"] != "month" and p not in rated
                 and not any(quarter_of(m) == p or m[:4] == p for m in kept)}
        for period in gone:
            removed[(cell_id, period)] = (rows[period], None)
            session.execute(delete(cell_periods).where(cell_periods.c.cell_id == cell_id)
                            .where(cell_periods.c.period == period))
        touched |= {(cell_id, m) for m in kept}
    return removed


def _empty_row(cell_id: str, period: str) -> dict[str, Any]:
    kind = "month" if len(period) == 7 and "Q" not in period else (
        "quarter" if "Q" in period else "year")
    return {"cell_id": cell_id, "period": period, "kind": kind,
            **dict.fromkeys(MEASURES, 0), "then_path": "", "today_path": ""}


def _load_rows(session: Session, keys: Iterable[tuple[str, str]]
               ) -> dict[tuple[str, str], dict[str, Any]]:
    wanted = set(keys)
    periods = sorted({period for _, period in wanted})
    cells = sorted({cell for cell, _ in wanted})
    out = {}
    # By cell and by period rather than by (cell, period) pairs: PostgreSQL answers a
    # list of pairs with one index probe per pair, a list of cells with one index scan.
    for start in range(0, len(cells), CHUNK):
        for row in session.execute(select(cell_periods).where(
                cell_periods.c.cell_id.in_(cells[start:start + CHUNK]))
                .where(cell_periods.c.period.in_(periods))):
            if (row.cell_id, row.period) in wanted:
                out[(row.cell_id, row.period)] = dict(row._mapping)
    return out


def _recompute(session: Session, places: paths.Places, touched: set[tuple[str, str]]
               ) -> dict[tuple[str, str], tuple[dict[str, Any] | None, dict[str, Any]]]:
    """Recompute touched month rows from the detail tables, then their quarters and years
    (a touched year key, as a rating makes, recomputes the year alone).

    Returns (old, new) for every row whose figures or paths changed."""
    years_touched = {key for key in touched if len(key[1]) == 4}
    touched = touched - years_touched
    months = sorted({m for _, m in touched})
    details = _month_details(session, touched, months)
    month_rows = _load_rows(session, touched)
    changed: dict[tuple[str, str], tuple[dict[str, Any] | None, dict[str, Any]]] = {}
    for key, old in month_rows.items():
        new = {**old, **details.get(key, dict.fromkeys(MEASURES, 0)), "months": 1}
        _place(places, new)
        if new != old:
            changed[key] = (old, new)
    # Quarters and years: sums of the cell's months, with "held one / visited" as 0 or 1.
    rollups = {(cell, p) for cell, month in month_rows for p in (quarter_of(month), month[:4])}
    rollup_rows = _load_rows(session, rollups | years_touched)
    rated = _year_ratings(session, [key for key in rollup_rows if len(key[1]) == 4])
    by_cell: dict[str, list[str]] = defaultdict(list)
    for cell, period in rollup_rows:
        by_cell[cell].append(period)
    all_months = _load_cell_months(session, list(by_cell))
    for key, old in rollup_rows.items():
        cell, period = key
        parts = [r for m, r in all_months.get(cell, {}).items()
                 if (quarter_of(m) if "Q" in period else m[:4]) == period]
        parts = [changed[(cell, r["period"])][1] if (cell, r["period"]) in changed else r
                 for r in parts]
        new = {**old, **{name: sum(r[name] for r in parts) for name in MEASURES}}
        new["thematic_held"] = int(new["thematic_meetings"] > 0)
        new["visited"] = int(new["visits"] > 0)
        if len(period) == 4:
            new.update(rated.get(key) or dict.fromkeys(YEAR_MEASURES, 0))
        _place(places, new)
        if new != old:
            changed[key] = (old, new)
    upsert(session, cell_periods, [new for _, new in changed.values()],
           replace=(*MEASURES, "then_path", "today_path"))
    return changed


def _year_ratings(session: Session, keys: list[tuple[str, str]]
                  ) -> dict[tuple[str, str], dict[str, int]]:
    """Members rated for the year in each (cell, year), by level."""
    out: dict[tuple[str, str], dict[str, int]] = {}
    cells = sorted({cell for cell, _ in keys})
    years = sorted({int(year) for _, year in keys})
    for start in range(0, len(cells), CHUNK):
        for cell, year, level, count in session.execute(
                select(member_years.c.rated_cell_id, member_years.c.year, member_years.c.rating,
                       func.count())
                .where(member_years.c.rated_cell_id.in_(cells[start:start + CHUNK]))
                .where(member_years.c.year.in_(years)).where(member_years.c.rating.in_(RATINGS))
                .group_by(member_years.c.rated_cell_id, member_years.c.year,
                          member_years.c.rating)):
            key = (cell, str(year))
            out.setdefault(key, dict.fromkeys(YEAR_MEASURES, 0))[f"rated_{level}"] = count
    return out


def _load_cell_months(session: Session, cells: list[str]) -> dict[str, dict[str, dict]]:
    out: dict[str, dict[str, dict]] = defaultdict(dict)
    for start in range(0, len(cells), CHUNK):
        for row in session.execute(select(cell_periods).where(
                cell_periods.c.cell_id.in_(cells[start:start + CHUNK]))
                .where(cell_periods.c.kind == "month")):
            out[row.cell_id][row.period] = dict(row._mapping)
    return out


def _month_details(session: Session, touched: set[tuple[str, str]], months: list[str]
                   ) -> dict[tuple[str, str], dict[str, int]]:
    """The month figures of the touched cell-months, from meetings, visits and tasks."""
    out: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(MEASURES, 0))
    cells = sorted({c for c, _ in touched})
    for start in range(0, len(cells), CHUNK):
        chunk = cells[start:start + CHUNK]
        for m in session.execute(select(meetings).where(meetings.c.cell_id.in_(chunk))
                                 .where(meetings.c.month.in_(months))):
            if (m.cell_id, m.month) not in touched:
                continue
            row = out[(m.cell_id, m.month)]
            row["meetings"] += 1
            if m.kind in ("regular", "combined"):
                row["regular_meetings"] += 1
                row["months_met"] = 1
                row["members_counted"] += m.members_counted
                row["members_present"] += m.members_present
                row["unexcused"] += m.unexcused
                row["q_" + (m.visit_level or m.self_level or "unscored")] += 1
            if m.kind in ("thematic", "combined"):
                row["thematic_meetings"] += 1
                row["thematic_held"] = 1
            if m.duration_minutes is not None:
                row["duration_total"] += m.duration_minutes
                row["duration_meetings"] += 1
        for v in session.execute(select(visits.c.cell_id, visits.c.month)
                                 .where(visits.c.cell_id.in_(chunk))
                                 .where(visits.c.month.in_(months))):
            if (v.cell_id, v.month) in touched:
                out[(v.cell_id, v.month)]["visits"] += 1
                out[(v.cell_id, v.month)]["visited"] = 1
        for t in session.execute(select(tasks.c.cell_id, tasks.c.due_month, tasks.c.state)
                                 .where(tasks.c.cell_id.in_(chunk))
                                 .where(tasks.c.due_month.in_(months))):
            if (t.cell_id, t.due_month) not in touched or t.state == "cancelled":
                continue
            row = out[(t.cell_id, t.due_month)]
            row["tasks_due"] += 1
            row["tasks_completed"] += t.state == "completed"
            # Still to do (assigned, or marked overdue by meetings): whether it is overdue
            # depends on the day the figures are read for (`queries.overdue_tasks`).
            row["tasks_open"] += t.state != "completed"
    return out


def _place(places: paths.Places, row: dict[str, Any]) -> None:
    row["then_path"] = paths.encode(places.then_path(row["cell_id"], row["period"]))
    row["today_path"] = paths.encode(places.today_path(row["cell_id"]))


def _reroute(session: Session, places: paths.Places, units_changed: set[str],
             exclude: set[tuple[str, str]]
             ) -> dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]]:
    """After a restructuring: rows whose place in either tree may have moved — those
    counted under a changed unit, and the changed cells' own."""
    changed = {}
    for unit_id in sorted(units_changed):
        marker = f"%{paths.encode([unit_id])[1:-1]}%"
        query = select(cell_periods).where(cell_periods.c.then_path.like(marker)
                                           | cell_periods.c.today_path.like(marker))
        for row in session.execute(query):
            key = (row.cell_id, row.period)
            if key in exclude or key in changed:
                continue
            old = dict(row._mapping)
            new = dict(old)
            _place(places, new)
            if new != old:
                changed[key] = (old, new)
                session.execute(update(cell_periods)
                                .where(cell_periods.c.cell_id == row.cell_id)
                                .where(cell_periods.c.period == row.period)
                                .values(then_path=new["then_path"], today_path=new["today_path"]))
    return changed


def _add_to_nodes(session: Session,
                  changes: Iterable[tuple[dict[str, Any] | None, dict[str, Any]]]) -> None:
    """Add each row's change to every node on its paths: take the old figures off the
    nodes where they were counted, put the new ones on the nodes where they now belong."""
    deltas: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0] * (len(MEASURES) + 1))
    for old, new in changes:
        for row, sign in ((old, -1), (new, 1)):
            if not row or not row["then_path"]:
                continue
            figures = [1, *(row[name] for name in MEASURES)]
            for grouping in ("then", "today"):
                # The cell's own figures are its row; the nodes are the units above it.
                for node in paths.decode(row[f"{grouping}_path"]):
                    if node == row["cell_id"]:
                        continue
                    delta = deltas[(grouping, node, row["period"])]
                    for i, value in enumerate(figures):
                        delta[i] += sign * value
    deltas = {k: v for k, v in deltas.items() if any(v)}
    names = ("cells", *MEASURES)
    upsert(session, node_periods, [
        {"grouping": g, "node_id": n, "period": p, **dict(zip(names, d, strict=True))}
        for (g, n, p), d in deltas.items()], add=names)
    # A node no cell counts under any more (after a restructuring) has no row, as in a
    # rebuild.
    emptied = [key for key, d in deltas.items() if d[0] < 0]
    for start in range(0, len(emptied), CHUNK):
        session.execute(delete(node_periods).where(node_periods.c.cells == 0).where(tuple_(
            node_periods.c.grouping, node_periods.c.node_id, node_periods.c.period
        ).in_(emptied[start:start + CHUNK])))


def _count_open_escalations(session: Session, places: paths.Places) -> None:
    counts: dict[tuple[str, int], int] = defaultdict(int)
    rows = session.execute(select(escalations.c.cell_id, escalations.c.level, func.count())
                           .where(escalations.c.state != "resolved")
                           .group_by(escalations.c.cell_id, escalations.c.level))
    for cell_id, level, count in rows:
        for node in places.today_path(cell_id):
            counts[(node, level)] += count
    session.execute(delete(node_escalations))
    if counts:
        session.execute(insert(node_escalations), [
            {"node_id": node, "level": level, "open": n}
            for (node, level), n in sorted(counts.items())])


def snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read model and the archive, in key order: for comparisons."""
    out = {}
    for table in (archive, *READ_MODELS):
        rows = session.execute(select(table).order_by(*table.primary_key.columns)).all()
        out[table.name] = [tuple(r) for r in rows]
    return out
