"""Events the meetings service publishes.

A recorded meeting is never edited: `meeting_corrected` references the event it
corrects and carries the corrected fields.
"""

from typing import Any

from marshmallow import Schema, fields, validate

from chibo.contracts import Catalogue

catalogue = Catalogue()

ATTENDANCE_STATUSES = ("present", "absent_excused", "absent_unexcused")
#: In a recorded meeting, members excused that day (exempt, away, transferred out).
RECORDED_STATUSES = (*ATTENDANCE_STATUSES, "excused")
MEETING_KINDS = ("regular", "thematic", "combined")
#: Shortest proper meeting, in minutes (Party Charter guidance): shorter ones are flagged.
MINIMUM_MINUTES = {"regular": 90, "thematic": 90, "combined": 120}
QUALITY_LEVELS = ("good", "fair", "average", "poor")
#: How many months back a make-up meeting may reach: one held in June makes up March,
#: April or May at the earliest.
MAKE_UP_MONTHS_BACK = 3


class AttendanceEntry(Schema):
    member_id = fields.String(required=True)
    full_name = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(RECORDED_STATUSES))
    reason = fields.String(load_default=None, allow_none=True)
    counted = fields.Boolean(load_default=True)
    dues_paid = fields.Boolean(load_default=None, allow_none=True)


class SelfScore(Schema):
    sheet_version = fields.Integer(required=True)
    points = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    total = fields.Integer(required=True)
    level = fields.String(required=True, validate=validate.OneOf(QUALITY_LEVELS))


@catalogue.event("meeting_scheduled")
class MeetingScheduled(Schema):
    meeting_id = fields.String(required=True)
    cell_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(MEETING_KINDS))
    topic = fields.String(allow_none=True, load_default=None)
    planned_on = fields.Date(required=True)
    place = fields.String(allow_none=True, load_default=None)


@catalogue.event("meeting_prepared")
class MeetingPrepared(Schema):
    """The secretary / cell committee met to prepare; materials went out."""

    meeting_id = fields.String(required=True)
    preparation_held_on = fields.Date(required=True)
    materials_sent_on = fields.Date(allow_none=True, load_default=None)
    higher_committee_notified = fields.Boolean(load_default=False)


@catalogue.event("meeting_postponed")
class MeetingPostponed(Schema):
    meeting_id = fields.String(required=True)
    planned_on = fields.Date(required=True)
    reason = fields.String(required=True)


@catalogue.event("meeting_cancelled")
class MeetingCancelled(Schema):
    meeting_id = fields.String(required=True)
    reason = fields.String(required=True)


@catalogue.event("meeting_held")
class MeetingHeldV1(Schema):
    """A cell held a meeting; the minutes as recorded (sổ biên bản). As first logged,
    before make-up meetings."""

    meeting_id = fields.String(required=True)
    cell_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(MEETING_KINDS))
    topic = fields.String(allow_none=True, load_default=None)
    held_on = fields.Date(required=True)
    place = fields.String(allow_none=True, load_default=None)
    started_at = fields.String(allow_none=True, load_default=None)
    ended_at = fields.String(allow_none=True, load_default=None)
    duration_minutes = fields.Integer(allow_none=True, load_default=None)
    chair_id = fields.String(allow_none=True, load_default=None)
    minutes_taker_id = fields.String(allow_none=True, load_default=None)
    dues_collected = fields.Boolean(allow_none=True, load_default=None)
    agenda = fields.List(fields.String(), load_default=list)
    speakers = fields.List(fields.String(), load_default=list)
    minutes = fields.String(allow_none=True, load_default=None)
    conclusion = fields.String(allow_none=True, load_default=None)
    attendance = fields.List(fields.Nested(AttendanceEntry), required=True)
    members_counted = fields.Integer(required=True)
    members_present = fields.Integer(required=True)
    tasks_reviewed = fields.List(fields.String(), load_default=list)
    self_score = fields.Nested(SelfScore, allow_none=True, load_default=None)
    #: "extra_regular_meeting" (a second regular meeting that month), "short_meeting"
    flags = fields.List(fields.String(), load_default=list)


def _held_v2(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "makes_up_month": None}  # before make-ups, every meeting was its month's


@catalogue.event("meeting_held", version=2, upcast_from_previous=_held_v2)
class MeetingHeld(MeetingHeldV1):
    """A cell held a meeting; the minutes as recorded (sổ biên bản). A make-up meeting
    (sinh hoạt bù) names the earlier month it makes up (`makes_up_month`, "YYYY-MM"):
    it counts for that month, and not for the month it was held in."""

    makes_up_month = fields.String(allow_none=True, load_default=None,
                                   validate=validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$"))


@catalogue.event("meeting_corrected")
class MeetingCorrected(Schema):
    meeting_id = fields.String(required=True)
    corrects_event_id = fields.String(required=True)
    changes = fields.Dict(keys=fields.String(), required=True)
    reason = fields.String(required=True)


class Vote(Schema):
    eligible = fields.Integer(required=True)
    in_favour = fields.Integer(required=True)
    against = fields.Integer(required=True)
    abstaining = fields.Integer(required=True)


@catalogue.event("resolution_adopted")
class ResolutionAdopted(Schema):
    meeting_id = fields.String(required=True)
    resolution_id = fields.String(required=True)
    cell_id = fields.String(required=True)
    title = fields.String(required=True)
    text = fields.String(allow_none=True, load_default=None)
    vote = fields.Nested(Vote, required=True)
    task_ids = fields.List(fields.String(), load_default=list)


@catalogue.event("task_assigned")
class TaskAssigned(Schema):
    """Assigned to a named member, or to the cell committee when `assignee_id` is null."""

    task_id = fields.String(required=True)
    cell_id = fields.String(required=True)
    meeting_id = fields.String(required=True)
    resolution_id = fields.String(required=True)
    title = fields.String(required=True)
    assignee_id = fields.String(allow_none=True, load_default=None)
    assignee_name = fields.String(required=True)
    due_on = fields.Date(required=True)


@catalogue.event("task_progress_noted")
class TaskProgressNoted(Schema):
    task_id = fields.String(required=True)
    note = fields.String(required=True)
    noted_on = fields.Date(required=True)


@catalogue.event("task_completed")
class TaskCompleted(Schema):
    task_id = fields.String(required=True)
    result = fields.String(required=True)
    completed_on = fields.Date(required=True)


@catalogue.event("task_overdue")
class TaskOverdue(Schema):
    """Decided by the clock: the due date passed with the task still open."""

    task_id = fields.String(required=True)
    due_on = fields.Date(required=True)
    noticed_on = fields.Date(required=True)


@catalogue.event("task_cancelled")
class TaskCancelled(Schema):
    task_id = fields.String(required=True)
    reason = fields.String(required=True)
    cancelled_on = fields.Date(required=True)


#: The kinds of document a meeting's materials may be: what the bytes must look like
#: (their first bytes, or a DOCX's parts), checked by the meetings service.
MATERIAL_TYPES = {
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "image/png": ".png",
    "image/jpeg": ".jpg",
}


@catalogue.event("material_attached")
class MaterialAttached(Schema):
    """A document sent before the meeting (tài liệu sinh hoạt), kept by the meetings
    service in its file store under `sha256`: the log records what was kept, never the
    bytes."""

    meeting_id = fields.String(required=True)
    cell_id = fields.String(required=True)
    file_name = fields.String(required=True)
    media_type = fields.String(required=True, validate=validate.OneOf(tuple(MATERIAL_TYPES)))
    size = fields.Integer(required=True)
    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
