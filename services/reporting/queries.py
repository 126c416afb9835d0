"""What the dashboard and the JSON API show, read from reporting's read models.

Each function returns plain JSON-ready data; pages and exports dress it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from chibo.errors import NotFound, ValidationFailed
from services.reporting import month_states, paths, standing
from services.reporting.periods import bounds, kind_of, months_of, parse, quarter_of, trend_periods
from services.reporting.read_model import (
    MEASURES,
    RATINGS,
    cell_periods,
    escalations,
    materials,
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
from services.shared import escalation_rules
from services.shared.escalation_rules import Rule
from services.shared.text import name_sort_key, text_sort_key
from services.shared.tree import UnitKinds, default_kinds

GROUPINGS = ("then", "today")
LEVELS = ("good", "fair", "average", "poor")
#: A task still to do: assigned, or marked overdue by meetings (not completed nor cancelled).
OPEN_TASK_STATES = ("assigned", "overdue")


# -- figures ------------------------------------------------------------------------

def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def metrics(row: dict[str, Any] | None, overdue: int = 0) -> dict[str, Any]:
    """The dashboard's figures from a row of summed measures (a node's or a cell's), and
    how many of its tasks are overdue on the day asked about (`overdue_tasks`)."""
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
        "tasks_overdue": overdue,
        "task_completion": _share(r["tasks_completed"], r["tasks_due"]),
        "cells_visited": r["visited"], "visit_coverage": _share(r["visited"], cells),
    }


def flat(figures: dict[str, Any]) -> dict[str, Any]:
    """Metrics as one flat row (for tables and exports)."""
    out = {k: v for k, v in figures.items() if k != "quality"}
    out.update({f"quality_{level}": n for level, n in figures["quality"].items()})
    return out


def ratings(row: dict[str, Any] | None) -> dict[str, Any]:
    """Members rated for a year, by level, from a year row (a node's or a cell's)."""
    counts = {level: int((row or {}).get(f"rated_{level}") or 0) for level in RATINGS}
    rated = sum(counts.values())
    return {"rated": rated, "levels": counts,
            "shares": {level: _share(n, rated) for level, n in counts.items()}}


# -- overdue tasks ---------------------------------------------------------------------

def task_state(state: str, due_on: str, today: date) -> str:
    """What a task is on `today`: overdue once its due date has passed while it is still
    to do; the one definition every page, API and export uses."""
    if state in OPEN_TASK_STATES:
        return "overdue" if due_on < today.isoformat() else "assigned"
    return state


def overdue_tasks(session: Session, grouping: str, today: date,
                  keys: Iterable[tuple[str, str, bool]],
                  rows: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Tasks due in each (unit, period) whose due date has passed by `today` and that are
    neither completed nor cancelled. `keys` are (unit id, period, is it a cell); `rows`
    the rows already read, keyed (unit id, period).

    The models count the tasks still to do per month (`tasks_open`): every one of them
    is overdue in a month that has ended, none in a month to come; in the month running,
    those due before today, counted from the tasks themselves."""
    current = _month(today)
    keys = list(dict.fromkeys(keys))
    out: dict[tuple[str, str], int] = {}
    earlier: dict[bool, set[tuple[str, str]]] = {True: set(), False: set()}
    running: set[str] = set()  # units with figures in the month running
    for unit_id, period, is_cell in keys:
        months = months_of(period)
        if months[-1] < current:
            out[(unit_id, period)] = int((rows.get((unit_id, period)) or {}).get(
                "tasks_open") or 0)
            continue
        earlier[is_cell].update((unit_id, m) for m in months if m < current)
        if current in months:
            running.add(unit_id)
    found = dict(rows)
    for is_cell, wanted in earlier.items():
        missing = {key for key in wanted if key not in found}
        ids, months = sorted({u for u, _ in missing}), sorted({m for _, m in missing})
        found.update(_cell_rows(session, ids, months) if is_cell
                     else _node_rows(session, grouping, ids, months))
    now = _open_and_past_due(session, grouping, today, running) if running else {}
    for unit_id, period, _ in keys:
        if (unit_id, period) in out:
            continue
        months = months_of(period)
        out[(unit_id, period)] = sum(int((found.get((unit_id, m)) or {}).get("tasks_open") or 0)
                                     for m in months if m < current) + (
            now.get(unit_id, 0) if current in months else 0)
    return out


