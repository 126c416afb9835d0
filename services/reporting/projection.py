"""Reporting's projection: every event into the archive, then into the read models.

`project_run` is the only writer. The live feed and `chibo rebuild` both call
it with runs of consecutive events, so they cannot disagree. A run is applied
in two steps: each event updates the detail tables (meetings, tasks, visits,
members, escalations, units) and marks what it touched; then the touched
cell-periods are recomputed from the detail tables, and the difference between
their old and new figures is added to every node on their paths. Recomputing
from details (rather than adding each event's share) keeps a corrected or
re-scored meeting exact, and the path stored on each cell-period row says where
its figures were counted, so a restructured tree moves them precisely.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import delete, func, insert, select, tuple_, update
from sqlalchemy.orm import Session

from services.members.tree import KINDS
from services.reporting import paths
from services.reporting.periods import month_days, quarter_of
from services.reporting.tables import (
    MEASURES,
    READ_MODELS,
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

__all__ = ["metadata", "archive", "project", "project_run", "snapshot", "READ_MODELS"]

Envelope = dict[str, Any]
TREE_TYPES = paths.TREE_TYPES
TASK_STATES = {"task_completed": "completed", "task_overdue": "overdue",
               "task_cancelled": "cancelled"}
MEMBER_STATUS = {"member_confirmed": "full", "member_exempted": "exempt",
                 "member_working_away": "working_away", "member_returned": "active",
                 "member_temporarily_transferred": "temporarily_transferred",
                 "member_removed": "removed"}
CHUNK = 500


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def project(session: Session, envelope: Envelope) -> None:
    project_run(session, [envelope])


class _Run:
    """What one run of events touched, for the second step."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.cell_months: set[tuple[str, str]] = set()
        self.months: set[str] = set()
        self.new_cells: set[str] = set()
        self.tree_changed = False
        self.moved: set[str] = set()  # units moved or dissolved in this run
        self.escalations_changed = False


def project_run(session: Session, envelopes: list[Envelope], archived: bool = False) -> None:
    """Apply a run of consecutive events (archiving them first, unless they come from
    the archive, as in a rebuild)."""
    if not archived:
        _archive(session, envelopes)
    run = _Run(session)
    _apply(run, envelopes)
    _settle(run)


def _archive(session: Session, envelopes: list[Envelope]) -> None:
    session.execute(insert(archive), [{
        "source": e["source"], "position": e["position"], "event_id": e["event_id"],
        "stream_id": e["stream_id"], "type": e["type"], "version": e["version"],
        "data": _dumps(e["data"]), "metadata": _dumps(e["metadata"]),
        "recorded_at": e["recorded_at"], "hash": e["hash"]} for e in envelopes])


def _apply(run: _Run, envelopes: list[Envelope]) -> None:
    meeting_held = [e["data"] for e in envelopes if e["type"] == "meeting_held"]
    if meeting_held:
        _meetings_held(run, meeting_held)
    for envelope in envelopes:
        if envelope["type"] != "meeting_held":
            handler = HANDLERS.get(envelope["type"])
            if handler:
                handler(run, envelope["data"])


# -- step one: the detail tables ----------------------------------------------------

def _unit_established(run: _Run, data: dict[str, Any]) -> None:
    is_cell = bool(KINDS.get(data["kind"]) and KINDS[data["kind"]].meets)
    run.session.execute(insert(units).values(
        unit_id=data["unit_id"], name=data["name"], kind=data["kind"],
        parent_id=data.get("parent_id"), is_cell=is_cell,
        established_on=str(data["effective_date"])))
    if is_cell:
        run.new_cells.add(data["unit_id"])


def _unit_renamed(run: _Run, data: dict[str, Any]) -> None:
    run.session.execute(update(units).where(units.c.unit_id == data["unit_id"])
                        .values(name=data["name"]))


def _unit_moved(run: _Run, data: dict[str, Any]) -> None:
    run.session.execute(update(units).where(units.c.unit_id == data["unit_id"])
                        .values(parent_id=data["parent_id"]))
    run.tree_changed = True
    run.moved.add(data["unit_id"])


