"""Each dashboard page's context from what `queries` returns.

Pure functions: a query's dict in, the template's context out (with `Table`s and
their columns, as `tests/reporting_samples.py` shows them), no database and no request, so
pages stay thin and the shaping is tested on its own. What a page shows is what
its CSV and Excel exports give: both come from these tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from services.reporting import month_states
from services.reporting.periods import months_of
from services.reporting.read_model import RATINGS
from services.reporting.web import urls
from services.reporting.web.html_tables import Column, Phrase, Table
from services.reporting.web.i18n import Translator, format_month, messages
from services.shared import escalation_rules
from services.shared.escalation_rules import Rule
from services.shared.events import SOURCES

#: A heat map square's states (services/reporting/month_states.py says what each means).
_SQUARE_STATES = set(month_states.STATES)
_HELD_STATES = ("held", "held_late")
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
    Column("tasks_overdue", "col.tasks_overdue", "int"),
    Column("visit_coverage", "col.visit_coverage", "percent"),
]

#: What tells apart units of one name (after a merge, two communes' "Chi bộ thôn 1"
#: sit under one committee): the unit's code and the unit it sat under before.
IDENTITY_COLUMNS = [
    Column("unit_id", "col.unit_code"),
    Column("former_parent_name", "col.former_parent"),
]

#: Members rated for a year, by level (đánh giá, xếp loại đảng viên).
RATING_COLUMNS = [
    Column("members_rated", "col.members_rated", "int"),
    *(Column(f"rated_{level}", f"col.rated_{level}", "int") for level in RATINGS),
    *(Column(f"rated_{level}_share", f"col.rated_{level}_share", "percent")
      for level in RATINGS),
]


def children_columns() -> list[Column]:
    return [Column("name", "col.name", "link"), *IDENTITY_COLUMNS, *FIGURE_COLUMNS,
            Column("escalations_open", "col.escalations_open", "int")]


def rating_cells(rated: int, counts: Mapping[str, int]) -> dict[str, Any]:
    """A row's rating columns from the number rated and the count at each level."""
    return {"members_rated": rated,
            **{f"rated_{level}": counts.get(level, 0) for level in RATINGS},
            **{f"rated_{level}_share": counts.get(level, 0) / rated if rated else None
               for level in RATINGS}}


def ratings_table(by_year: list[Mapping[str, Any]]) -> Table:
    """A unit's members rated in each year (newest first)."""
    rows = [{"year": str(y["year"]), **rating_cells(y["rated"], y["levels"])}
            for y in by_year]
    return Table("ratings", "table.ratings", [Column("year", "col.year"), *RATING_COLUMNS],
                 rows)


def children_ratings_table(children: list[Mapping[str, Any]], period: str,
                           grouping: str | None) -> Table:
    """The units under the one shown: their members rated in the period's year."""
    rows = [{"unit_id": child["unit_id"], "name": child["name"],
             "former_parent_name": child.get("former_parent_name"),
             "href": child_href(child, period, grouping), "year": str(child["ratings_year"]),
             **rating_cells(child["members_rated"],
                            {level: child[f"rated_{level}"] for level in RATINGS})}
            for child in children]
    return Table("children_ratings", "table.children_ratings", [
        Column("name", "col.name", "link"), *IDENTITY_COLUMNS, Column("year", "col.year"),
        *RATING_COLUMNS], rows)


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
                "escalations_open", "ratings"),
        "periods": _with_current(data.get("periods") or [], period),
        "children": children_table(data["children"], period, grouping),
        "ratings_table": ratings_table(data["ratings"]["by_year"]),
        "children_ratings": children_ratings_table(data["children"], period, grouping),
    }


# -- heat map -------------------------------------------------------------------------

def heat_square(square: Mapping[str, Any] | None) -> dict[str, Any]:
    """A month of a cell as the heat map draws it; a state it does not know shows as
    no data."""
    state = (square or {}).get("state") or "none"
    if state not in _SQUARE_STATES:
        state = "none"
    level = ((square or {}).get("level") or "unscored") if state in _HELD_STATES else None
    return {"state": state, "level": level}


