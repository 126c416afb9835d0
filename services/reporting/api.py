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
          "Nhật ký sự kiện (search the event log)",
          query=[("source", "members | meetings | supervision"), ("stream", "stream id, or a "
                 "prefix ending in *"), ("type", "event type"), ("actor", "who acted"),
                 ("from", "YYYY-MM-DD"), ("to", "YYYY-MM-DD"), ("limit", "1–1000"),
                 ("before", "cursor from the previous page")]),
    Route("GET", "/reporting/api/audit/events/{event_id}",
          "Một sự kiện và chuỗi nguyên nhân (an event and its causation chain)"),
    Route("GET", "/reporting/api/audit/status",
          "Kết quả kiểm tra toàn vẹn (each source's latest tamper check)"),
    Route("POST", "/reporting/api/audit/verify",
          "Kiểm tra toàn vẹn ngay (run the tamper check now)"),
]


def openapi_document() -> dict[str, Any]:
    return document("chibo reporting", "1", ROUTES)
