"""Reporting's roll-up: touched cell-periods recomputed, their changes summed up the tree."""

from __future__ import annotations

import functools
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, delete, func, insert, select, tuple_, update
from sqlalchemy.orm import Session

from chibo.db import upsert
from services.reporting import paths
from services.reporting.periods import month_days, quarter_of
from services.reporting.read_model import (
    MEASURES,
    RATINGS,
    YEAR_MEASURES,
    cell_periods,
    escalations,
    meetings,
    member_years,
    node_escalations,
    node_periods,
    opened_months,
    tasks,
    units,
    visits,
)

#: Keys per IN list: long lists are sent in parts of this many.
CHUNK = 500

#: How a rebuild puts rows into an emptied table: (session, table, rows).
Writer = Callable[[Session, Table, list[dict[str, Any]]], None]


@dataclass
class Touched:
    """What a run of events touched, for `settle` to recompute."""

    cell_months: set[tuple[str, str]] = field(default_factory=set)
    months: set[str] = field(default_factory=set)
    new_cells: set[str] = field(default_factory=set)
    tree_changed: bool = False
    moved: set[str] = field(default_factory=set)  # units moved or dissolved in this run
    escalations_changed: bool = False


def settle(session: Session, run: Touched) -> None:
    """Recompute the cell-periods `run` touched from the detail tables, and add the
    difference between their old and new figures to every node on their paths.

    Recomputing from details (rather than adding each event's share) keeps a corrected
    or re-scored meeting exact, and the path stored on each cell-period row says where
    its figures were counted, so a restructured tree moves them precisely.
    """
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


def settle_all(session: Session, run: Touched, write: Writer) -> None:
    """Settle a run projected into emptied read models (a rebuild), as `settle` would:
    every cell-period row is new, so each is computed once from the details and
    written once with `write`, and the node sums are gathered in memory and written
    once. (Nothing is pruned or rerouted: rows are only made for the months each cell
    lived in, and placed in the final tree.)"""
    places = paths.places_for(session)
    months = sorted(run.months)
    write(session, opened_months, [{"month": month} for month in months])
    wanted = _cells_alive(session, months) | {key for key in run.cell_months
                                              if len(key[1]) == 4}
    nodes: dict[tuple[str, str, str], list[int]] = defaultdict(_no_figures)
    for part in _by_cells(wanted):
        month_rows = {key: _empty_row(*key) for key in part if len(key[1]) != 4}
        rollups = {key for cell, month in month_rows
                   for key in ((cell, quarter_of(month)), (cell, month[:4]))}
        rollup_rows = {key: _empty_row(*key) for key in rollups | (part - set(month_rows))}
        all_months: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for (cell, month), row in month_rows.items():
            all_months[cell][month] = row
        rows = [new for _, new in _computed(session, places, month_rows, rollup_rows,
                                            all_months).values()]
        write(session, cell_periods, rows)
        _node_deltas(((None, row) for row in rows), nodes)
    write(session, node_periods, _node_rows(nodes))
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
    month_rows = _load_rows(session, touched - years_touched)
    rollups = {(cell, p) for cell, month in month_rows for p in (quarter_of(month), month[:4])}
    rollup_rows = _load_rows(session, rollups | years_touched)
    all_months = _load_cell_months(session, sorted({cell for cell, _ in rollup_rows}))
    changed: dict[tuple[str, str], tuple[dict[str, Any] | None, dict[str, Any]]] = {
        key: (old, new) for key, (old, new) in _computed(
            session, places, month_rows, rollup_rows, all_months).items() if new != old}
    upsert(session, cell_periods, [new for _, new in changed.values()],
           replace=(*MEASURES, "then_path", "today_path"))
    return changed


def _computed(session: Session, places: paths.Places,
              month_rows: dict[tuple[str, str], dict[str, Any]],
              rollup_rows: dict[tuple[str, str], dict[str, Any]],
              all_months: dict[str, dict[str, dict[str, Any]]]
              ) -> dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]]:
    """(old, new) for each of these month rows, computed from the detail tables, and for
    each of these quarter and year rows, summed from the cell's months (`all_months`:
    every stored month row of their cells, by cell and month)."""
    details = _month_details(session, set(month_rows), sorted({m for _, m in month_rows}))
    out: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {}
    for key, old in month_rows.items():
        new = {**old, **details.get(key, dict.fromkeys(MEASURES, 0)), "months": 1}
        _place(places, new)
        out[key] = (old, new)
    # Quarters and years: sums of the cell's months, with "held one / visited" as 0 or 1.
    rated = _year_ratings(session, [key for key in rollup_rows if len(key[1]) == 4])
    for key, old in rollup_rows.items():
        cell, period = key
        parts = [out[(cell, m)][1] if (cell, m) in out else r
                 for m, r in all_months.get(cell, {}).items()
                 if (quarter_of(m) if "Q" in period else m[:4]) == period]
        new = {**old, **{name: sum(r[name] for r in parts) for name in MEASURES}}
        new["thematic_held"] = int(new["thematic_meetings"] > 0)
        new["visited"] = int(new["visits"] > 0)
        if len(period) == 4:
            new.update(rated.get(key) or dict.fromkeys(YEAR_MEASURES, 0))
        _place(places, new)
        out[key] = (old, new)
    return out


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


