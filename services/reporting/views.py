"""Each dashboard page's context from what `queries` returns.

Pure functions: a query's dict in, the template's context out (with `Table`s and
their columns, as `web.samples` documents them), no database and no request, so
pages stay thin and the shaping is tested on its own. What a page shows is what
its CSV and Excel exports give: both come from these tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from services.catalogue import SOURCES
from services.reporting.web import urls
from services.reporting.web.i18n import Translator, format_month
from services.reporting.web.tables import Column, Table

#: How a heat map square's state reads on the page: a month still running is not due yet.
_SQUARE_STATES = {"held", "missed", "future", "none"}
AUDIT_FILTERS = ("source", "stream", "type", "actor", "from", "to")
ESCALATION_STATES = ("open", "raised", "acknowledged", "resolved")


def _pick(data: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {key: data[key] for key in keys if key in data}


def _grouping_param(grouping: str | None) -> str | None:
    """The grouping for a link: left out when it is the default."""
    return grouping if grouping and grouping != "then" else None


def _yes_no(value: Any) -> str | None:
    return None if value is None else ("yes" if value else "no")


def _with_current(choices: Iterable[Any], current: Any) -> list[Any]:
    """A picker's choices, with the one shown even when it is not among them."""
    choices = list(choices)
    return choices if current in choices or current is None else [current, *choices]


# -- overview -------------------------------------------------------------------------

FIGURE_COLUMNS = [
    Column("cells", "col.cells", "int"),
    Column("met_share", "col.met_share", "percent"),
    Column("thematic_share", "col.thematic_share", "percent"),
    Column("attendance_rate", "col.attendance_rate", "percent"),
    Column("unexcused_absences", "col.unexcused_absences", "int"),
    Column("quality_good", "col.quality_good", "int"),
    Column("quality_fair", "col.quality_fair", "int"),
    Column("quality_average", "col.quality_average", "int"),
    Column("quality_poor", "col.quality_poor", "int"),
    Column("task_completion", "col.task_completion", "percent"),
    Column("visit_coverage", "col.visit_coverage", "percent"),
]


def children_columns() -> list[Column]:
    return [Column("name", "col.name", "link"), *FIGURE_COLUMNS,
            Column("escalations_open", "col.escalations_open", "int")]


def child_href(child: Mapping[str, Any], period: str, grouping: str | None) -> str:
    """A unit under the one shown, keeping the period: a cell's page for its year, a
    committee's overview for the same period and grouping."""
    if str(child.get("href", "")).startswith(urls.cell("")):
        return urls.cell(child["unit_id"], year=period[:4])
    return urls.unit(child["unit_id"], period=period, grouping=_grouping_param(grouping))


def children_table(children: list[Mapping[str, Any]], period: str,
                   grouping: str | None) -> Table:
    rows = [{**child, "href": child_href(child, period, grouping)} for child in children]
    return Table("children", "table.children", children_columns(), rows)


def overview(data: Mapping[str, Any]) -> dict[str, Any]:
    """`queries.overview` -> overview.html."""
    period, grouping = data["period"], data["grouping"]
    return {
        **_pick(data, "unit", "path", "period", "period_kind", "grouping", "summary", "trend",
                "escalations_open"),
        "periods": _with_current(data.get("periods") or [], period),
        "children": children_table(data["children"], period, grouping),
    }


# -- heat map -------------------------------------------------------------------------

def heat_square(square: Mapping[str, Any] | None) -> dict[str, Any]:
    """A month of a cell as the heat map draws it. The month still running (pending)
    is not due yet; anything else unknown shows as no cell."""
    state = (square or {}).get("state") or "none"
    if state == "pending":
        state = "future"
    if state not in _SQUARE_STATES:
        state = "none"
    level = (square or {}).get("level") if state == "held" else None
    return {"state": state, "level": level}


HEATMAP_PAGE_ROWS = 1500


def heatmap_table(rows: list[Mapping[str, Any]], months: list[str]) -> Table:
    """The heat map for export: one column per month, each cell a ``heat_cell`` code."""
    columns = [Column("name", "col.cell"), Column("parent_name", "col.parent")]
    # A label that is no message key shows as it is: the month as users write it.
    columns += [Column(month, format_month(month), "code", codes="heat_cell")
                for month in months]
    flat = []
    for row in rows:
        out = {"cell_id": row["cell_id"], "name": row["name"],
               "parent_name": row.get("parent_name")}
        for month in months:
            square = row["months"].get(month) or {"state": "none"}
            out[month] = (square.get("level") or "unscored") if square["state"] == "held" \
                else square["state"]
        flat.append(out)
    return Table("heatmap", "table.heatmap", columns, flat,
                 link={"name": "/reporting/cells/{cell_id}"})