def _unit_dissolved(run: _Run, data: dict[str, Any]) -> None:
    run.session.execute(update(units).where(units.c.unit_id == data["unit_id"]).values(
        dissolved_on=str(data["effective_date"]), successor_id=data.get("successor_id")))
    run.tree_changed = True
    run.moved.add(data["unit_id"])


def _member_admitted(run: _Run, data: dict[str, Any]) -> None:
    run.session.execute(insert(members).values(
        member_id=data["member_id"], full_name=data["full_name"], cell_id=data["cell_id"],
        status="probationary", admitted_on=str(data["admitted_on"])))


def _member_renamed(run: _Run, data: dict[str, Any]) -> None:
    run.session.execute(update(members).where(members.c.member_id == data["member_id"])
                        .values(full_name=data["full_name"]))


def _member_status(run: _Run, data: dict[str, Any], status: str) -> None:
    run.session.execute(update(members).where(members.c.member_id == data["member_id"])
                        .values(status=status))


def _member_transferred(run: _Run, data: dict[str, Any]) -> None:
    to_cell = data.get("to_cell_id")
    values: dict[str, Any] = {"cell_id": to_cell} if to_cell else {"status": "transferred_out"}
    run.session.execute(update(members).where(members.c.member_id == data["member_id"])
                        .values(**values))


def _member_rated(run: _Run, data: dict[str, Any]) -> None:
    _add_member_years(run.session, {(data["member_id"], int(data["year"])): {}},
                      rating=data["level"])


