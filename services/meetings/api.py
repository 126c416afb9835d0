"""The meetings HTTP API as OpenAPI routes."""

from __future__ import annotations

from chibo.openapi import Route, document
from services.meetings import commands

COMMANDS = {
    "schedule_meeting": (commands.ScheduleMeeting, "Lên lịch sinh hoạt (schedule a meeting)"),
    "record_preparation": (commands.RecordPreparation,
                           "Họp chuẩn bị, gửi tài liệu (preparation, materials)"),
    "postpone_meeting": (commands.PostponeMeeting, "Hoãn (postpone, with a reason)"),
    "cancel_meeting": (commands.CancelMeeting, "Hủy (cancel, with a reason)"),
    "record_meeting_held": (commands.RecordMeetingHeld,
                            "Ghi biên bản buổi sinh hoạt (record a meeting held)"),
    "correct_meeting": (commands.CorrectMeeting,
                        "Đính chính biên bản (correct the minutes; nothing is edited)"),
    "adopt_resolution": (commands.AdoptResolution,
                         "Thông qua nghị quyết, giao nhiệm vụ (adopt a resolution, tasks)"),
    "note_task_progress": (commands.NoteProgress, "Ghi tiến độ nhiệm vụ (task progress)"),
    "complete_task": (commands.CompleteTask, "Hoàn thành nhiệm vụ (complete a task)"),
    "cancel_task": (commands.CancelTask, "Hủy nhiệm vụ (cancel a task)"),
}

ROUTES = [
    *(Route("POST", f"/meetings/commands/{name}", summary, body=schema, status=201)
      for name, (schema, summary) in COMMANDS.items()),
    Route("GET", "/meetings/meetings/{meeting_id}", "Buổi sinh hoạt, biên bản (a meeting)"),
    Route("GET", "/meetings/tasks/{task_id}", "Nhiệm vụ (a task)"),
    Route("GET", "/meetings/cells/{cell_id}/open-tasks",
          "Nhiệm vụ chưa xong, để kiểm điểm (open tasks, for review)"),
]


def openapi() -> dict:
    return document("chibo meetings", "1", ROUTES)