def heatmap(data: Mapping[str, Any]) -> dict[str, Any]:
    """`queries.heatmap_cells` -> heatmap.html (cells as rows, each with its parent)."""
    months = list(data["months"])
    rows = [{"cell_id": row["unit_id"], "name": row["name"],
             "parent_name": row.get("parent_name"),
             "months": {month: heat_square(row["months"].get(month)) for month in months}}
            for row in data["rows"]]
    # A page of a province's 12,000 cells would not open on a phone: the page shows the
    # first ones and says how to see the rest; the export always has every cell.
    return {**_pick(data, "unit", "path", "year", "grouping", "years"),
            "months": months, "rows": rows[:HEATMAP_PAGE_ROWS],
            "hidden_rows": max(0, len(rows) - HEATMAP_PAGE_ROWS),
            "table": heatmap_table(rows, months)}


# -- a cell ---------------------------------------------------------------------------

def _month_state(month: Mapping[str, Any]) -> str:
    state = heat_square(month)
    return (state["level"] or "unscored") if state["state"] == "held" else state["state"]


def months_table(months: list[Mapping[str, Any]]) -> Table:
    rows = []
    for month in sorted(months, key=lambda m: m["month"], reverse=True):
        held = month.get("state") == "held"
        rows.append({
            "month": month["month"], "state": _month_state(month),
            "thematic_meetings": month.get("thematic_meetings"),
            "members_counted": month.get("members_counted") if held else None,
            "members_present": month.get("members_present") if held else None,
            "attendance_rate": month.get("attendance_rate"),
            "level": month.get("level") if held else None,
            "visited": _yes_no((month.get("visits") or 0) > 0)})
    return Table("months", "table.months", [
        Column("month", "col.month", "month"),
        Column("state", "col.regular_held", "code", codes="heat_cell"),
        Column("thematic_meetings", "col.thematic_held", "int"),
        Column("members_counted", "col.members_counted", "int"),
        Column("members_present", "col.members_present", "int"),
        Column("attendance_rate", "col.attendance_rate", "percent"),
        Column("level", "col.level", "level"),
        Column("visited", "col.visited", "code", codes="yesno"),
    ], rows)


def meetings_table(meetings: list[Mapping[str, Any]]) -> Table:
    rows = sorted(meetings, key=lambda m: (m["held_on"], m["meeting_id"]), reverse=True)
    return Table("meetings", "table.meetings", [
        Column("held_on", "col.held_on", "date"),
        Column("kind", "col.kind", "code", codes="meeting_kind"),
        Column("topic", "col.topic"),
        Column("duration_minutes", "col.duration", "int"),
        Column("members_present", "col.members_present", "int"),
        Column("members_counted", "col.members_counted", "int"),
        Column("attendance_rate", "col.attendance_rate", "percent"),
        Column("self_level", "col.self_level", "level"),
        Column("visit_level", "col.visit_level", "level"),
        Column("level", "col.level", "level"),
    ], [dict(m) for m in rows], link={"held_on": "/reporting/meetings/{meeting_id}"})


def tasks_table(tasks: list[Mapping[str, Any]], held_on: str | None = None) -> Table:
    """A cell's or a meeting's tasks; `held_on` fills in the meeting's date when the
    rows do not carry it (a meeting's own tasks)."""
    rows = [{**task, "held_on": task.get("held_on") or held_on} for task in tasks]
    return Table("tasks", "table.tasks", [
        Column("title", "col.task"), Column("assignee_name", "col.assignee"),
        Column("due_on", "col.due_on", "date"),
        Column("completed_on", "col.completed_on", "date"),
        Column("state", "col.state", "state", codes="task_state"),
        Column("held_on", "col.held_on", "date"),
    ], rows, link={"held_on": "/reporting/meetings/{meeting_id}"})


def _tally(meetings_due: int, present: int, unexcused: int) -> dict[str, int]:
    """Counted meetings split as the tables show them (excused = counted, absent with
    a reason: what is neither present nor unexcused)."""
    return {"meetings": meetings_due, "attended": present,
            "absent_excused": max(meetings_due - present - unexcused, 0),
            "absent_unexcused": unexcused}


def cell_members_table(people: list[Mapping[str, Any]], year: int) -> Table:
    rows = [{"member_id": p["member_id"], "full_name": p["full_name"], "status": p["status"],
             "year": year, **_tally(p["meetings_due"], p["present"], p["unexcused"]),
             "attendance_rate": p["attendance_rate"]} for p in people]
    return Table("members", "table.members", [
        Column("full_name", "col.full_name"),
        Column("status", "col.status", "code", codes="member_status"),
        Column("meetings", "col.meetings", "int"),
        Column("attended", "col.attended", "int"),
        Column("absent_excused", "col.absent_excused", "int"),
        Column("absent_unexcused", "col.absent_unexcused", "int"),
        Column("attendance_rate", "col.attendance_rate", "percent"),
    ], rows, link={"full_name": "/reporting/members/{member_id}?year={year}"})