def _open_and_past_due(session: Session, grouping: str, today: date, unit_ids: set[str]
                       ) -> dict[str, int]:
    """Tasks due this month before `today` and still to do, under each unit (or in each
    cell) asked about: counted where the month's figures are (the cell-month's path)."""
    path = cell_periods.c.then_path if grouping == "then" else cell_periods.c.today_path
    query = (select(path, func.count())
             .select_from(tasks.join(cell_periods, and_(
                 cell_periods.c.cell_id == tasks.c.cell_id,
                 cell_periods.c.period == tasks.c.due_month)))
             .where(tasks.c.due_month == _month(today))
             .where(tasks.c.due_on < today.isoformat())
             .where(tasks.c.state.in_(OPEN_TASK_STATES))
             .group_by(path))
    out: dict[str, int] = defaultdict(int)
    for encoded, count in session.execute(query):
        for unit_id in paths.decode(encoded):
            if unit_id in unit_ids:
                out[unit_id] += count
    return dict(out)


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


def former_parent(places: paths.Places, unit_id: str, day: date) -> str | None:
    """The name of the unit this one sat under before it was last moved (by `day`): what
    tells two cells of one name apart after their communes were merged."""
    versions = [v for v in places.tree.history(unit_id) if v.valid_from <= day]
    if not versions:
        return None
    for earlier, later in zip(reversed(versions[:-1]), reversed(versions[1:]), strict=True):
        if earlier.parent_id != later.parent_id and earlier.parent_id:
            parent = places.tree.version(earlier.parent_id,
                                         later.valid_from - timedelta(days=1))
            return parent.name if parent else earlier.parent_id
    return None


# -- periods ------------------------------------------------------------------------

def opened(session: Session) -> list[str]:
    return [r.month for r in session.execute(
        select(opened_months.c.month).order_by(opened_months.c.month.desc()))]


def period_choices(session: Session) -> list[str]:
    months = opened(session)
    quarters = sorted({quarter_of(m) for m in months}, reverse=True)
    years = sorted({m[:4] for m in months}, reverse=True)
    return [*months, *quarters, *years]


def default_period(session: Session, today: date) -> str:
    """The latest month that has ended and has figures (the one a report is about)."""
    current = _month(today)
    months = opened(session)
    ended = [m for m in months if m < current]
    return ended[0] if ended else (months[0] if months else current)