def heat_code(square: Mapping[str, Any]) -> str:
    """A square as one ``heat_cell`` code (exports, the cell's months): the level held,
    ``late_<level>`` for a month made up late, else the state."""
    if square["state"] == "held":
        return square.get("level") or "unscored"
    if square["state"] == "held_late":
        return f"late_{square.get('level') or 'unscored'}"
    return str(square["state"])


HEATMAP_PAGE_ROWS = 1500


def heatmap_table(rows: list[Mapping[str, Any]], months: list[str]) -> Table:
    """The heat map for export: one column per month, each cell a ``heat_cell`` code."""
    columns = [Column("name", "col.cell"), Column("parent_name", "col.parent"),
               *IDENTITY_COLUMNS]
    # A label that is no message key shows as it is: the month as users write it.
    columns += [Column(month, format_month(month), "code", codes="heat_cell")
                for month in months]
    flat = []
    for row in rows:
        out = {"cell_id": row["cell_id"], "unit_id": row["cell_id"], "name": row["name"],
               "parent_name": row.get("parent_name"),
               "former_parent_name": row.get("former_parent_name")}
        for month in months:
            out[month] = heat_code(heat_square(row["months"].get(month)))
        flat.append(out)
    return Table("heatmap", "table.heatmap", columns, flat,
                 link={"name": "/reporting/cells/{cell_id}"})


