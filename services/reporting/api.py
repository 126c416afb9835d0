"""Reporting's JSON API as OpenAPI routes: what Grafana, Superset or a script can read."""

from __future__ import annotations

from typing import Any

from chibo.openapi import Route, document

PERIOD = ("period", "2026-10 (month), 2026-Q4 (quarter) or 2026 (year); default: latest month")
GROUPING = ("grouping", "then (the tree as it was in the period, default) | today (today's tree)")

ROUTES = [
    Route("GET", "/reporting/api/overview",
          "Tổng quan toàn tỉnh hoặc một cấp (figures of a node, their trend, units under it)",
          query=[("unit", "unit id; default: the top of the tree"), PERIOD, GROUPING]),
    Route("GET", "/reporting/api/units/{unit_id}", "Một đơn vị (the same, for one unit)",
          query=[PERIOD, GROUPING]),
    Route("GET", "/reporting/api/heatmap",
          "Bản đồ nhiệt chi bộ × tháng (units under a node × the months of a year)",
          query=[("unit", "unit id"), ("year", "YYYY"), GROUPING]),
    Route("GET", "/reporting/api/cells/{cell_id}",
          "Một chi bộ: các tháng, cuộc họp, nhiệm vụ, đảng viên (one cell's year)",
          query=[("year", "YYYY")]),
    Route("GET", "/reporting/api/meetings/{meeting_id}",
          "Biên bản một cuộc họp (a meeting's minutes and attendance)"),
    Route("GET", "/reporting/api/members/{member_id}",
          "Hồ sơ một đảng viên (a member's attendance by year)", query=[("year", "YYYY")]),
    Route("GET", "/reporting/api/escalations", "Cảnh báo (escalations by level and age)",
          query=[("state", "open (default) | raised | acknowledged | resolved"),
                 ("level", "1, 2, 3…"), ("rule", "rule name"), ("unit", "unit id")]),
    Route("POST", "/reporting/api/escalations/{escalation_id}/acknowledge",
          "Tiếp nhận cảnh báo (acknowledge; body {\"by\": name})"),
    Route("POST", "/reporting/api/escalations/{escalation_id}/resolve",
          "Giải quyết cảnh báo (resolve; body {\"by\": name, \"how\": text})"),
    Route("GET", "/reporting/cell-months", "Chi bộ theo tháng (every cell for a month)",
          query=[("month", "YYYY-MM")]),
    Route("GET", "/reporting/cells/{cell_id}/tasks", "Nhiệm vụ của chi bộ (a cell's tasks)"),
    Route("GET", "/reporting/api/audit/events",
          "Nhật ký sự kiện (search the event log, newest first, a page at a time)",
          query=[("source", "members | meetings | supervision"), ("stream", "stream id, or a "
                 "prefix ending in *"), ("type", "event type"), ("actor", "who acted (exact)"),
                 ("from", "YYYY-MM-DD"), ("to", "YYYY-MM-DD"), ("limit", "1–1000, default 100"),
                 ("before", "the `next` cursor of a page: the older page after it"),
                 ("after", "the `previous` cursor of a page: the newer page before it"),
                 ("oldest", "1: the oldest page")]),
    Route("GET", "/reporting/api/audit/events/{event_id}",
          "Một sự kiện và chuỗi nguyên nhân (an event and its causation chain)"),
    Route("GET", "/reporting/api/audit/status",
          "Kết quả kiểm tra toàn vẹn (each source's latest tamper check)"),
    Route("POST", "/reporting/api/audit/verify",
          "Kiểm tra toàn vẹn ngay (run the tamper check now)"),
]


_COUNT = {"type": "integer", "minimum": 0}
_SHARE = {"type": "number", "nullable": True, "description": "0–1; null with nothing to divide"}
_LEVELS = ("excellent", "good", "complete", "failed")
RATINGS = {
    "type": "object",
    "description": "Members rated for the year (đánh giá, xếp loại đảng viên), by level; "
                   "each member counts in their cell at the end of the year rated.",
    "properties": {"year": {"type": "integer"}, "rated": _COUNT,
                   "levels": {"type": "object", "properties": dict.fromkeys(_LEVELS, _COUNT)},
                   "shares": {"type": "object", "properties": dict.fromkeys(_LEVELS, _SHARE)}},
}
FIGURES = {
    "type": "object",
    "description": "A node's figures for the period. `tasks_overdue`: tasks due in the "
                   "period whose due date has passed by the service's clock and that are "
                   "neither completed nor cancelled.",
    "properties": {"cells": _COUNT, "met_share": _SHARE, "attendance_rate": _SHARE,
                   "tasks_due": _COUNT, "tasks_completed": _COUNT, "tasks_overdue": _COUNT,
                   "task_completion": _SHARE},
    "additionalProperties": True,
}
CHILD = {
    "type": "object",
    "properties": {
        "unit_id": {"type": "string", "description": "the unit's code"},
        "name": {"type": "string"},
        "former_parent_name": {"type": "string", "nullable": True,
                               "description": "the unit it sat under before it was last "
                                              "moved (tells apart units of one name after "
                                              "a merge)"},
        "tasks_overdue": _COUNT, "ratings_year": {"type": "integer"},
        "members_rated": _COUNT, **{f"rated_{level}": _COUNT for level in _LEVELS}},
    "additionalProperties": True,
}
OVERVIEW = {
    "type": "object",
    "properties": {
        "period": {"type": "string"}, "summary": FIGURES,
        "trend": {"type": "array", "items": FIGURES},
        "ratings": {**RATINGS, "properties": {**RATINGS["properties"], "by_year": {
            "type": "array", "items": RATINGS}}},
        "children": {"type": "array", "items": CHILD}},
    "additionalProperties": True,
}
AUDIT_PAGE = {
    "type": "object",
    "properties": {
        "results": {"type": "array", "items": {"type": "object"}},
        "total": {**_COUNT, "description": "events matching the filters"},
        "offset": {**_COUNT, "description": "how many matching events are newer than this "
                                            "page's first"},
        "limit": _COUNT,
        "next": {"type": "string", "nullable": True,
                 "description": "pass as `before` for the older page; null on the last"},
        "previous": {"type": "string", "nullable": True,
                     "description": "pass as `after` for the newer page; null on the first"}},
}
#: What some answers hold, beyond "an object": path -> schema of the 200 answer.
ANSWERS = {
    "/reporting/api/overview": OVERVIEW,
    "/reporting/api/units/{unit_id}": OVERVIEW,
    "/reporting/api/audit/events": AUDIT_PAGE,
}


def openapi_document() -> dict[str, Any]:
    spec = document("chibo reporting", "1", ROUTES)
    for path, schema in ANSWERS.items():
        spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"][
            "schema"] = schema
    return spec