def _month(today: date) -> str:
    """The month `today` falls in: always the injected clock's day, never the machine's."""
    return today.strftime("%Y-%m")


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
             grouping: str | None = None, *, today: date,
             kinds: UnitKinds | None = None) -> dict[str, Any]:
    """A node (the province by default) for a period: its figures, their trend, its
    open escalations, the members rated for the period's year or the latest rated one
    before it (and for every year), and
    the same figures for each unit directly under it. `today` is the clock's day: what
    is overdue, and which period is shown by default, depend on it. `kinds`: the
    service's configured unit kinds, which say which units are cells."""
    kinds = default_kinds() if kinds is None else kinds
    grouping = _grouping(grouping)
    period = parse(period) if period else default_period(session, today)
    year = period[:4]
    unit_id = unit_id or root_id(session)
    unit = _unit(session, unit_id)
    places = paths.places_for(session)
    trend = trend_periods(period)
    # Years with figures: those of the opened months, and any whose members were rated.
    years = sorted({m[:4] for m in opened(session)} | {year} | set(session.execute(
        select(node_periods.c.period).where(node_periods.c.grouping == grouping)
        .where(node_periods.c.node_id == unit_id)
        .where(func.length(node_periods.c.period) == 4)).scalars()), reverse=True)
    children = _children(places, unit_id, period, grouping)
    is_cell = {c.unit_id: kinds[c.kind].meets for c in children}
    rows = _node_rows(session, grouping, [unit_id, *[c.unit_id for c in children]],
                      sorted({*trend, period, *years}))
    rows.update(_cell_rows(session, [c for c, meets in is_cell.items() if meets],
                           sorted({period, *years})))
    # The ratings shown are the period's year's, or (before its year-end review) those
    # of the latest year before it that has any.
    rated_year = next((y for y in years if y <= year and ratings(rows.get((unit_id, y)))[
        "rated"]), year)
    overdue = overdue_tasks(session, grouping, today, [
        *((unit_id, p, False) for p in {*trend, period}),
        *((c, period, meets) for c, meets in is_cell.items())], rows)
    escalations_open = _open_escalations(session, [unit_id, *[c.unit_id for c in children]])
    day = places.now if grouping == "today" else bounds(period)[1]
    child_rows = []
    for child in children:
        figures = flat(metrics(rows.get((child.unit_id, period)),
                               overdue[(child.unit_id, period)]))
        rated = ratings(rows.get((child.unit_id, rated_year)))
        child_rows.append({
            "unit_id": child.unit_id, "name": child.name, "kind": child.kind,
            "href": f"/reporting/{'cells' if is_cell[child.unit_id] else 'units'}/"
                    f"{child.unit_id}",
            "former_parent_name": former_parent(places, child.unit_id, day),
            **figures, "escalations_open": sum(escalations_open[child.unit_id].values()),
            "ratings_year": int(rated_year), "members_rated": rated["rated"],
            **{f"rated_{level}": n for level, n in rated["levels"].items()}})
    own = escalations_open[unit_id]
    return {
        "unit": {"unit_id": unit_id, "name": unit["name"], "kind": unit["kind"]},
        "path": _path(session, places, unit_id), "period": period,
        "period_kind": kind_of(period), "grouping": grouping,
        "periods": period_choices(session),
        "summary": metrics(rows.get((unit_id, period)), overdue[(unit_id, period)]),
        "trend": [{"period": p, **metrics(rows.get((unit_id, p)), overdue[(unit_id, p)])}
                  for p in trend],
        "ratings": {"year": int(rated_year), **ratings(rows.get((unit_id, rated_year))),
                    "by_year": [{"year": int(y), **ratings(rows.get((unit_id, y)))}
                                for y in years]},
        "escalations_open": {"by_level": own, "total": sum(own.values())},
        "children": child_rows,
    }


def heatmap(session: Session, unit_id: str | None, year: int | None,
            grouping: str | None = None, today: date | None = None,
            grace_days: int = month_states.DEFAULT_GRACE_DAYS,
            kinds: UnitKinds | None = None) -> dict[str, Any]:
    """The units under a node × the months of a year: for cells (units whose kind, of
    `kinds`, meets), the month's state (`month_states`); for committees, the share of
    cells that met."""
    kinds = default_kinds() if kinds is None else kinds
    grouping = _grouping(grouping)
    latest = _month(today)
    year = year or int(default_period(session, today)[:4])
    unit_id = unit_id or root_id(session)
    unit = _unit(session, unit_id)
    places = paths.places_for(session)
    months = months_of(str(year))
    children = _year_children(places, unit_id, year, grouping,
                              _dissolved_cells(session, places, year, grouping))
    ids = [c.unit_id for c in children]
    by_node = _node_rows(session, grouping, ids, months)
    cells = {r.cell_id + "|" + r.period: dict(r._mapping) for r in session.execute(
        select(cell_periods).where(cell_periods.c.cell_id.in_(ids))
        .where(cell_periods.c.period.in_(months)))} if ids else {}
    cell_ids = [c.unit_id for c in children if kinds[c.kind].meets]
    lives = month_states.lifetimes(session, cell_ids)
    late = month_states.made_up(session, cell_ids, months)
    rows = []
    for child in children:
        is_cell = kinds[child.kind].meets
        states = {}
        for month in months:
            if is_cell:
                states[month] = month_states.month_state(
                    cells.get(f"{child.unit_id}|{month}"), month, today, grace_days,
                    lives.get(child.unit_id), late.get((child.unit_id, month), 0))
            elif month > latest:
                states[month] = {"state": "not_due"}
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


