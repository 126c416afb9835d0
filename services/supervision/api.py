"""The supervision HTTP API as OpenAPI routes."""

from __future__ import annotations

from chibo.openapi import Route, document
from services.supervision import commands

COMMANDS = {
    "log_visit": (commands.LogVisit,
                  "Dự sinh hoạt chi bộ, xác nhận/điều chỉnh điểm (log a visit, confirm the score)"),
    "assign_follower": (commands.AssignFollower,
                        "Phân công theo dõi chi bộ (assign a follower to cells)"),
    "acknowledge_escalation": (commands.AcknowledgeEscalation,
                               "Tiếp nhận cảnh báo (acknowledge an escalation)"),
    "resolve_escalation": (commands.ResolveEscalation,
                           "Xử lý xong cảnh báo (resolve an escalation)"),
}

ROUTES = [
    *(Route("POST", f"/supervision/commands/{name}", summary, body=schema, status=201)
      for name, (schema, summary) in COMMANDS.items()),
    Route("GET", "/supervision/escalations", "Cảnh báo (escalations)",
          query=[("state", "open | raised | acknowledged | resolved"),
                 ("target", "the committee's unit id")]),
    Route("GET", "/supervision/coverage", "Tỷ lệ chi bộ được dự sinh hoạt (visit coverage)",
          query=[("quarter", "YYYY-Qn")]),
    Route("GET", "/supervision/cells/{cell_id}/quality/{year}",
          "Chất lượng sinh hoạt cả năm (a cell's annual quality)"),
]


def openapi() -> dict:
    return document("chibo supervision", "1", ROUTES)
