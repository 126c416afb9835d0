"""The meetings HTTP API as OpenAPI routes: one POST per registered command (see
handlers.py), and the queries."""

from __future__ import annotations

from chibo.commands import command_routes
from chibo.openapi import Route, document
from services.meetings import handlers

ROUTES = [
    *command_routes("meetings", handlers.registry),
    Route("GET", "/meetings/meetings/{meeting_id}", "Buổi sinh hoạt, biên bản (a meeting)"),
    Route("GET", "/meetings/meetings/{meeting_id}/materials/{sha256}",
          "Tài liệu sinh hoạt: tên, loại, cỡ, nội dung base64 (a meeting's material)"),
    Route("GET", "/meetings/tasks/{task_id}", "Nhiệm vụ (a task)"),
    Route("GET", "/meetings/cells/{cell_id}/open-tasks",
          "Nhiệm vụ chưa xong, để kiểm điểm (open tasks, for review)"),
]


def openapi() -> dict:
    return document("chibo meetings", "1", ROUTES)