def _dissolved_cells(session: Session, places: paths.Places, year: int, grouping: str
                     ) -> dict[str, list[Any]]:
    """Cells dissolved during `year`, by the unit they count under (as they last stood
    for "then"; beside their successor for "today"): the year's heat map shows their
    months, and the months after, as dissolved."""
    rows = session.execute(select(units.c.unit_id, units.c.dissolved_on)
                           .where(units.c.is_cell)
                           .where(units.c.dissolved_on >= f"{year}-01-01")
                           .where(units.c.dissolved_on <= f"{year}-12-31")).all()
    out: dict[str, list[Any]] = {}
    for row in rows:
        path = (places.then_path(row.unit_id, str(year)) if grouping == "then"
                else places.today_path(row.unit_id))
        version = places.tree.version(row.unit_id,
                                      date.fromisoformat(row.dissolved_on) - timedelta(days=1))
        if len(path) > 1 and version is not None:
            out.setdefault(path[-2], []).append(version)
    return out


def _year_children(places: paths.Places, unit_id: str, year: int, grouping: str,
                   dissolved: dict[str, list[Any]]) -> list[Any]:
    """The units under `unit_id` for a year's heat map: those there at its end, and the
    cells dissolved during it that counted under it, in name order."""
    children = _children(places, unit_id, str(year), grouping)
    listed = {c.unit_id for c in children}
    extra = [v for v in dissolved.get(unit_id, []) if v.unit_id not in listed]
    if not extra:
        return children
    return sorted([*children, *extra], key=lambda v: (text_sort_key(v.name), v.unit_id))


def heatmap_cells(session: Session, unit_id: str | None, year: int | None,
                  grouping: str | None = None, today: date | None = None,
                  grace_days: int = month_states.DEFAULT_GRACE_DAYS,
                  kinds: UnitKinds | None = None) -> dict[str, Any]:
    """`heatmap` with cells for rows (the heat map page): every cell under the node,
    through the committees between, depth first in name order, each row naming the
    unit it sits under (`parent_id`, `parent_name`)."""
    kinds = default_kinds() if kinds is None else kinds
    grouping = _grouping(grouping)
    year = year or int(default_period(session, today)[:4])
    unit_id = unit_id or root_id(session)
    unit = _unit(session, unit_id)
    places = paths.places_for(session)
    months = months_of(str(year))
    found: list[tuple[Any, str, str]] = []
    dissolved = _dissolved_cells(session, places, year, grouping)

    def descend(node_id: str, node_name: str) -> None:
        for child in _year_children(places, node_id, year, grouping, dissolved):
            if kinds[child.kind].meets:
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
    lives = month_states.lifetimes(session, ids)
    late = month_states.made_up(session, ids, months)
    seen_on = min(today, date(year, 12, 31)) if today else date(year, 12, 31)
    rows = []
    for child, parent_id, parent_name in found:
        rows.append({"unit_id": child.unit_id, "name": child.name, "is_cell": True,
                     "href": f"/reporting/cells/{child.unit_id}", "parent_id": parent_id,
                     "parent_name": parent_name,
                     "former_parent_name": former_parent(places, child.unit_id, seen_on),
                     "months": {month: month_states.month_state(
                         cells.get((child.unit_id, month)), month, today, grace_days,
                         lives.get(child.unit_id), late.get((child.unit_id, month), 0))
                         for month in months}})
    return {"unit": {"unit_id": unit_id, "name": unit["name"], "kind": unit["kind"]},
            "path": _path(session, places, unit_id), "year": year, "grouping": grouping,
            "years": sorted({int(m[:4]) for m in opened(session)}, reverse=True),
            "months": months, "rows": rows}