def cell(data: Mapping[str, Any]) -> dict[str, Any]:
    """`queries.cell` -> cell.html."""
    year = data["year"]
    return {
        "cell": dict(data["cell"]), "path": data["path"], "year": year,
        "years": _with_current(data.get("years") or [], year),
        "months": months_table(data["months"]), "meetings": meetings_table(data["meetings"]),
        "tasks": tasks_table(data["tasks"]), "members": cell_members_table(data["members"], year),
    }


# -- a meeting ------------------------------------------------------------------------

def attendance_table(lines: list[Mapping[str, Any]]) -> Table:
    rows = [{"member_id": a["member_id"], "full_name": a["full_name"], "status": a["status"],
             "reason": a.get("reason"), "dues_paid": _yes_no(a.get("dues_paid"))}
            for a in lines]
    return Table("attendance", "table.attendance", [
        Column("full_name", "col.full_name"),
        Column("status", "col.attendance", "state", codes="attendance"),
        Column("reason", "col.reason"),
        Column("dues_paid", "col.dues_paid", "code", codes="yesno"),
    ], rows, link={"full_name": "/reporting/members/{member_id}"})


def meeting(data: Mapping[str, Any]) -> dict[str, Any]:
    """`queries.meeting` -> meeting.html."""
    m = dict(data["meeting"])
    m["cell_name"] = m.get("cell_name") or m.get("cell_id")
    return {"meeting": m, "path": data.get("path", []),
            "attendance": attendance_table(data["attendance"]),
            "resolutions": data["resolutions"], "visits": data.get("visits", []),
            "tasks": tasks_table(data["tasks"], m["held_on"])}


# -- a member -------------------------------------------------------------------------

def member(data: Mapping[str, Any]) -> dict[str, Any]:
    """`queries.member` -> member.html."""
    info = dict(data["member"])
    years = Table("years", "table.years", [
        Column("year", "col.year"),
        Column("cell_name", "col.cell"),
        Column("meetings", "col.meetings", "int"),
        Column("attended", "col.attended", "int"),
        Column("absent_excused", "col.absent_excused", "int"),
        Column("absent_unexcused", "col.absent_unexcused", "int"),
        Column("attendance_rate", "col.attendance_rate", "percent"),
        Column("rating", "col.rating", "code", codes="rating"),
    ], [{"member_id": info["member_id"], "year": str(y["year"]),
         "cell_name": info.get("cell_name"),
         **_tally(y["meetings_due"], y["present"], y["unexcused"]),
         "attendance_rate": y["attendance_rate"], "rating": y.get("rating")}
        for y in data["years"]],
        link={"year": "/reporting/members/{member_id}?year={year}"})
    attendance = Table("attendance", "table.attendance", [
        Column("held_on", "col.held_on", "date"),
        Column("kind", "col.kind", "code", codes="meeting_kind"),
        Column("status", "col.attendance", "state", codes="attendance"),
        Column("reason", "col.reason"),
    ], [_pick(line, "meeting_id", "held_on", "kind", "status", "reason")
        for line in data["attendance"]], link={"held_on": "/reporting/meetings/{meeting_id}"})
    return {"member": info, "year": data["year"], "years": years, "attendance": attendance}


# -- escalations ----------------------------------------------------------------------

def escalations_table(found: list[Mapping[str, Any]]) -> Table:
    return Table("escalations", "table.escalations", [
        Column("rule", "col.rule", "code", codes="rule"),
        Column("level", "col.esc_level", "int"),
        Column("target_name", "col.target"),
        Column("subject_name", "col.subject"),
        Column("period", "col.period", "period"),
        Column("raised_on", "col.raised_on", "date"),
        Column("age_days", "col.age_days", "int"),
        Column("state", "col.state", "state", codes="esc_state"),
        Column("reason", "col.reason"),
    ], [dict(e) for e in found], link={"subject_name": "/reporting/cells/{cell_id}"})


def escalations(data: Mapping[str, Any], error: str | None = None,
                error_code: int | None = None) -> dict[str, Any]:
    """`queries.escalation_list` -> escalations.html; `error` (and its HTTP status) when
    an action on one of them was refused."""
    filters = {key: "" if value is None else value
               for key, value in (data.get("filters") or {}).items()}
    context = {"filters": {"state": "", "level": "", "rule": "", "unit": "", **filters},
               "total": data.get("total", 0), "by_level": data["by_level"],
               "by_age": data["by_age"], "table": escalations_table(data["escalations"])}
    if error:
        context.update(error=error, error_code=error_code)
    return context


# -- audit ----------------------------------------------------------------------------