def heatmap(data: Mapping[str, Any]) -> dict[str, Any]:
    """`queries.heatmap_cells` -> heatmap.html (cells as rows, each with its parent)."""
    months = list(data["months"])
    rows = [{"cell_id": row["unit_id"], "name": row["name"],
             "parent_name": row.get("parent_name"),
             "former_parent_name": row.get("former_parent_name"),
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
    return heat_code(heat_square(month))


def months_table(months: list[Mapping[str, Any]]) -> Table:
    rows = []
    for month in sorted(months, key=lambda m: m["month"], reverse=True):
        held = month.get("state") in _HELD_STATES
        rows.append({
            "month": month["month"], "state": _month_state(month),
            "thematic_meetings": month.get("thematic_meetings"),
            "members_counted": month.get("members_counted") if held else None,
            "members_present": month.get("members_present") if held else None,
            "attendance_rate": month.get("attendance_rate"),
            "level": month.get("level") if held else None,
            "visited": _yes_no((month.get("visits") or 0) > 0),
            "tasks_due": month.get("tasks_due"), "tasks_overdue": month.get("tasks_overdue")})
    return Table("months", "table.months", [
        Column("month", "col.month", "month"),
        Column("state", "col.regular_held", "code", codes="heat_cell"),
        Column("thematic_meetings", "col.thematic_held", "int"),
        Column("members_counted", "col.members_counted", "int"),
        Column("members_present", "col.members_present", "int"),
        Column("attendance_rate", "col.attendance_rate", "percent"),
        Column("level", "col.level", "level"),
        Column("visited", "col.visited", "code", codes="yesno"),
        Column("tasks_due", "col.tasks_due", "int"),
        Column("tasks_overdue", "col.tasks_overdue", "int"),
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
             "attendance_rate": p["attendance_rate"], "rating": p.get("rating")}
            for p in people]
    return Table("members", "table.members", [
        Column("full_name", "col.full_name"),
        Column("status", "col.status", "code", codes="member_status"),
        Column("meetings", "col.meetings", "int"),
        Column("attended", "col.attended", "int"),
        Column("absent_excused", "col.absent_excused", "int"),
        Column("absent_unexcused", "col.absent_unexcused", "int"),
        Column("attendance_rate", "col.attendance_rate", "percent"),
        Column("rating", "col.rating", "code", codes="rating"),
    ], rows, link={"full_name": "/reporting/members/{member_id}?year={year}"})


def cell(data: Mapping[str, Any]) -> dict[str, Any]:
    """`queries.cell` -> cell.html."""
    year = data["year"]
    return {
        "cell": dict(data["cell"]), "path": data["path"], "year": year,
        "ratings": data.get("ratings"),
        "years": _with_current(data.get("years") or [], year),
        "months": months_table(data["months"]), "meetings": meetings_table(data["meetings"]),
        "tasks": tasks_table(data["tasks"]), "members": cell_members_table(data["members"], year),
        "personal_hidden": bool(data.get("personal_hidden")),
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
            "tasks": tasks_table(data["tasks"], m["held_on"]),
            "materials": data.get("materials", []),
            # Without the personal-data permission only the number of materials is left.
            "materials_count": data.get("materials_count", len(data.get("materials", []))),
            "personal_hidden": bool(data.get("personal_hidden"))}


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

def escalation_row(e: Mapping[str, Any]) -> dict[str, Any]:
    """An escalation as its table shows it: the period for people (a month, a quarter,
    a task's due date) and the reason read from its facts, each in the reader's
    language; a system resolution by its label."""
    facts = {**e, "details": e.get("details") or {}}
    due = facts["details"].get("due_on") if facts.get("rule") == Rule.TASK_OVERDUE else None
    return {**e,
            "period": Phrase(lambda lang: escalation_rules.period_label(facts, lang),
                             sort=str(due or e.get("period") or "")),
            "reason": Phrase(lambda lang: escalation_rules.reason(facts, lang)),
            "resolved_how": Phrase(lambda lang: escalation_rules.resolution_label(
                e.get("resolved_how"), lang)) if e.get("resolved_how") else None}


def escalations_table(found: list[Mapping[str, Any]]) -> Table:
    return Table("escalations", "table.escalations", [
        Column("rule", "col.rule", "code", codes="rule"),
        Column("level", "col.esc_level", "int"),
        Column("target_name", "col.target"),
        Column("subject_name", "col.subject"),
        # A phrase: sorted by its ISO period or due date, shown for people.
        Column("period", "col.period", "period"),
        Column("raised_on", "col.raised_on", "date"),
        Column("age_days", "col.age_days", "int"),
        Column("state", "col.state", "state", codes="esc_state"),
        Column("reason", "col.reason"),
        Column("resolved_how", "col.resolved_how"),
    ], [escalation_row(e) for e in found], link={"subject_name": "/reporting/cells/{cell_id}"})


def escalations(data: Mapping[str, Any], error: str | None = None,
                error_code: int | None = None) -> dict[str, Any]:
    """`queries.escalation_list` -> escalations.html; `error` (and its HTTP status) when
    an action on one of them was refused."""
    filters = {key: "" if value is None else value
               for key, value in (data.get("filters") or {}).items()}
    context = {"filters": {"state": "", "level": "", "rule": "", "unit": "", **filters},
               "rules": [rule.value for rule in Rule],
               "total": data.get("total", 0), "by_level": data["by_level"],
               "by_age": data["by_age"], "table": escalations_table(data["escalations"])}
    if error:
        context.update(error=error, error_code=error_code)
    return context


# -- audit ----------------------------------------------------------------------------

def audit_results_table(results: list[Mapping[str, Any]]) -> Table:
    """Archived events as the audit page lists them: event types and the anonymous actor
    by their labels (the type's code stays what the search form takes)."""
    return Table("results", "table.audit_results", [
        Column("source", "col.source", "label", codes="source"),
        Column("position", "col.position", "int"),
        Column("recorded_at", "col.recorded_at", "datetime"),
        Column("type", "col.type", "label", codes="event_type"),
        Column("stream_id", "col.stream"),
        Column("actor", "col.actor", "label", codes="actor"),
        Column("event_id", "col.event_id", "link"),
    ], [dict(r) for r in results], link={"event_id": "/reporting/audit/events/{event_id}"})


def event_types() -> list[str]:
    """Every event type that has a label, for the search form's choice of type."""
    return sorted(key.removeprefix("event_type.") for key in messages()
                  if key.startswith("event_type."))


def audit_pages(found: Mapping[str, Any]) -> dict[str, Any]:
    """Where this page of results sits among them all, and the cursors of its neighbours:
    first and last shown (1-based), the total, the page number and the page count."""
    total, offset = int(found.get("total") or 0), int(found.get("offset") or 0)
    shown, limit = len(found.get("results") or []), max(int(found.get("limit") or 1), 1)
    return {"total": total, "first": offset + 1 if shown else 0, "last": offset + shown,
            "page": offset // limit + 1 if shown else 0,
            "pages": -(-total // limit), "limit": limit, "next": found.get("next"),
            "previous": found.get("previous")}


def audit(found: Mapping[str, Any], status: list[Mapping[str, Any]],
          args: Mapping[str, str], checkpoints: Mapping[str, Any] | None = None
          ) -> dict[str, Any]:
    """`audit_search_args`, `audit_status` and `audit_checkpoints` -> audit.html; `args`
    are the search form's fields as sent."""
    filters = {name: args.get(name, "") for name in AUDIT_FILTERS}
    return {"filters": filters, "sources": list(SOURCES),
            "checkpoints": dict(checkpoints or {"held": [], "checked": []}),
            "event_types": _with_current(event_types(), filters["type"] or None),
            "results": audit_results_table(found["results"]),
            "paging": audit_pages(found), "next": found.get("next"),
            "status": [dict(s) for s in status]}


def audit_event(data: Mapping[str, Any]) -> dict[str, Any]:
    """`audit_event` -> audit_event.html. The chain lists archived events only (its root
    may be the command that started it, which has no page); the causation id links to
    the event it names only when that event is archived."""
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

    `data`: ``quarter``, ``today`` (the clock's day, ISO), ``top`` (``queries.overview``
    of the top for the quarter), ``months`` (the same for each month of it the clock has
    reached), ``below`` (``queries.overview`` of each unit under the top that is no cell)
    and ``escalations`` (``queries.escalation_list`` of the open ones).
    """
    top = data["top"]
    current = str(data["today"])[:7]

    def state(period: str) -> str:
        # A period is over once its last month is before the clock's month.
        last = months_of(period)[-1]
        return "ended" if last < current else "running"

    summary_rows = [{"period": top["period"], "period_state": state(top["period"]),
                     **flat_figures(top["summary"])}]
    summary_rows += [{"period": month["period"], "period_state": state(month["period"]),
                      **flat_figures(month["summary"])} for month in data["months"]]
    summary = Table("summary", "report.summary",
                    [Column("period", "col.period", "period"),
                     Column("period_state", "col.period_state", "code", codes="period_state"),
                     *REPORT_FIGURES], summary_rows)
    unit_columns = [Column("name", "col.name"), *IDENTITY_COLUMNS, *REPORT_FIGURES,
                    Column("escalations_open", "col.escalations_open", "int")]
    units = Table("children", "table.children", unit_columns,
                  [dict(child) for child in top["children"]])
    below_rows = [{**child, "parent_name": unit["unit"]["name"]}
                  for unit in data.get("below", []) for child in unit["children"]]
    below = Table("below", "report.level_below",
                  [Column("parent_name", "col.parent"), *unit_columns], below_rows)
    year = top["ratings"]["year"]
    rating_rows = [{"name": top["unit"]["name"], "unit_id": top["unit"]["unit_id"],
                    "parent_name": None, "year": str(year),
                    **rating_cells(top["ratings"]["rated"], top["ratings"]["levels"])}]
    for unit in [{"unit": top["unit"], "children": top["children"]}, *data.get("below", [])]:
        rating_rows += [{"name": child["name"], "unit_id": child["unit_id"],
                         "parent_name": unit["unit"]["name"], "year": str(year),
                         **rating_cells(child["members_rated"],
                                        {level: child[f"rated_{level}"] for level in RATINGS})}
                        for child in unit["children"]]
    ratings = Table("ratings", "report.ratings", [
        Column("name", "col.name"), Column("unit_id", "col.unit_code"),
        Column("parent_name", "col.parent"), Column("year", "col.year"), *RATING_COLUMNS],
        rating_rows)
    open_escalations = escalations_table(data["escalations"]["escalations"])
    open_escalations.title = "metric.escalations_open"
    title = tr("report.title", unit=top["unit"]["name"], period=tr.period(data["quarter"]))
    return title, [summary, units, below, ratings, open_escalations]