def cell(session: Session, cell_id: str, year: int | None = None, *,
         today: date, grace_days: int = month_states.DEFAULT_GRACE_DAYS) -> dict[str, Any]:
    """A cell's year: its months, meetings, tasks and members (their status on `today`)."""
    info = _unit(session, cell_id)
    places = paths.places_for(session)
    year_rows = {int(r.period): dict(r._mapping) for r in session.execute(
        select(cell_periods).where(cell_periods.c.cell_id == cell_id)
        .where(cell_periods.c.kind == "year"))}
    years = sorted(year_rows, reverse=True)
    year = year or (years[0] if years else today.year)
    month_rows = {r.period: dict(r._mapping) for r in session.execute(
        select(cell_periods).where(cell_periods.c.cell_id == cell_id)
        .where(cell_periods.c.kind == "month").where(cell_periods.c.period.like(f"{year}-%")))}
    life = (info["established_on"], info["dissolved_on"])
    late = month_states.made_up(session, [cell_id], list(month_rows))
    overdue = overdue_tasks(session, "then", today, [(cell_id, m, True) for m in month_rows],
                            {(cell_id, m): row for m, row in month_rows.items()})
    months = []
    for month in months_of(str(year)):
        row = month_rows.get(month)
        if row is None:
            continue
        figures = metrics(row, overdue[(cell_id, month)])
        months.append({"month": month, **month_states.month_state(
                           row, month, today, grace_days, life, late.get((cell_id, month), 0)),
                       "regular_held": bool(row["months_met"]), "meetings": row["meetings"],
                       "thematic_meetings": row["thematic_meetings"],
                       "members_counted": row["members_counted"],
                       "members_present": row["members_present"],
                       "attendance_rate": figures["attendance_rate"],
                       "unexcused_absences": row["unexcused"],
                       "avg_duration_minutes": figures["avg_duration_minutes"],
                       "visits": row["visits"], "tasks_due": row["tasks_due"],
                       "tasks_completed": row["tasks_completed"],
                       "tasks_overdue": figures["tasks_overdue"]})
    held = [_meeting_row(dict(r._mapping)) for r in session.execute(
        select(meetings).where(meetings.c.cell_id == cell_id)
        .where(meetings.c.month.like(f"{year}-%")).order_by(meetings.c.held_on))]
    roll = [{"member_id": r.member_id, "full_name": r.full_name,
             "status": standing.status_on(r.member_id, r.standing, today)}
            for r in session.execute(select(members.c.member_id, members.c.full_name,
                                            members.c.standing)
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
    return {"cell": {**info, "cell_id": cell_id, "parent_name": parent,
                     "former_parent_name": former_parent(places, cell_id, places.now)},
            "path": _path(session, places, cell_id), "year": year, "years": years,
            "ratings": ratings(year_rows.get(year)),
            "months": months, "meetings": held,
            "tasks": cell_tasks(session, cell_id, today=today), "members": people}


def _meeting_row(m: dict[str, Any]) -> dict[str, Any]:
    return {"meeting_id": m["meeting_id"], "href": f"/reporting/meetings/{m['meeting_id']}",
            "held_on": m["held_on"], "kind": m["kind"], "topic": m["topic"],
            "members_counted": m["members_counted"], "members_present": m["members_present"],
            "attendance_rate": _share(m["members_present"], m["members_counted"]),
            "unexcused_absences": m["unexcused"], "duration_minutes": m["duration_minutes"],
            "self_level": m["self_level"], "visit_level": m["visit_level"],
            "level": m["visit_level"] or m["self_level"]}


def meeting(session: Session, meeting_id: str, *, today: date) -> dict[str, Any]:
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
        "tasks": [_task_row(dict(r._mapping), today) for r in session.execute(
            select(tasks).where(tasks.c.meeting_id == meeting_id).order_by(tasks.c.task_id))],
        "visits": held_visits,
        "path": _path(session, paths.places_for(session), m["cell_id"]),
        "materials": meeting_materials(session, meeting_id),
    }


def meeting_materials(session: Session, meeting_id: str) -> list[dict[str, Any]]:
    """The documents attached to a meeting, in the order they were attached."""
    return [dict(r._mapping) for r in session.execute(
        select(materials).where(materials.c.meeting_id == meeting_id)
        .order_by(materials.c.uploaded_at, materials.c.sha256))]


def member(session: Session, member_id: str, year: int | None = None, *,
           today: date) -> dict[str, Any]:
    """A member's attendance by year and in each meeting of the year; the status is the
    member's on `today`."""
    row = session.execute(select(members).where(members.c.member_id == member_id)).first()
    if row is None:
        raise NotFound(f"No member {member_id!r}. Open members from their cell's page.")
    info = {k: v for k, v in row._mapping.items() if k != "standing"}
    info["status"] = standing.status_on(member_id, row.standing, today)
    years = [dict(r._mapping) for r in session.execute(
        select(member_years).where(member_years.c.member_id == member_id)
        .order_by(member_years.c.year.desc()))]
    for y in years:
        y["attendance_rate"] = _share(y["present"], y["meetings_due"])
    year = year or (years[0]["year"] if years else today.year)
    lines = []
    # The meetings of the member's present cell; the member's line in each minutes.
    line = f'"member_id": {json.dumps(member_id, ensure_ascii=False)}'
    for m in session.execute(select(meetings.c.meeting_id, meetings.c.held_on, meetings.c.kind,
                                    meetings.c.attendance)
                             .where(meetings.c.cell_id == info["cell_id"])
                             .where(meetings.c.month.like(f"{year}-%"))
                             .where(paths.containing(meetings.c.attendance, line))
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
        under = (select(cell_periods.c.cell_id)
                 .where(paths.passes_through(cell_periods.c.today_path, unit_id))
                 .distinct())
        query = query.where(escalations.c.cell_id.in_(under)
                            | (escalations.c.target_unit_id == unit_id))
    found = [dict(r._mapping) for r in session.execute(
        query.order_by(escalations.c.raised_on, escalations.c.escalation_id))]
    _with_details(session, found)
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


def _with_details(session: Session, found: list[dict[str, Any]]) -> None:
    """Each escalation's facts as a dict, its reason read from them (in Vietnamese, the
    default; pages read it in the reader's language) and its period for people. A task
    escalation logged without its due date takes it from the task."""
    for e in found:
        e["details"] = json.loads(e["details"]) if e.get("details") else {}
    missing = sorted({e["subject_id"] for e in found if e["rule"] == Rule.TASK_OVERDUE
                      and not e["details"].get("due_on")})
    due: dict[str, str] = {}
    for start in range(0, len(missing), 1000):
        due.update({r.task_id: r.due_on for r in session.execute(
            select(tasks.c.task_id, tasks.c.due_on)
            .where(tasks.c.task_id.in_(missing[start:start + 1000])))})
    for e in found:
        if e["subject_id"] in due and e["rule"] == Rule.TASK_OVERDUE:
            e["details"] = {**e["details"], "due_on": due[e["subject_id"]]}
        e["reason"] = escalation_rules.reason(e, "vi")
        e["period_label"] = escalation_rules.period_label(e, "vi")
        e["resolved_label"] = escalation_rules.resolution_label(e.get("resolved_how"), "vi")


# -- the older, flat endpoints -----------------------------------------------------------

def cell_month_report(session: Session, month: str,
                      unit_id: str | None = None) -> list[dict[str, Any]]:
    """Every cell that existed in `month` (its id tells apart cells of one name), or
    every one under `unit_id` in today's tree: its regular meeting, attendance and
    level."""
    query = (select(cell_periods, units.c.name)
             .join(units, units.c.unit_id == cell_periods.c.cell_id)
             .where(cell_periods.c.period == month))
    if unit_id:
        query = query.where(paths.passes_through(cell_periods.c.today_path, unit_id))
    rows = session.execute(query).all()
    late = month_states.made_up(session, [r.cell_id for r in rows], [month])
    out = []
    for r in rows:
        row = dict(r._mapping)
        figures = metrics(row)
        state = month_states.month_state(row, month, date.max, 0, None,
                                         late.get((r.cell_id, month), 0))
        out.append({"cell_id": r.cell_id, "cell_name": r.name, "month": month,
                    "regular_held": bool(r.months_met), "meetings": r.meetings,
                    "held_late": state["state"] == "held_late",
                    "attendance_rate": figures["attendance_rate"], "visits": r.visits,
                    "thematic_meetings": r.thematic_meetings,
                    "quality_level": state.get("level") if state.get("level") != "unscored"
                    else None})
    return sorted(out, key=lambda c: (text_sort_key(c["cell_name"]), c["cell_id"]))


def cell_tasks(session: Session, cell_id: str, *, today: date) -> list[dict[str, Any]]:
    """A cell's tasks, each in its state on `today` (overdue once its due date passed)."""
    rows = session.execute(select(tasks, meetings.c.held_on)
                           .outerjoin(meetings, meetings.c.meeting_id == tasks.c.meeting_id)
                           .where(tasks.c.cell_id == cell_id)
                           .order_by(tasks.c.due_on, tasks.c.task_id)).all()
    return [_task_row(dict(r._mapping), today) for r in rows]


def _task_row(task: dict[str, Any], today: date) -> dict[str, Any]:
    return {**task, "state": task_state(task["state"], task["due_on"], today)}


def without_personal_data(data: dict[str, Any]) -> dict[str, Any]:
    """A cell's year (`cell`) or a meeting (`meeting`) as a reader whose roles do not
    cover members' records sees it: the figures, not the people. Names, ratings,
    attendance, speakers, the members tasks were given to and the meeting's materials
    (documents such as a self-criticism, and who uploaded them) are left out, the
    materials leaving only how many there are (`materials_count`), and
    `personal_hidden` says so."""
    out = dict(data)
    if "members" in out:
        out["members"] = []
    if "attendance" in out:
        out["attendance"] = []
    if "meeting" in out:
        out["meeting"] = {**out["meeting"], "speakers": [], "chair_name": None,
                          "minutes_taker_name": None, "chair_id": None,
                          "minutes_taker_id": None}
    if "tasks" in out:
        out["tasks"] = [{**task, "assignee_name": None, "assignee_id": None}
                        for task in out["tasks"]]
    if "materials" in out:
        out["materials_count"] = len(out["materials"])
        out["materials"] = []
    out["personal_hidden"] = True
    return out


# -- a committee's period report -------------------------------------------------------

def _half_quarters(period: str) -> list[str]:
    """The quarters of a half-year '2026-H1'; a month, quarter or year is itself."""
    if "-H" not in period:
        return [period]
    year, half = period[:4], int(period[-1])
    return [f"{year}-Q{q}" for q in ((1, 2) if half == 1 else (3, 4))]


def _report_cells(session: Session, unit_id: str, period: str, grouping: str
                  ) -> dict[str, dict[str, Any]]:
    """Each cell's own figures for `period` (a month, quarter, half-year or year) under
    `unit_id` (or the cell itself): a half-year sums the cell's two quarters, with "held
    a thematic meeting" and "visited" as 0 or 1 as the models keep them."""
    path = cell_periods.c.then_path if grouping == "then" else cell_periods.c.today_path
    query = (select(cell_periods)
             .where(cell_periods.c.period.in_(_half_quarters(period)))
             .where(paths.passes_through(path, unit_id) | (cell_periods.c.cell_id == unit_id)))
    out: dict[str, dict[str, Any]] = {}
    for row in session.execute(query):
        found = out.setdefault(row.cell_id, dict.fromkeys(MEASURES, 0) | {
            "cell_id": row.cell_id, "path": paths.decode(getattr(row, path.name))})
        for name in MEASURES:
            found[name] += getattr(row, name)
    for found in out.values():
        found["thematic_held"] = int(found["thematic_meetings"] > 0)
        found["visited"] = int(found["visits"] > 0)
        found["cells"] = 1
    return out


def _summed(rows: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    rows = list(rows)
    if not rows:
        return None
    return {"cells": len(rows), **{name: sum(r[name] for r in rows) for name in MEASURES}}


def unit_period_figures(session: Session, unit_id: str, periods: Iterable[str],
                        grouping: str, today: date, is_cell: bool = False
                        ) -> dict[str, dict[str, Any]]:
    """`metrics` of one unit (a committee's node, or a cell) for each period: months,
    quarters and years as the models keep them (what the overview shows); a half-year
    ('2026-H1') summed from its cells' quarters, its overdue tasks those of its two
    quarters."""
    periods = list(dict.fromkeys(periods))
    kept = sorted({q for p in periods for q in _half_quarters(p)})
    rows = (_cell_rows(session, [unit_id], kept) if is_cell
            else _node_rows(session, grouping, [unit_id], kept))
    overdue = overdue_tasks(session, grouping, today, [(unit_id, p, is_cell) for p in kept],
                            rows)
    out = {}
    for period in periods:
        if "-H" in period:
            row = _summed(_report_cells(session, unit_id, period, grouping).values())
            late = sum(overdue[(unit_id, q)] for q in _half_quarters(period))
        else:
            row, late = rows.get((unit_id, period)), overdue[(unit_id, period)]
        out[period] = metrics(row, late)
    return out


def period_report_figures(session: Session, unit_id: str | None, period: str,
                          previous: str, grouping: str | None, *, today: date,
                          kinds: UnitKinds | None = None) -> dict[str, Any]:
    """What a committee's report for a quarter, half-year or year holds
    (`services.reporting.period_report.assemble`): the unit and the committee above it,
    its figures for the period and the previous one, for each month of the period the
    clock has reached, the members rated for the period's year (or the latest rated year
    before it), the units directly under it, every escalation under it, and each cell's
    own figures for the period, by name."""
    kinds = default_kinds() if kinds is None else kinds
    grouping = _grouping(grouping)
    unit_id = unit_id or root_id(session)
    unit = _unit(session, unit_id)
    is_cell = kinds[unit["kind"]].meets if unit["kind"] in kinds else bool(unit["is_cell"])
    places = paths.places_for(session)
    trail = _path(session, places, unit_id)
    started = [m for m in _report_months(period) if m <= _month(today)]
    figures = unit_period_figures(session, unit_id, [period, previous, *started], grouping,
                                  today, is_cell)
    year = period[:4]
    year_rows = (_cell_rows(session, [unit_id], [str(y) for y in range(int(year) - 5,
                                                                        int(year) + 1)])
                 if is_cell else _node_rows(session, grouping, [unit_id], [
                     str(y) for y in range(int(year) - 5, int(year) + 1)]))
    rated_year = next((y for y in range(int(year), int(year) - 6, -1)
                       if ratings(year_rows.get((unit_id, str(y))))["rated"]), int(year))
    children = []
    if not is_cell:
        day = places.now if grouping == "today" else bounds(_half_quarters(period)[-1])[1]
        for child in places.children(unit_id, day):
            meets = kinds[child.kind].meets if child.kind in kinds else False
            found = unit_period_figures(session, child.unit_id, [period], grouping, today,
                                        meets)[period]
            children.append({"unit_id": child.unit_id, "name": child.name,
                             "kind": child.kind, "is_cell": meets, **flat(found)})
        children.sort(key=lambda c: (text_sort_key(c["name"]), c["unit_id"]))
    cells = _report_cells(session, unit_id, period, grouping)
    names = _names(session, sorted({*cells, *(c["path"][-2] for c in cells.values()
                                              if len(c["path"]) > 1)}))
    cell_rows = [{"cell_id": cell_id, "name": names.get(cell_id, cell_id),
                  "parent_name": names.get(c["path"][-2], "") if len(c["path"]) > 1 else "",
                  "sort_key": text_sort_key(names.get(cell_id, cell_id)),
                  "months": c["months"], "months_met": c["months_met"],
                  "thematic": c["thematic_held"], "visited": c["visited"], "poor": c["q_poor"]}
                 for cell_id, c in cells.items()]
    found = escalation_list(session, today, None, unit_id=unit_id, limit=10**9)
    return {
        "unit": {"unit_id": unit_id, "name": unit["name"], "kind": unit["kind"],
                 "is_cell": is_cell},
        "higher": trail[-2] if len(trail) > 1 else None,
        "period": period, "previous": previous, "grouping": grouping,
        "today": today.isoformat(),
        "summary": figures[period], "previous_summary": figures[previous],
        "months": [{"period": m, "figures": figures[m]} for m in started],
        "ratings": {"year": rated_year, **ratings(year_rows.get((unit_id, str(rated_year))))},
        "children": children, "cells": cell_rows,
        "escalations": found["escalations"],
    }


def _report_months(period: str) -> list[str]:
    return [m for q in _half_quarters(period) for m in months_of(q)]


def report_size(session: Session, unit_id: str, period: str) -> int:
    """How many cell-months a report of `unit_id` for `period` sums (what makes it large)."""
    return int(session.execute(
        select(func.count()).select_from(cell_periods)
        .where(cell_periods.c.period.in_(_report_months(period)))
        .where(paths.passes_through(cell_periods.c.today_path, unit_id)
               | (cell_periods.c.cell_id == unit_id))
    ).scalar_one())


def unit_name(session: Session, unit_id: str) -> str:
    """A unit's name now (NotFound for a unit the reports do not know)."""
    return str(_unit(session, unit_id)["name"])
