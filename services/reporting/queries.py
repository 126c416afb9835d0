"""What the dashboard and the JSON API show, read from reporting's read models.

Each function returns plain JSON-ready data; pages and exports dress it.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chibo.errors import NotFound, ValidationFailed
from services.common import name_sort_key, text_sort_key
from services.reporting import paths
from services.reporting.periods import bounds, kind_of, months_of, parse, quarter_of, trend_periods
from services.reporting.tables import (
    MEASURES,
    cell_periods,
    escalations,
    meetings,
    member_years,
    members,
    node_escalations,
    node_periods,
    opened_months,
    resolutions,
    tasks,
    units,
    visits,
)

GROUPINGS = ("then", "today")
LEVELS = ("good", "fair", "average", "poor")


# -- figures ------------------------------------------------------------------------

def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def metrics(row: dict[str, Any] | None) -> dict[str, Any]:
    """The dashboard's figures from a row of summed measures (a node's or a cell's)."""
    r = dict.fromkeys(("cells", *MEASURES), 0) | (row or {})
    cells = r["cells"] if row and "cells" in row else (1 if row else 0)
    return {
        "cells": cells, "cell_months": r["months"], "months_met": r["months_met"],
        "met_share": _share(r["months_met"], r["months"]),
        "cells_thematic": r["thematic_held"], "thematic_share": _share(r["thematic_held"], cells),
        "thematic_meetings": r["thematic_meetings"],
        "members_counted": r["members_counted"], "members_present": r["members_present"],
        "attendance_rate": _share(r["members_present"], r["members_counted"]),
        "unexcused_absences": r["unexcused"],
        "avg_duration_minutes": (round(r["duration_total"] / r["duration_meetings"])
                                 if r["duration_meetings"] else None),
        "quality": {level: r[f"q_{level}"] for level in (*LEVELS, "unscored")},
        "tasks_due": r["tasks_due"], "tasks_completed": r["tasks_completed"],
        "tasks_overdue": r["tasks_overdue"],
        "task_completion": _share(r["tasks_completed"], r["tasks_due"]),
        "cells_visited": r["visited"], "visit_coverage": _share(r["visited"], cells),
    }


def flat(figures: dict[str, Any]) -> dict[str, Any]:
    """Metrics as one flat row (for tables and exports)."""
    out = {k: v for k, v in figures.items() if k != "quality"}
    out.update({f"quality_{level}": n for level, n in figures["quality"].items()})
    return out


# -- the tree -----------------------------------------------------------------------

def _unit(session: Session, unit_id: str) -> dict[str, Any]:
    row = session.execute(select(units).where(units.c.unit_id == unit_id)).first()
    if row is None:
        raise NotFound(f"No unit {unit_id!r} in the reports. Pick one from the overview.")
    return dict(row._mapping)


def root_id(session: Session) -> str:
    rows = session.execute(select(units.c.unit_id, units.c.name)
                           .where(units.c.parent_id.is_(None))
                           .where(units.c.dissolved_on.is_(None))).all()
    if not rows:
        raise NotFound("No organisation has been recorded yet: import the tree first.")
    return sorted(rows, key=lambda r: text_sort_key(r.name))[0].unit_id