def _meetings_held(run: _Run, held: list[dict[str, Any]]) -> None:
    rows, attended = [], defaultdict(lambda: defaultdict(int))
    for data in held:
        held_on = str(data["held_on"])
        lines = data["attendance"]
        rows.append({
            "meeting_id": data["meeting_id"], "cell_id": data["cell_id"], "month": held_on[:7],
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
        run.cell_months.add((data["cell_id"], held_on[:7]))
        run.months.add(held_on[:7])
        year = int(held_on[:4])
        for line in lines:
            counts = attended[(line["member_id"], year)]
            if line.get("counted", True):
                counts["meetings_due"] += 1
                if line["status"] == "present":
                    counts["present"] += 1
                elif line["status"] == "absent_unexcused":
                    counts["unexcused"] += 1
                else:
                    counts["excused"] += 1
            else:
                counts["excused"] += 1
    run.session.execute(insert(meetings), rows)
    _add_member_years(run.session, attended)


def _meeting_corrected(run: _Run, data: dict[str, Any]) -> None:
    changes = dict(data["changes"])
    for key in ("agenda", "speakers", "flags"):
        if key in changes:
            changes[key] = _dumps(changes[key] or [])
    columns = {c.name for c in meetings.columns}
    values = {k: v for k, v in changes.items() if k in columns}
    if not values:
        return
    run.session.execute(update(meetings).where(meetings.c.meeting_id == data["meeting_id"])
                        .values(**values))
    _touch_meeting(run, data["meeting_id"])


def _touch_meeting(run: _Run, meeting_id: str) -> None:
    row = run.session.execute(select(meetings.c.cell_id, meetings.c.month)
                              .where(meetings.c.meeting_id == meeting_id)).first()
    if row:
        run.cell_months.add((row.cell_id, row.month))


def _resolution_adopted(run: _Run, data: dict[str, Any]) -> None:
    run.session.execute(insert(resolutions).values(
        resolution_id=data["resolution_id"], meeting_id=data["meeting_id"],
        title=data["title"], text=data.get("text"), vote=_dumps(data["vote"])))


def _task_assigned(run: _Run, data: dict[str, Any]) -> None:
    due_on = str(data["due_on"])
    run.session.execute(insert(tasks).values(
        task_id=data["task_id"], cell_id=data["cell_id"], meeting_id=data["meeting_id"],
        title=data["title"], assignee_name=data["assignee_name"], due_on=due_on,
        due_month=due_on[:7], state="assigned"))
    run.cell_months.add((data["cell_id"], due_on[:7]))


def _task_state(run: _Run, data: dict[str, Any], state: str) -> None:
    run.session.execute(update(tasks).where(tasks.c.task_id == data["task_id"]).values(
        state=state, completed_on=str(data["completed_on"]) if data.get("completed_on")
        else None))
    row = run.session.execute(select(tasks.c.cell_id, tasks.c.due_month)
                              .where(tasks.c.task_id == data["task_id"])).first()
    if row:
        run.cell_months.add((row.cell_id, row.due_month))


def _visit_logged(run: _Run, data: dict[str, Any]) -> None:
    visited_on = str(data["visited_on"])
    run.session.execute(insert(visits).values(
        visit_id=data["visit_id"], cell_id=data["cell_id"], meeting_id=data["meeting_id"],
        month=visited_on[:7], visitor=data["visitor"], visited_on=visited_on,
        confirmed_level=data.get("confirmed_level"), comments=data.get("comments") or ""))
    if data.get("confirmed_level"):
        run.session.execute(update(meetings).where(meetings.c.meeting_id == data["meeting_id"])
                            .values(visit_level=data["confirmed_level"]))
        _touch_meeting(run, data["meeting_id"])
    run.cell_months.add((data["cell_id"], visited_on[:7]))
    run.months.add(visited_on[:7])


def _escalation_raised(run: _Run, data: dict[str, Any]) -> None:
    run.session.execute(insert(escalations).values(
        escalation_id=data["escalation_id"], rule=data["rule"], level=data["level"],
        target_unit_id=data["target_unit_id"], target_name=data["target_name"],
        subject_id=data["subject_id"], subject_name=data["subject_name"],
        cell_id=data["cell_id"], period=data["period"], reason=data["reason"],
        raised_on=str(data["raised_on"]), state="raised"))
    if data["rule"] == "removal_candidate":
        year = int(str(data["raised_on"])[:4])
        _add_member_years(run.session, {(data["subject_id"], year): {}}, removal_flagged=True)
    run.escalations_changed = True


def _escalation_update(run: _Run, escalation_id: str, **values: Any) -> None:
    run.session.execute(update(escalations)
                        .where(escalations.c.escalation_id == escalation_id).values(**values))
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
    **{kind: (lambda run, data, status=status: _member_status(run, data, status))
       for kind, status in MEMBER_STATUS.items()},
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


def _add_member_years(session: Session, increments: dict[tuple[str, int], dict[str, int]],
                      **values: Any) -> None:
    """Add counts to (member, year) rows, creating them; `values` are set as given."""
    keys = list(increments)
    existing: dict[tuple[str, int], dict[str, Any]] = {}
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start:start + CHUNK]
        for row in session.execute(select(member_years).where(
                tuple_(member_years.c.member_id, member_years.c.year).in_(chunk))):
            existing[(row.member_id, row.year)] = dict(row._mapping)
    fresh, changed = [], []
    for key, counts in increments.items():
        row = existing.get(key) or {"member_id": key[0], "year": key[1], "meetings_due": 0,
                                    "present": 0, "excused": 0, "unexcused": 0,
                                    "rating": None, "removal_flagged": False}
        for name, count in counts.items():
            row[name] += count
        row.update(values)
        (changed if key in existing else fresh).append(row)
    if fresh:
        session.execute(insert(member_years), fresh)
    for row in changed:
        session.execute(update(member_years).where(member_years.c.member_id == row["member_id"])
                        .where(member_years.c.year == row["year"]).values(**row))


# -- step two: cell-periods and node sums -----------------------------------------

def _settle(run: _Run) -> None:
    session = run.session
    if not (run.tree_changed or run.new_cells or run.cell_months or run.months
            or run.escalations_changed):
        return
    places = paths.places_for(session)
    changed: dict[tuple[str, str], tuple[dict[str, Any] | None, dict[str, Any] | None]] = {}
    touched = set(run.cell_months)
    new_months = _open_months(session, run.months)
    if new_months:
        touched |= _create_rows(session, _cells_alive(session, new_months))
    if run.new_cells:
        months = [r.month for r in session.execute(select(opened_months.c.month))]
        touched |= _create_rows(session, _cells_alive(session, months, run.new_cells))
    if run.tree_changed:
        changed.update(_prune_dissolved(session, run.moved, touched))
    touched = {key for key in touched if key not in changed}
    if touched:
        changed.update(_recompute(session, places, touched))
    if run.tree_changed:
        changed.update(_reroute(session, places, run.moved, exclude=set(changed)))
    _add_to_nodes(session, changed.values())
    if run.tree_changed or run.escalations_changed:
        _count_open_escalations(session, places)


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


def _create_rows(session: Session, wanted: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Empty month rows (with their quarter and year rows) where missing; returns the
    month keys, to be computed."""
    if not wanted:
        return set()
    keys = {key for cell, month in wanted
            for key in ((cell, month), (cell, quarter_of(month)), (cell, month[:4]))}
    existing = _load_rows(session, keys)
    fresh = [_empty_row(cell, period) for cell, period in sorted(keys - set(existing))]
    if fresh:
        session.execute(insert(cell_periods), fresh)
    return wanted


def _prune_dissolved(session: Session, units_changed: set[str], touched: set[tuple[str, str]]
                     ) -> dict[tuple[str, str], tuple[dict[str, Any] | None, None]]:
    """A cell dissolved from a date drops its rows for months wholly after it (they
    were opened while it still stood); quarters and years with no month left go too."""
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
        gone |= {p for p, r in rows.items() if r["kind"] != "month"
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
    keys = list(keys)
    out = {}
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start:start + CHUNK]
        for row in session.execute(select(cell_periods).where(
                tuple_(cell_periods.c.cell_id, cell_periods.c.period).in_(chunk))):
            out[(row.cell_id, row.period)] = dict(row._mapping)
    return out


def _recompute(session: Session, places: paths.Places, touched: set[tuple[str, str]]
               ) -> dict[tuple[str, str], tuple[dict[str, Any] | None, dict[str, Any]]]:
    """Recompute touched month rows from the detail tables, then their quarters and years.

    Returns (old, new) for every row whose figures or paths changed."""
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
    rollup_rows = _load_rows(session, rollups)
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
        _place(places, new)
        if new != old:
            changed[key] = (old, new)
    for _old, new in changed.values():
        session.execute(update(cell_periods).where(cell_periods.c.cell_id == new["cell_id"])
                        .where(cell_periods.c.period == new["period"]).values(
            **{name: new[name] for name in (*MEASURES, "then_path", "today_path")}))
    return changed


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
            row["tasks_overdue"] += t.state == "overdue"
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
                for node in paths.decode(row[f"{grouping}_path"]):
                    delta = deltas[(grouping, node, row["period"])]
                    for i, value in enumerate(figures):
                        delta[i] += sign * value
    deltas = {k: v for k, v in deltas.items() if any(v)}
    if not deltas:
        return
    keys = list(deltas)
    existing: dict[tuple[str, str, str], dict[str, Any]] = {}
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start:start + CHUNK]
        for row in session.execute(select(node_periods).where(tuple_(
                node_periods.c.grouping, node_periods.c.node_id, node_periods.c.period
        ).in_(chunk))):
            existing[(row.grouping, row.node_id, row.period)] = dict(row._mapping)
    names = ("cells", *MEASURES)
    fresh = []
    for key, delta in deltas.items():
        row = existing.get(key)
        if row is None:
            fresh.append({"grouping": key[0], "node_id": key[1], "period": key[2],
                          **dict(zip(names, delta, strict=True))})
            continue
        values = {name: row[name] + d for name, d in zip(names, delta, strict=True)}
        where = ((node_periods.c.grouping == key[0]) & (node_periods.c.node_id == key[1])
                 & (node_periods.c.period == key[2]))
        if values["cells"] == 0:
            session.execute(delete(node_periods).where(where))
        else:
            session.execute(update(node_periods).where(where).values(**values))
    if fresh:
        session.execute(insert(node_periods), fresh)


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


def today_of(session: Session) -> date | None:
    """The latest day any month was opened: reports treat later months as future."""
    month = session.execute(select(func.max(opened_months.c.month))).scalar()
    return month_days(month)[1] if month else None
