"""The supervision HTTP API as OpenAPI routes: one POST per registered command (see
handlers.py), and the queries."""

from __future__ import annotations

from chibo.commands import command_routes
from chibo.openapi import Route, document
from services.supervision import handlers

ROUTES = [
    *command_routes("supervision", handlers.registry),
    Route("GET", "/supervision/escalations", "Cảnh báo (escalations)",
          query=[("state", "open | raised | acknowledged | resolved"),
                 ("target", "the committee's unit id"),
                 ("unit", "the cells in this unit's subtree today (none: the whole tree)")]),
    Route("GET", "/supervision/coverage", "Tỷ lệ chi bộ được dự sinh hoạt (visit coverage)",
          query=[("quarter", "YYYY-Qn"),
                 ("unit", "the committees and cells of this unit's subtree today")]),
    Route("GET", "/supervision/cells/{cell_id}/quality/{year}",
          "Chất lượng sinh hoạt cả năm (a cell's annual quality)"),
]


def openapi() -> dict:
    return document("chibo supervision", "1", ROUTES)