def audit(found: Mapping[str, Any], status: list[Mapping[str, Any]],
          args: Mapping[str, str]) -> dict[str, Any]:
    """`audit_search_args` and `audit_status` -> audit.html; `args` are the search
    form's fields as sent."""
    results = Table("results", "table.audit_results", [
        Column("source", "col.source"),
        Column("position", "col.position", "int"),
        Column("recorded_at", "col.recorded_at", "datetime"),
        Column("type", "col.type"),
        Column("stream_id", "col.stream"),
        Column("actor", "col.actor"),
        Column("event_id", "col.event_id", "link"),
    ], [dict(r) for r in found["results"]], link={"event_id": "/reporting/audit/events/{event_id}"})
    return {"filters": {name: args.get(name, "") for name in AUDIT_FILTERS},
            "sources": list(SOURCES), "results": results, "next": found.get("next"),
            "status": [dict(s) for s in status]}


def audit_event(data: Mapping[str, Any]) -> dict[str, Any]:
    """`audit_event` -> audit_event.html. The chain lists archived events only (its root
    may be the command that started it, which has no page)."""
    event = {k: v for k, v in data.items() if k not in ("chain", "related", "related_truncated")}
    return {"event": event,
            "chain": [step for step in data.get("chain", []) if step.get("kind") == "event"],
            "related": list(data.get("related", [])),
            "related_truncated": data.get("related_truncated", False)}


# -- the quarterly report -------------------------------------------------------------

REPORT_FIGURES = [
    Column("cells", "col.cells", "int"),
    Column("cell_months", "col.cell_months", "int"),
    Column("months_met", "col.months_met", "int"),
    Column("met_share", "col.met_share", "percent"),
    Column("cells_thematic", "col.cells_thematic", "int"),
    Column("thematic_share", "col.thematic_share", "percent"),
    Column("thematic_meetings", "col.thematic_meetings", "int"),
    Column("members_counted", "col.members_counted", "int"),
    Column("members_present", "col.members_present", "int"),
    Column("attendance_rate", "col.attendance_rate", "percent"),
    Column("unexcused_absences", "col.unexcused_absences", "int"),
    Column("avg_duration_minutes", "col.avg_duration", "int"),
    Column("quality_good", "col.quality_good", "int"),
    Column("quality_fair", "col.quality_fair", "int"),
    Column("quality_average", "col.quality_average", "int"),
    Column("quality_poor", "col.quality_poor", "int"),
    Column("quality_unscored", "col.quality_unscored", "int"),
    Column("tasks_due", "col.tasks_due", "int"),
    Column("tasks_completed", "col.tasks_completed", "int"),
    Column("tasks_overdue", "col.tasks_overdue", "int"),
    Column("task_completion", "col.task_completion", "percent"),
    Column("cells_visited", "col.cells_visited", "int"),
    Column("visit_coverage", "col.visit_coverage", "percent"),
]


def flat_figures(figures: Mapping[str, Any]) -> dict[str, Any]:
    """`queries.metrics` as one row (the quality levels as columns)."""
    out = {k: v for k, v in figures.items() if k != "quality"}
    out.update({f"quality_{level}": n for level, n in (figures.get("quality") or {}).items()})
    return out


def quarterly(data: Mapping[str, Any], tr: Translator) -> tuple[str, list[Table]]:
    """The provincial committee's quarterly workbook: its title and its sheets.

    `data`: ``quarter``, ``top`` (``queries.overview`` of the top for the quarter),
    ``months`` (the same for each month of it), ``below`` (``queries.overview`` of each
    unit under the top that is no cell) and ``escalations`` (``queries.escalation_list``
    of the open ones).
    """
    top = data["top"]
    summary_rows = [{"period": top["period"], **flat_figures(top["summary"])}]
    summary_rows += [{"period": month["period"], **flat_figures(month["summary"])}
                     for month in data["months"]]
    summary = Table("summary", "report.summary",
                    [Column("period", "col.period", "period"), *REPORT_FIGURES], summary_rows)
    unit_columns = [Column("name", "col.name"), *REPORT_FIGURES,
                    Column("escalations_open", "col.escalations_open", "int")]
    units = Table("children", "table.children", unit_columns,
                  [dict(child) for child in top["children"]])
    below_rows = [{**child, "parent_name": unit["unit"]["name"]}
                  for unit in data.get("below", []) for child in unit["children"]]
    below = Table("below", "report.level_below",
                  [Column("parent_name", "col.parent"), *unit_columns], below_rows)
    open_escalations = escalations_table(data["escalations"]["escalations"])
    open_escalations.title = "metric.escalations_open"
    title = tr("report.title", unit=top["unit"]["name"], period=tr.period(data["quarter"]))
    return title, [summary, units, below, open_escalations]
