"""The members HTTP API as OpenAPI routes: one POST per registered command (see
handlers.py), the roster import, and the queries."""

from __future__ import annotations

from chibo.commands import command_routes
from chibo.openapi import Route, document
from services.members import commands, handlers

ON = ("on", "ngày (date) YYYY-MM-DD; default today")

ROUTES = [
    *command_routes("members", handlers.registry),
    Route("POST", "/members/import-batches", "Nhập danh sách (import roster rows)",
          body=commands.ImportBatch),
    Route("GET", "/members/tree", "Cây tổ chức tại một ngày (the tree as of a date)",
          query=[ON]),
    Route("GET", "/members/units/{unit_id}",
          "Tổ chức: đường dẫn hôm nay và tại ngày, chi bộ trực thuộc (path, cells covered)",
          query=[ON]),
    Route("GET", "/members/cells/{cell_id}/roll",
          "Ai phải dự, ai được miễn và lý do (who must attend; who is excused and why)",
          query=[ON]),
    Route("GET", "/members/cells/{cell_id}/roles",
          "Chức danh chi bộ, cảnh báo thiếu chi ủy (roles; committee flag)", query=[ON]),
    Route("GET", "/members/members/{member_id}", "Đảng viên (a member's record)"),
]


def openapi() -> dict:
    return document("chibo members", "1", ROUTES)