#: The meetings' columns their cell-month's figures are computed from.
MEETING_FIGURES = ("cell_id", "month", "kind", "members_counted", "members_present",
                   "unexcused", "visit_level", "self_level", "duration_minutes")


def _month_details(session: Session, touched: set[tuple[str, str]], months: list[str]
                   ) -> dict[tuple[str, str], dict[str, int]]:
    """The month figures of the touched cell-months, from meetings, visits and tasks."""
    out: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(MEASURES, 0))
    cells = sorted({c for c, _ in touched})
    for start in range(0, len(cells), CHUNK):
        chunk = cells[start:start + CHUNK]
        for m in session.execute(select(*(meetings.c[name] for name in MEETING_FIGURES))
                                 .where(meetings.c.cell_id.in_(chunk))
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
    row["then_path"] = _encoded(tuple(places.then_path(row["cell_id"], row["period"])))
    row["today_path"] = _encoded(tuple(places.today_path(row["cell_id"])))


@functools.lru_cache(maxsize=65_536)
def _encoded(path: tuple[str, ...]) -> str:
    """A path as stored: a tree has few distinct ones, each encoded once."""
    return paths.encode(list(path))


def _reroute(session: Session, places: paths.Places, units_changed: set[str],
             exclude: set[tuple[str, str]]
             ) -> dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]]:
    """After a restructuring: rows whose place in either tree may have moved — those
    counted under a changed unit, and the changed cells' own."""
    changed = {}
    for unit_id in sorted(units_changed):
        query = select(cell_periods).where(
            paths.passes_through(cell_periods.c.then_path, unit_id)
            | paths.passes_through(cell_periods.c.today_path, unit_id))
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
    deltas = _node_deltas(changes, defaultdict(_no_figures))
    deltas = {k: v for k, v in deltas.items() if any(v)}
    upsert(session, node_periods, _node_rows(deltas), add=NODE_FIGURES)
    # A node no cell counts under any more (after a restructuring) has no row, as in a
    # rebuild.
    emptied = [key for key, d in deltas.items() if d[0] < 0]
    for start in range(0, len(emptied), CHUNK):
        session.execute(delete(node_periods).where(node_periods.c.cells == 0).where(tuple_(
            node_periods.c.grouping, node_periods.c.node_id, node_periods.c.period
        ).in_(emptied[start:start + CHUNK])))


#: A node_periods row's figures, in the order `_node_deltas` keeps them.
NODE_FIGURES = ("cells", *MEASURES)


def _no_figures() -> list[int]:
    return [0] * len(NODE_FIGURES)


def _node_deltas(changes: Iterable[tuple[dict[str, Any] | None, dict[str, Any] | None]],
                 deltas: dict[tuple[str, str, str], list[int]]
                 ) -> dict[tuple[str, str, str], list[int]]:
    """Add to `deltas` (by grouping, node, period) each row's change on the nodes of
    its paths: its old figures off, its new ones on."""
    decoded: dict[str, list[str]] = {}  # few distinct paths: each decoded once
    for old, new in changes:
        for row, combine in ((old, operator.sub), (new, operator.add)):
            if not row or not row["then_path"]:
                continue
            figures = [1, *(row[name] for name in MEASURES)]
            for grouping in ("then", "today"):
                path = row[f"{grouping}_path"]
                if path not in decoded:
                    decoded[path] = paths.decode(path)
                # The cell's own figures are its row; the nodes are the units above it.
                for node in decoded[path]:
                    if node == row["cell_id"]:
                        continue
                    key = (grouping, node, row["period"])
                    deltas[key] = list(map(combine, deltas[key], figures))
    return deltas


def _node_rows(deltas: dict[tuple[str, str, str], list[int]]) -> list[dict[str, Any]]:
    return [{"grouping": g, "node_id": n, "period": p, **dict(zip(NODE_FIGURES, d, strict=True))}
            for (g, n, p), d in deltas.items() if any(d)]


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
