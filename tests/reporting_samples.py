"""Test fixtures: one realistic context per dashboard page, shaped as `views` produces them."""

# Also the reference for which columns (keys, message keys, kinds) each page's tables
# have, and a page to render when working on a template.

from __future__ import annotations

from typing import Any

from services.reporting.web.html_tables import Column, Phrase, Table
from services.reporting.web.i18n import format_month
from services.shared import escalation_rules
from services.shared.escalation_rules import Rule

PROVINCE = {"unit_id": "u-thanh-hoa", "name": "Tỉnh ủy Thanh Hóa", "kind": "province"}
COMMUNE = {"unit_id": "u-quan-son", "name": "Đảng ủy xã Quan Sơn", "kind": "committee"}
CELL = {"unit_id": "c-ban-may", "name": "Chi bộ bản Máy", "kind": "cell"}
MONTHS_2026 = [f"2026-{m:02d}" for m in range(1, 13)]


def _metrics(cells: int, met: float, thematic: int, present: int, counted: int,
             done: int, due: int, visited: int) -> dict[str, Any]:
    cell_months = cells * 3
    months_met = round(cell_months * met)
    return {
        "cells": cells, "cell_months": cell_months, "months_met": months_met,
        "met_share": months_met / cell_months if cell_months else None,
        "cells_thematic": thematic, "thematic_share": thematic / cells if cells else None,
        "thematic_meetings": thematic + 2,
        "members_counted": counted, "members_present": present,
        "attendance_rate": present / counted if counted else None,
        "unexcused_absences": max(counted - present - 40, 0), "avg_duration_minutes": 104.6,
        "quality": {"good": months_met // 2, "fair": months_met // 3, "average": 9, "poor": 2,
                    "unscored": months_met - months_met // 2 - months_met // 3 - 11},
        "tasks_due": due, "tasks_completed": done, "task_completion": done / due if due else None,
        "tasks_overdue": (due - done) // 3,
        "cells_visited": visited, "visit_coverage": visited / cells if cells else None,
    }


RATING_LEVELS = ("excellent", "good", "complete", "failed")
RATING_COLUMNS = [
    Column("members_rated", "col.members_rated", "int"),
    *(Column(f"rated_{level}", f"col.rated_{level}", "int") for level in RATING_LEVELS),
    *(Column(f"rated_{level}_share", f"col.rated_{level}_share", "percent")
      for level in RATING_LEVELS),
]
#: Two communes merged: two "Chi bộ thôn 1" under one committee, told apart by their
#: code and the commune each came from.
UNITS = [("u-quan-son", "Đảng ủy xã Quan Sơn", 190, 0.925, 0.81, 1240, None),
         ("u-hac-thanh", "Đảng ủy phường Hạc Thành", 212, 0.987, 0.9, 1302, None),
         ("u-son-thuy", "Đảng ủy xã Sơn Thủy", 64, 0.75, 0.5, 1870, "Đảng ủy xã Sơn Điện"),
         ("u-ba-thuoc", "Đảng ủy xã Bá Thước", 0, None, None, 0, None)]


def _rated(members: int) -> dict[str, Any]:
    counts = {"excellent": members // 6, "good": members * 2 // 3, "complete": members // 8,
              "failed": members // 200}
    rated = sum(counts.values())
    return {"members_rated": rated, **{f"rated_{k}": n for k, n in counts.items()},
            **{f"rated_{k}_share": n / rated if rated else None for k, n in counts.items()}}


def children_table() -> Table:
    columns = [
        Column("name", "col.name", "link"),
        Column("unit_id", "col.unit_code"),
        Column("former_parent_name", "col.former_parent"),
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
        Column("escalations_open", "col.escalations_open", "int"),
    ]
    rows = []
    for unit_id, name, cells, met, rate, members, former in UNITS:
        rows.append({
            "unit_id": unit_id, "name": name, "href": f"/reporting/units/{unit_id}",
            "former_parent_name": former, "tasks_overdue": cells // 20,
            "cells": cells, "met_share": met, "thematic_share": rate and rate - 0.1,
            "attendance_rate": rate, "unexcused_absences": members // 100,
            "quality_good": cells * 2, "quality_fair": cells, "quality_average": cells // 5,
            "quality_poor": cells // 40, "task_completion": rate and rate - 0.05,
            "visit_coverage": met and met - 0.2, "escalations_open": cells // 30})
    return Table("children", "table.children", columns, rows)


def ratings_table() -> Table:
    return Table("ratings", "table.ratings", [Column("year", "col.year"), *RATING_COLUMNS],
                 [{"year": "2026", **_rated(0)}, {"year": "2025", **_rated(4412)},
                  {"year": "2024", **_rated(4380)}])


def children_ratings_table() -> Table:
    return Table("children_ratings", "table.children_ratings", [
        Column("name", "col.name", "link"), Column("unit_id", "col.unit_code"),
        Column("former_parent_name", "col.former_parent"), Column("year", "col.year"),
        *RATING_COLUMNS],
        [{"unit_id": unit_id, "name": name, "former_parent_name": former, "year": "2025",
          "href": f"/reporting/units/{unit_id}", **_rated(members)}
         for unit_id, name, _, _, _, members, former in UNITS])


def overview() -> dict[str, Any]:
    trend = []
    for index, period in enumerate(["2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3"]):
        trend.append({"period": period, **_metrics(466, 0.85 + index * 0.03, 300 + index * 20,
                                                   9800 + index * 150, 11000, 700 + index * 40,
                                                   900, 320 + index * 30)})
    return {
        "unit": PROVINCE,
        "path": [{"unit_id": PROVINCE["unit_id"], "name": PROVINCE["name"]}],
        "period": "2026-Q3", "grouping": "then",
        "periods": ["2026-10", "2026-09", "2026-Q3", "2026-Q2", "2026", "2025"],
        "summary": trend[-1],
        "trend": trend,
        "escalations_open": {"by_level": {"1": 14, "2": 5, "3": 1}, "total": 20},
        "ratings": {"year": 2025, "rated": 4412,
                    "levels": {"excellent": 735, "good": 2941, "complete": 551, "failed": 22},
                    "shares": {"excellent": 0.1666, "good": 0.6666, "complete": 0.1249,
                               "failed": 0.005}},
        "children": children_table(),
        "ratings_table": ratings_table(),
        "children_ratings": children_ratings_table(),
    }


def heatmap_table(rows: list[dict[str, Any]], months: list[str]) -> Table:
    """The heat map as a table for export: one column per month, each cell a code
    (``heat_cell.<level|late_<level>|missed|not_due|not_established|dissolved|none>``)."""
    columns = [Column("name", "col.cell"), Column("parent_name", "col.parent"),
               Column("unit_id", "col.unit_code"),
               Column("former_parent_name", "col.former_parent")]
    # A label that is no message key is shown as it is: the month as users write it.
    columns += [Column(month, format_month(month), "code", codes="heat_cell")
                for month in months]
    flat = []
    for row in rows:
        out = {"cell_id": row["cell_id"], "unit_id": row["cell_id"], "name": row["name"],
               "parent_name": row["parent_name"],
               "former_parent_name": row.get("former_parent_name")}
        for month in months:
            square = row["months"].get(month) or {"state": "none"}
            level = square.get("level") or "unscored"
            out[month] = {"held": level, "held_late": f"late_{level}"}.get(
                square["state"], square["state"])
        flat.append(out)
    return Table("heatmap", "table.heatmap", columns, flat,
                 link={"name": "/reporting/cells/{cell_id}"})


def heatmap() -> dict[str, Any]:
    levels = ["good", "good", "fair", "good", "average", None, "good", "poor", "fair", "good"]
    rows = []
    for number, (cell_id, name) in enumerate([("c-ban-may", "Chi bộ bản Máy"),
                                              ("c-ban-ngam", "Chi bộ bản Ngàm"),
                                              ("c-dong-tien", "Chi bộ thôn Đông Tiến"),
                                              ("c-truong-thcs", "Chi bộ Trường THCS Sơn Điện")]):
        months: dict[str, dict[str, Any]] = {}
        for index, month in enumerate(MONTHS_2026):
            if number == 3 and index < 4:
                months[month] = {"state": "not_established", "level": None}  # set up in May
            elif number == 2 and index >= 8:
                months[month] = {"state": "dissolved", "level": None}  # merged in September
            elif index >= 10:
                months[month] = {"state": "not_due", "level": None}
            elif (number, index) == (1, 6):
                months[month] = {"state": "held_late", "level": "fair"}  # made up in August
            elif (index + number) % 7 == 5:
                months[month] = {"state": "missed", "level": None}
            elif (number, index) == (0, 0):
                months[month] = {"state": "none", "level": None}  # before any figures
            else:
                months[month] = {"state": "held", "level": levels[(index + number) % 10]}
        rows.append({"cell_id": cell_id, "name": name, "parent_name": COMMUNE["name"],
                     # moved here when its commune merged into this one
                     "former_parent_name": "Đảng bộ xã Sơn Thủy" if number == 1 else None,
                     "months": months})
    return {
        "unit": COMMUNE,
        "path": [{"unit_id": PROVINCE["unit_id"], "name": PROVINCE["name"]},
                 {"unit_id": COMMUNE["unit_id"], "name": COMMUNE["name"]}],
        "year": 2026, "grouping": "then", "months": MONTHS_2026, "rows": rows,
        "table": heatmap_table(rows, MONTHS_2026),
    }


def tasks_table() -> Table:
    columns = [Column("title", "col.task"), Column("assignee_name", "col.assignee"),
               Column("due_on", "col.due_on", "date"),
               Column("completed_on", "col.completed_on", "date"),
               Column("state", "col.state", "state", codes="task_state"),
               Column("held_on", "col.held_on", "date")]
    rows = [
        {"task_id": "t-1", "meeting_id": "m-2026-10", "title": "Vận động 100% hộ tham gia BHYT",
         "assignee_name": "Lò Văn Thắng", "due_on": "2026-11-30", "completed_on": None,
         "state": "assigned", "held_on": "2026-10-05"},
        {"task_id": "t-2", "meeting_id": "m-2026-09", "title": "Sửa đường liên bản đoạn Khe Ngàm",
         "assignee_name": "Hà Văn Bằng", "due_on": "2026-09-30", "completed_on": "2026-09-28",
         "state": "completed", "held_on": "2026-09-06"},
        {"task_id": "t-3", "meeting_id": "m-2026-08", "title": "Thu đảng phí quý III",
         "assignee_name": "Chi ủy", "due_on": "2026-08-31", "completed_on": None,
         "state": "overdue", "held_on": "2026-08-04"},
    ]
    return Table("tasks", "table.tasks", columns, rows,
                 link={"held_on": "/reporting/meetings/{meeting_id}"})


def cell() -> dict[str, Any]:
    months = Table("months", "table.months", [
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
    ], [
        {"month": "2026-10", "state": "good", "thematic_meetings": 1, "members_counted": 25,
         "members_present": 24, "attendance_rate": 0.96, "level": "good", "visited": "yes",
         "tasks_due": 0, "tasks_overdue": 0},
        {"month": "2026-09", "state": "fair", "thematic_meetings": 0, "members_counted": 25,
         "members_present": 21, "attendance_rate": 0.84, "level": "fair", "visited": "no",
         "tasks_due": 1, "tasks_overdue": 0},
        {"month": "2026-08", "state": "missed", "thematic_meetings": 0, "members_counted": None,
         "members_present": None, "attendance_rate": None, "level": None, "visited": "no",
         "tasks_due": 1, "tasks_overdue": 1},
    ])
    meetings = Table("meetings", "table.meetings", [
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
    ], [
        {"meeting_id": "m-2026-10", "held_on": "2026-10-05", "kind": "combined",
         "topic": "Học tập và làm theo tư tưởng, đạo đức, phong cách Hồ Chí Minh",
         "duration_minutes": 135, "members_present": 24, "members_counted": 25,
         "attendance_rate": 0.96, "self_level": "good", "visit_level": "good", "level": "good"},
        {"meeting_id": "m-2026-09", "held_on": "2026-09-06", "kind": "regular", "topic": None,
         "duration_minutes": 95, "members_present": 21, "members_counted": 25,
         "attendance_rate": 0.84, "self_level": "good", "visit_level": "fair", "level": "fair"},
    ], link={"held_on": "/reporting/meetings/{meeting_id}"})
    members = Table("members", "table.members", [
        Column("full_name", "col.full_name"),
        Column("status", "col.status", "code", codes="member_status"),
        Column("meetings", "col.meetings", "int"),
        Column("attended", "col.attended", "int"),
        Column("absent_excused", "col.absent_excused", "int"),
        Column("absent_unexcused", "col.absent_unexcused", "int"),
        Column("attendance_rate", "col.attendance_rate", "percent"),
        Column("rating", "col.rating", "code", codes="rating"),
    ], [
        {"member_id": "p-1", "full_name": "Hà Văn Bằng", "status": "full", "meetings": 9,
         "attended": 9, "absent_excused": 0, "absent_unexcused": 0, "attendance_rate": 1.0,
         "rating": "excellent"},
        {"member_id": "p-2", "full_name": "Lò Thị Ánh", "status": "probationary", "meetings": 9,
         "attended": 7, "absent_excused": 1, "absent_unexcused": 1, "attendance_rate": 0.778,
         "rating": "good"},
        {"member_id": "p-3", "full_name": "Lò Văn Thắng", "status": "working_away",
         "meetings": 3, "attended": 2, "absent_excused": 1, "absent_unexcused": 0,
         "attendance_rate": 0.667, "rating": None},
    ], link={"full_name": "/reporting/members/{member_id}"})
    return {
        "cell": {"cell_id": CELL["unit_id"], "name": CELL["name"], "kind": "cell",
                 "parent_name": COMMUNE["name"], "former_parent_name": "Đảng ủy xã Sơn Điện",
                 "established_on": "1976-03-26", "dissolved_on": None},
        "ratings": {"rated": 24, "levels": {"excellent": 4, "good": 17, "complete": 3,
                                            "failed": 0},
                    "shares": {"excellent": 0.1667, "good": 0.7083, "complete": 0.125,
                               "failed": 0.0}},
        "path": [{"unit_id": PROVINCE["unit_id"], "name": PROVINCE["name"]},
                 {"unit_id": COMMUNE["unit_id"], "name": COMMUNE["name"]},
                 {"unit_id": CELL["unit_id"], "name": CELL["name"]}],
        "year": 2026, "years": [2026, 2025, 2024],
        "months": months, "meetings": meetings, "tasks": tasks_table(), "members": members,
    }


def meeting() -> dict[str, Any]:
    attendance = Table("attendance", "table.attendance", [
        Column("full_name", "col.full_name"),
        Column("status", "col.attendance", "state", codes="attendance"),
        Column("reason", "col.reason"),
        Column("dues_paid", "col.dues_paid", "code", codes="yesno"),
    ], [
        {"member_id": "p-1", "full_name": "Hà Văn Bằng", "status": "present", "reason": None,
         "dues_paid": "yes"},
        {"member_id": "p-2", "full_name": "Lò Thị Ánh", "status": "absent_excused",
         "reason": "Ốm, có giấy của trạm y tế xã", "dues_paid": "yes"},
        {"member_id": "p-4", "full_name": "Phạm Quốc Đạt", "status": "absent_unexcused",
         "reason": None, "dues_paid": "no"},
        {"member_id": "p-3", "full_name": "Lò Văn Thắng", "status": "excused",
         "reason": "Đi làm ăn xa tại Bình Dương", "dues_paid": None},
    ], link={"full_name": "/reporting/members/{member_id}"})
    return {
        "meeting": {
            "meeting_id": "m-2026-10", "cell_id": CELL["unit_id"], "cell_name": CELL["name"],
            "kind": "combined",
            "topic": "Học tập và làm theo tư tưởng, đạo đức, phong cách Hồ Chí Minh",
            "place": "Nhà văn hóa bản Máy", "held_on": "2026-10-05", "started_at": "07:30",
            "ended_at": "09:45", "duration_minutes": 135, "chair_name": "Hà Văn Bằng",
            "minutes_taker_name": "Lò Thị Ánh",
            "agenda": ["Kiểm điểm việc thực hiện nghị quyết tháng 9",
                       "Sinh hoạt chuyên đề: giữ gìn bản sắc văn hóa dân tộc Thái",
                       "Triển khai nhiệm vụ tháng 11"],
            "speakers": ["Hà Văn Bằng", "Lò Văn Thắng", "Phạm Quốc Đạt"],
            "minutes": "Đồng chí Bí thư báo cáo kết quả tháng 9.\n"
                       "Các đồng chí thảo luận về việc sửa đường <liên bản> & nước sạch.",
            "conclusion": "Chi bộ thống nhất giao nhiệm vụ cho từng đảng viên.",
            "self_level": "good", "visit_level": "good", "level": "good",
            "members_counted": 25, "members_present": 24,
            "flags": ["materials_late"],
        },
        "attendance": attendance,
        "resolutions": [{
            "title": "Nghị quyết tháng 10/2026",
            "text": "Vận động nhân dân tham gia bảo hiểm y tế; hoàn thành sửa đường liên bản.",
            "vote": {"eligible": 25, "in_favour": 23, "against": 0, "abstaining": 1},
        }],
        "tasks": tasks_table(),
    }


def member() -> dict[str, Any]:
    years = Table("years", "table.years", [
        Column("year", "col.year"),
        Column("cell_name", "col.cell"),
        Column("meetings", "col.meetings", "int"),
        Column("attended", "col.attended", "int"),
        Column("absent_excused", "col.absent_excused", "int"),
        Column("absent_unexcused", "col.absent_unexcused", "int"),
        Column("attendance_rate", "col.attendance_rate", "percent"),
        Column("rating", "col.rating", "code", codes="rating"),
    ], [
        {"member_id": "p-2", "year": "2026", "cell_name": CELL["name"], "meetings": 9,
         "attended": 7, "absent_excused": 1, "absent_unexcused": 1, "attendance_rate": 0.778,
         "rating": None},
        {"member_id": "p-2", "year": "2025", "cell_name": CELL["name"], "meetings": 12,
         "attended": 12, "absent_excused": 0, "absent_unexcused": 0, "attendance_rate": 1.0,
         "rating": "excellent"},
    ], link={"year": "/reporting/members/{member_id}?year={year}"})
    attendance = Table("attendance", "table.attendance", [
        Column("held_on", "col.held_on", "date"),
        Column("kind", "col.kind", "code", codes="meeting_kind"),
        Column("status", "col.attendance", "state", codes="attendance"),
        Column("reason", "col.reason"),
    ], [
        {"meeting_id": "m-2026-10", "held_on": "2026-10-05", "kind": "combined",
         "status": "absent_excused", "reason": "Ốm, có giấy của trạm y tế xã"},
        {"meeting_id": "m-2026-09", "held_on": "2026-09-06", "kind": "regular",
         "status": "present", "reason": None},
        {"meeting_id": "m-2026-08", "held_on": "2026-08-04", "kind": "regular",
         "status": "absent_unexcused", "reason": None},
    ], link={"held_on": "/reporting/meetings/{meeting_id}"})
    return {
        "member": {"member_id": "p-2", "full_name": "Lò Thị Ánh", "cell_id": CELL["unit_id"],
                   "cell_name": CELL["name"], "status": "probationary"},
        "year": 2026, "years": years, "attendance": attendance,
    }


def escalations() -> dict[str, Any]:
    """Rows as `views.escalation_row` shapes them: period, reason and resolution are
    phrases, read in the reader's language from the escalation's facts."""
    rows = [
        {"escalation_id": "e-1", "rule": "missed_regular_meeting", "level": 2,
         "target_name": "Tỉnh ủy Thanh Hóa", "subject_name": "Chi bộ bản Ngàm",
         "cell_id": "c-ban-ngam", "period": "2026-09", "raised_on": "2026-10-08",
         "age_days": 40, "state": "raised", "details": {"months_in_a_row": 2}},
        {"escalation_id": "e-2", "rule": "not_visited", "level": 1,
         "target_name": "Đảng ủy xã Quan Sơn", "subject_name": "Chi bộ thôn Đông Tiến",
         "cell_id": "c-dong-tien", "period": "2026-Q3", "raised_on": "2026-10-03",
         "age_days": 12, "state": "acknowledged", "details": {}},
        {"escalation_id": "e-3", "rule": "task_overdue", "level": 1,
         "target_name": "Đảng ủy xã Quan Sơn", "subject_name": "Sửa đường liên bản",
         "subject_id": "t-17", "cell_id": "c-ban-may", "period": "t-17",
         "raised_on": "2026-10-06", "age_days": 3, "state": "resolved",
         "resolved_how": "task_closed", "details": {"due_on": "2026-09-20",
                                                    "days_overdue": 16}},
    ]
    table = Table("escalations", "table.escalations", [
        Column("rule", "col.rule", "code", codes="rule"),
        Column("level", "col.esc_level", "int"),
        Column("target_name", "col.target"),
        Column("subject_name", "col.subject"),
        Column("period", "col.period", "period"),
        Column("raised_on", "col.raised_on", "date"),
        Column("age_days", "col.age_days", "int"),
        Column("state", "col.state", "state", codes="esc_state"),
        Column("reason", "col.reason"),
        Column("resolved_how", "col.resolved_how"),
    ], [_escalation_row(row) for row in rows], link={"subject_name": "/reporting/cells/{cell_id}"})
    return {
        "filters": {"state": "", "level": "", "rule": "", "unit": ""},
        "rules": [rule.value for rule in Rule],
        "by_level": {"1": 14, "2": 5, "3": 1},
        "by_age": {"0-7": 6, "8-30": 9, "31+": 5},
        "table": table,
    }


def _escalation_row(row: dict[str, Any]) -> dict[str, Any]:
    return {**row,
            "period": Phrase(lambda lang: escalation_rules.period_label(row, lang),
                             sort=row["details"].get("due_on") or row["period"]),
            "reason": Phrase(lambda lang: escalation_rules.reason(row, lang)),
            "resolved_how": Phrase(lambda lang: escalation_rules.resolution_label(
                row.get("resolved_how"), lang)) if row.get("resolved_how") else None}


def audit() -> dict[str, Any]:
    results = Table("results", "table.audit_results", [
        Column("source", "col.source", "label", codes="source"),
        Column("position", "col.position", "int"),
        Column("recorded_at", "col.recorded_at", "datetime"),
        Column("type", "col.type", "label", codes="event_type"),
        Column("stream_id", "col.stream"),
        Column("actor", "col.actor", "label", codes="actor"),
        Column("event_id", "col.event_id", "link"),
    ], [
        {"source": "meetings", "position": 10452, "event_id": "ev-7f3a",
         "recorded_at": "2026-10-05T03:12:44+00:00", "type": "meeting_held",
         "stream_id": "meeting-m-2026-10", "actor": "Lò Thị Ánh"},
        {"source": "supervision", "position": 3310, "event_id": "ev-91bc",
         "recorded_at": "2026-10-08T17:00:01+00:00", "type": "escalation_raised",
         "stream_id": "escalation-e-1", "actor": "anonymous"},
    ], link={"event_id": "/reporting/audit/events/{event_id}"})
    return {
        "filters": {"source": "", "stream": "", "type": "", "actor": "Lò Thị Ánh",
                    "from": "2026-10-01", "to": "2026-10-31"},
        "sources": ["members", "meetings", "supervision"],
        "event_types": ["escalation_raised", "meeting_held", "member_admitted"],
        "results": results,
        # The second of 134 pages of 100 events.
        "paging": {"total": 13_330, "first": 101, "last": 200, "page": 2, "pages": 134,
                   "limit": 100, "next": "WyIyMDI2LTEwIl0", "previous": "WyIyMDI2LTExIl0"},
        "status": [
            {"source": "members", "state": "ok", "events": 251_204,
             "checked_at": "2026-10-09T01:00:00+00:00", "findings": []},
            {"source": "meetings", "state": "tampered", "events": 10_452,
             "checked_at": "2026-10-09T01:00:05+00:00",
             "findings": ["Vị trí 10.201: mã băm không khớp (dòng đã bị sửa)"]},
            {"source": "supervision", "state": "unknown", "events": 0, "checked_at": None,
             "findings": []},
        ],
    }


def audit_event() -> dict[str, Any]:
    def link(event_id: str, kind: str, source: str, at: str) -> dict[str, Any]:
        return {"event_id": event_id, "type": kind, "source": source, "recorded_at": at}

    return {
        "event": {
            "source": "meetings", "position": 10452, "event_id": "ev-7f3a",
            "stream_id": "meeting-m-2026-10", "type": "meeting_held", "version": 3,
            "recorded_at": "2026-10-05T03:12:44+00:00",
            "hash": "9c1e4b0f6a7d2e3c5b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c",
            "metadata": {"actor": "Lò Thị Ánh", "command_id": "cmd-5521",
                         "correlation_id": "corr-2026-10-05", "causation_id": "ev-6d20"},
            "causation": {"id": "ev-6d20", "kind": "event"},
            "data": {"meeting_id": "m-2026-10", "cell_id": "c-ban-may", "kind": "combined",
                     "held_on": "2026-10-05", "place": "Nhà văn hóa bản Máy",
                     "members_counted": 25, "members_present": 24},
        },
        "chain": [link("ev-6d20", "meeting_scheduled", "meetings", "2026-09-28T02:00:00+00:00"),
                  link("ev-7f3a", "meeting_held", "meetings", "2026-10-05T03:12:44+00:00")],
        "related": [link("ev-7f3b", "resolution_adopted", "meetings",
                         "2026-10-05T03:12:45+00:00"),
                    link("ev-7f3c", "task_assigned", "meetings", "2026-10-05T03:12:45+00:00")],
    }


def error() -> dict[str, Any]:
    return {"code": 404, "message": None, "hint": None}


#: template -> its sample context
PAGES = {
    "overview.html": overview,
    "heatmap.html": heatmap,
    "cell.html": cell,
    "meeting.html": meeting,
    "member.html": member,
    "escalations.html": escalations,
    "audit.html": audit,
    "audit_event.html": audit_event,
    "error.html": error,
}