def _names(session: Session, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    return {r.unit_id: r.name for r in session.execute(
        select(units.c.unit_id, units.c.name).where(units.c.unit_id.in_(ids)))}


def _path(session: Session, places: paths.Places, unit_id: str) -> list[dict[str, str]]:
    ids = places.today_path(unit_id)
    names = _names(session, ids)
    return [{"unit_id": i, "name": names.get(i, i)} for i in ids]


def _children(places: paths.Places, unit_id: str, period: str, grouping: str) -> list[Any]:
    day = places.now if grouping == "today" else bounds(period)[1]
    return places.children(unit_id, day)


# -- periods ------------------------------------------------------------------------

def opened(session: Session) -> list[str]:
    return [r.month for r in session.execute(
        select(opened_months.c.month).order_by(opened_months.c.month.desc()))]


def period_choices(session: Session) -> list[str]:
    months = opened(session)
    quarters = sorted({quarter_of(m) for m in months}, reverse=True)
    years = sorted({m[:4] for m in months}, reverse=True)
    return [*months, *quarters, *years]


def default_period(session: Session, today: date | None = None) -> str:
    """The latest month that has ended and has figures (the one a report is about)."""
    current = _month(today)
    months = opened(session)
    ended = [m for m in months if m < current]
    return ended[0] if ended else (months[0] if months else current)


def _month(today: date | None) -> str:
    return (today or date.today()).strftime("%Y-%m")


def _grouping(value: str | None) -> str:
    if value in (None, ""):
        return "then"
    if value not in GROUPINGS:
        raise ValidationFailed({"grouping": ["Expected 'then' (the tree as it was) or "
                                             "'today' (today's tree)."]})
    return value


# -- pages --------------------------------------------------------------------------

def _node_rows(session: Session, grouping: str, node_ids: list[str], periods: list[str]
               ) -> dict[tuple[str, str], dict[str, Any]]:
    if not node_ids or not periods:
        return {}
    query = (select(node_periods).where(node_periods.c.grouping == grouping)
             .where(node_periods.c.node_id.in_(node_ids))
             .where(node_periods.c.period.in_(periods)))
    return {(r.node_id, r.period): dict(r._mapping) for r in session.execute(query)}


def _cell_rows(session: Session, cell_ids: list[str], periods: list[str]
               ) -> dict[tuple[str, str], dict[str, Any]]:
    """Cells' own figures (a cell is a leaf: its row is its total)."""
    if not cell_ids:
        return {}
    query = (select(cell_periods).where(cell_periods.c.cell_id.in_(cell_ids))
             .where(cell_periods.c.period.in_(periods)))
    return {(r.cell_id, r.period): {**r._mapping, "cells": 1} for r in session.execute(query)}


def _open_escalations(session: Session, node_ids: list[str]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {n: {} for n in node_ids}
    if node_ids:
        for r in session.execute(select(node_escalations)
                                 .where(node_escalations.c.node_id.in_(node_ids))):
            out[r.node_id][str(r.level)] = r.open
    return out


def overview(session: Session, unit_id: str | None = None, period: str | None = None,
             grouping: str | None = None, today: date | None = None) -> dict[str, Any]:
    """A node (the province by default) for a period: its figures, their trend, its
    open escalations, and the same figures for each unit directly under it."""
    grouping = _grouping(grouping)
    period = parse(period) if period else default_period(session, today)
    unit_id = unit_id or root_id(session)
    unit = _unit(session, unit_id)
    places = paths.places_for(session)
    trend = trend_periods(period)
    children = _children(places, unit_id, period, grouping)
    rows = _node_rows(session, grouping, [unit_id, *[c.unit_id for c in children]],
                      sorted({*trend, period}))
    rows.update(_cell_rows(session, [c.unit_id for c in children
                                     if places.tree.kinds[c.kind].meets], [period]))
    escalations_open = _open_escalations(session, [unit_id, *[c.unit_id for c in children]])
    child_rows = []
    for child in children:
        figures = flat(metrics(rows.get((child.unit_id, period))))
        is_cell = places.tree.kinds[child.kind].meets
        child_rows.append({
            "unit_id": child.unit_id, "name": child.name, "kind": child.kind,
            "href": f"/reporting/{'cells' if is_cell else 'units'}/{child.unit_id}",
            **figures, "escalations_open": sum(escalations_open[child.unit_id].values())})
    own = escalations_open[unit_id]
    return {
        "unit": {"unit_id": unit_id, "name": unit["name"], "kind": unit["kind"]},
        "path": _path(session, places, unit_id), "period": period,
        "period_kind": kind_of(period), "grouping": grouping,
        "periods": period_choices(session),
        "summary": metrics(rows.get((unit_id, period))),
        "trend": [{"period": p, **metrics(rows.get((unit_id, p)))} for p in trend],
        "escalations_open": {"by_level": own, "total": sum(own.values())},
        "children": child_rows,
    }


def heatmap(session: Session, unit_id: str | None, year: int | None,
            grouping: str | None = None, today: date | None = None) -> dict[str, Any]:
    """The units under a node × the months of a year: for cells, whether the regular
    meeting was held and at what level; for committees, the share of cells that met."""
    grouping = _grouping(grouping)
    latest = _month(today)
    year = year or int(default_period(session, today)[:4])
    unit_id = unit_id or root_id(session)
    unit = _unit(session, unit_id)
    places = paths.places_for(session)
    months = months_of(str(year))
    children = _children(places, unit_id, str(year), grouping)
    ids = [c.unit_id for c in children]
    by_node = _node_rows(session, grouping, ids, months)
    cells = {r.cell_id + "|" + r.period: dict(r._mapping) for r in session.execute(
        select(cell_periods).where(cell_periods.c.cell_id.in_(ids))
        .where(cell_periods.c.period.in_(months)))} if ids else {}
    rows = []
    for child in children:
        is_cell = places.tree.kinds[child.kind].meets
        states = {}
        for month in months:
            if month > latest:
                states[month] = {"state": "future"}
            elif is_cell:
                states[month] = _cell_state(cells.get(f"{child.unit_id}|{month}"), month, latest)
            else:
                node = by_node.get((child.unit_id, month))
                share = _share(node["months_met"], node["months"]) if node else None
                states[month] = {"state": "share" if node else "none", "share": share}
        rows.append({"unit_id": child.unit_id, "name": child.name, "is_cell": is_cell,
                     "href": f"/reporting/{'cells' if is_cell else 'units'}/{child.unit_id}",
                     "months": states})
    return {"unit": {"unit_id": unit_id, "name": unit["name"], "kind": unit["kind"]},
            "path": _path(session, places, unit_id), "year": year, "grouping": grouping,
            "years": sorted({int(m[:4]) for m in opened(session)}, reverse=True),
            "months": months, "rows": rows}


def _cell_state(row: dict[str, Any] | None, month: str, current: str) -> dict[str, Any]:
    """A cell-month's state on the heat map: held (and how well), missed, or still
    open (the current month)."""
    if row is None:
        return {"state": "none"}
    if row["months_met"]:
        # The lowest level held that month: oversight looks at the weakest meeting.
        level = next((lv for lv in reversed(LEVELS) if row[f"q_{lv}"]), "unscored")
        return {"state": "held", "level": level}
    return {"state": "pending" if month >= current else "missed"}


def heatmap_cells(session: Session, unit_id: str | None, year: int | None,
                  grouping: str | None = None, today: date | None = None) -> dict[str, Any]:
    """`heatmap` with cells for rows (the heat map page): every cell under the node,
    through the committees between, depth first in name order, each row naming the
    unit it sits under (`parent_id`, `parent_name`)."""
    grouping = _grouping(grouping)
    latest = _month(today)
    year = year or int(default_period(session, today)[:4])
    unit_id = unit_id or root_id(session)
    unit = _unit(session, unit_id)
    places = paths.places_for(session)
    months = months_of(str(year))
    found: list[tuple[Any, str, str]] = []

    def descend(node_id: str, node_name: str) -> None:
        for child in _children(places, node_id, str(year), grouping):
            if places.tree.kinds[child.kind].meets:
                found.append((child, node_id, node_name))
            else:
                descend(child.unit_id, child.name)

    descend(unit_id, unit["name"])
    ids = [child.unit_id for child, _, _ in found]
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for start in range(0, len(ids), 1000):
        cells.update({(r.cell_id, r.period): dict(r._mapping) for r in session.execute(
            select(cell_periods).where(cell_periods.c.cell_id.in_(ids[start:start + 1000]))
            .where(cell_periods.c.period.in_(months)))})
    rows = []
    for child, parent_id, parent_name in found:
        rows.append({"unit_id": child.unit_id, "name": child.name, "is_cell": True,
                     "href": f"/reporting/cells/{child.unit_id}", "parent_id": parent_id,
                     "parent_name": parent_name,
                     "months": {month: {"state": "future"} if month > latest else _cell_state(
                         cells.get((child.unit_id, month)), month, latest)
                         for month in months}})
    return {"unit": {"unit_id": unit_id, "name": unit["name"], "kind": unit["kind"]},
            "path": _path(session, places, unit_id), "year": year, "grouping": grouping,
            "years": sorted({int(m[:4]) for m in opened(session)}, reverse=True),
            "months": months, "rows": rows}


def cell(session: Session, cell_id: str, year: int | None = None,
         today: date | None = None) -> dict[str, Any]:
    info = _unit(session, cell_id)
    places = paths.places_for(session)
    years = sorted({int(r.period) for r in session.execute(
        select(cell_periods.c.period).where(cell_periods.c.cell_id == cell_id)
        .where(cell_periods.c.kind == "year"))}, reverse=True)
    year = year or (years[0] if years else date.today().year)
    month_rows = {r.period: dict(r._mapping) for r in session.execute(
        select(cell_periods).where(cell_periods.c.cell_id == cell_id)
        .where(cell_periods.c.kind == "month").where(cell_periods.c.period.like(f"{year}-%")))}
    latest = _month(today)
    months = []
    for month in months_of(str(year)):
        row = month_rows.get(month)
        if row is None:
            continue
        figures = metrics(row)
        months.append({"month": month, **_cell_state(row, month, latest),
                       "regular_held": bool(row["months_met"]), "meetings": row["meetings"],
                       "thematic_meetings": row["thematic_meetings"],
                       "members_counted": row["members_counted"],
                       "members_present": row["members_present"],
                       "attendance_rate": figures["attendance_rate"],
                       "unexcused_absences": row["unexcused"],
                       "avg_duration_minutes": figures["avg_duration_minutes"],
                       "visits": row["visits"], "tasks_due": row["tasks_due"],
                       "tasks_completed": row["tasks_completed"]})
    held = [_meeting_row(dict(r._mapping)) for r in session.execute(
        select(meetings).where(meetings.c.cell_id == cell_id)
        .where(meetings.c.month.like(f"{year}-%")).order_by(meetings.c.held_on))]
    roll = [dict(r._mapping) for r in session.execute(
        select(members.c.member_id, members.c.full_name, members.c.status)
        .where(members.c.cell_id == cell_id))]
    tallies = {r.member_id: dict(r._mapping) for r in session.execute(
        select(member_years).where(member_years.c.year == year)
        .where(member_years.c.member_id.in_([m["member_id"] for m in roll])))} if roll else {}
    people = []
    for m in sorted(roll, key=lambda m: name_sort_key(m["full_name"])):
        tally = tallies.get(m["member_id"], {})
        people.append({**m, "href": f"/reporting/members/{m['member_id']}",
                       "meetings_due": tally.get("meetings_due", 0),
                       "present": tally.get("present", 0),
                       "unexcused": tally.get("unexcused", 0),
                       "attendance_rate": _share(tally.get("present", 0),
                                                 tally.get("meetings_due", 0)),
                       "rating": tally.get("rating"),
                       "removal_flagged": bool(tally.get("removal_flagged"))})
    parent = _names(session, [info["parent_id"]]).get(info["parent_id"]) if info[
        "parent_id"] else None
    return {"cell": {**info, "cell_id": cell_id, "parent_name": parent},
            "path": _path(session, places, cell_id), "year": year, "years": years,
            "months": months, "meetings": held, "tasks": cell_tasks(session, cell_id),
            "members": people}


def _meeting_row(m: dict[str, Any]) -> dict[str, Any]:
    return {"meeting_id": m["meeting_id"], "href": f"/reporting/meetings/{m['meeting_id']}",
            "held_on": m["held_on"], "kind": m["kind"], "topic": m["topic"],
            "members_counted": m["members_counted"], "members_present": m["members_present"],
            "attendance_rate": _share(m["members_present"], m["members_counted"]),
            "unexcused_absences": m["unexcused"], "duration_minutes": m["duration_minutes"],
            "self_level": m["self_level"], "visit_level": m["visit_level"],
            "level": m["visit_level"] or m["self_level"]}


def meeting(session: Session, meeting_id: str) -> dict[str, Any]:
    row = session.execute(select(meetings).where(meetings.c.meeting_id == meeting_id)).first()
    if row is None:
        raise NotFound(f"No recorded meeting {meeting_id!r}. Open it from its cell's page.")
    m = dict(row._mapping)
    attendance = json.loads(m["attendance"])
    names = {a["member_id"]: a["full_name"] for a in attendance}
    held_visits = [dict(r._mapping) for r in session.execute(
        select(visits).where(visits.c.meeting_id == meeting_id).order_by(visits.c.visited_on))]
    votes = [{"title": r.title, "text": r.text, "vote": json.loads(r.vote)}
             for r in session.execute(select(resolutions)
                                      .where(resolutions.c.meeting_id == meeting_id)
                                      .order_by(resolutions.c.resolution_id))]
    return {
        "meeting": {**{k: v for k, v in m.items() if k != "attendance"},
                    "agenda": json.loads(m["agenda"]), "speakers": [
                        names.get(s, s) for s in json.loads(m["speakers"])],
                    "flags": json.loads(m["flags"]),
                    "cell_name": _names(session, [m["cell_id"]]).get(m["cell_id"]),
                    "chair_name": names.get(m["chair_id"]),
                    "minutes_taker_name": names.get(m["minutes_taker_id"]),
                    "level": m["visit_level"] or m["self_level"]},
        "attendance": [{"member_id": a["member_id"], "full_name": a["full_name"],
                        "href": f"/reporting/members/{a['member_id']}",
                        "status": a["status"], "reason": a.get("reason"),
                        "counted": a.get("counted", True), "dues_paid": a.get("dues_paid")}
                       for a in sorted(attendance, key=lambda a: name_sort_key(a["full_name"]))],
        "resolutions": votes,
        "tasks": [dict(r._mapping) for r in session.execute(
            select(tasks).where(tasks.c.meeting_id == meeting_id).order_by(tasks.c.task_id))],
        "visits": held_visits,
        "path": _path(session, paths.places_for(session), m["cell_id"]),
    }


def member(session: Session, member_id: str, year: int | None = None) -> dict[str, Any]:
    row = session.execute(select(members).where(members.c.member_id == member_id)).first()
    if row is None:
        raise NotFound(f"No member {member_id!r}. Open members from their cell's page.")
    info = dict(row._mapping)
    years = [dict(r._mapping) for r in session.execute(
        select(member_years).where(member_years.c.member_id == member_id)
        .order_by(member_years.c.year.desc()))]
    for y in years:
        y["attendance_rate"] = _share(y["present"], y["meetings_due"])
    year = year or (years[0]["year"] if years else date.today().year)
    lines = []
    # The meetings of the member's present cell; the member's line in each minutes.
    marker = f'%"member_id": {json.dumps(member_id, ensure_ascii=False)}%'
    for m in session.execute(select(meetings.c.meeting_id, meetings.c.held_on, meetings.c.kind,
                                    meetings.c.attendance)
                             .where(meetings.c.cell_id == info["cell_id"])
                             .where(meetings.c.month.like(f"{year}-%"))
                             .where(meetings.c.attendance.like(marker))
                             .order_by(meetings.c.held_on)):
        line = next((a for a in json.loads(m.attendance) if a["member_id"] == member_id), None)
        if line:
            lines.append({"meeting_id": m.meeting_id, "href": f"/reporting/meetings/{m.meeting_id}",
                          "held_on": m.held_on, "kind": m.kind, "status": line["status"],
                          "reason": line.get("reason"), "counted": line.get("counted", True)})
    cell_name = _names(session, [info["cell_id"]]).get(info["cell_id"]) if info[
        "cell_id"] else None
    return {"member": {**info, "cell_name": cell_name}, "year": year, "years": years,
            "attendance": lines}


# -- escalations ---------------------------------------------------------------------

AGE_BUCKETS = (("0-7", 0, 7), ("8-30", 8, 30), ("31+", 31, None))


def escalation_list(session: Session, today: date, state: str | None = "open",
                    level: int | None = None, rule: str | None = None,
                    unit_id: str | None = None, limit: int = 500) -> dict[str, Any]:
    query = select(escalations)
    if state == "open":
        query = query.where(escalations.c.state != "resolved")
    elif state:
        query = query.where(escalations.c.state == state)
    if level:
        query = query.where(escalations.c.level == level)
    if rule:
        query = query.where(escalations.c.rule == rule)
    if unit_id:
        marker = f"%{paths.encode([unit_id])[1:-1]}%"
        under = (select(cell_periods.c.cell_id).where(cell_periods.c.today_path.like(marker))
                 .distinct())
        query = query.where(escalations.c.cell_id.in_(under)
                            | (escalations.c.target_unit_id == unit_id))
    found = [dict(r._mapping) for r in session.execute(
        query.order_by(escalations.c.raised_on, escalations.c.escalation_id))]
    by_level: dict[str, int] = {}
    by_age = {name: 0 for name, _, _ in AGE_BUCKETS}
    for e in found:
        e["age_days"] = (today - date.fromisoformat(e["raised_on"])).days
        by_level[str(e["level"])] = by_level.get(str(e["level"]), 0) + 1
        for name, low, high in AGE_BUCKETS:
            if e["age_days"] >= low and (high is None or e["age_days"] <= high):
                by_age[name] += 1
    found.sort(key=lambda e: (-e["age_days"], -e["level"], e["escalation_id"]))
    return {"filters": {"state": state, "level": level, "rule": rule, "unit": unit_id},
            "total": len(found), "by_level": by_level, "by_age": by_age,
            "escalations": found[:limit]}


# -- the older, flat endpoints -----------------------------------------------------------

def cell_month_report(session: Session, month: str) -> list[dict[str, Any]]:
    """Every cell that existed in `month`: its regular meeting, attendance and level."""
    rows = session.execute(
        select(cell_periods, units.c.name).join(units, units.c.unit_id == cell_periods.c.cell_id)
        .where(cell_periods.c.period == month)).all()
    out = []
    for r in rows:
        row = dict(r._mapping)
        figures = metrics(row)
        state = _cell_state(row, month, month)
        out.append({"cell_id": r.cell_id, "cell_name": r.name, "month": month,
                    "regular_held": bool(r.months_met), "meetings": r.meetings,
                    "attendance_rate": figures["attendance_rate"], "visits": r.visits,
                    "thematic_meetings": r.thematic_meetings,
                    "quality_level": state.get("level") if state.get("level") != "unscored"
                    else None})
    return sorted(out, key=lambda c: (text_sort_key(c["cell_name"]), c["cell_id"]))


def cell_tasks(session: Session, cell_id: str) -> list[dict[str, Any]]:
    rows = session.execute(select(tasks, meetings.c.held_on)
                           .outerjoin(meetings, meetings.c.meeting_id == tasks.c.meeting_id)
                           .where(tasks.c.cell_id == cell_id)
                           .order_by(tasks.c.due_on, tasks.c.task_id)).all()
    return [dict(r._mapping) for r in rows]
