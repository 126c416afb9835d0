"""Command schemas: what callers may send, checked field by field."""

import base64
import binascii
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from chibo import inputs
from services.shared.events.meetings import ATTENDANCE_STATUSES, MATERIAL_TYPES, MEETING_KINDS
from services.shared.text import new_id

Id = lambda **kw: fields.String(validate=validate.Length(min=1, max=100), **kw)  # noqa: E731
Text = lambda n, **kw: fields.String(validate=validate.Length(min=1, max=n), **kw)  # noqa: E731
Clock = lambda: fields.String(load_default=None, allow_none=True,  # noqa: E731
                              validate=validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$",
                                                       error="Expected a time as HH:MM."))


class ScheduleMeeting(Schema):
    meeting_id = Id(load_default=new_id)
    cell_id = Id(required=True)
    kind = fields.String(load_default="regular", validate=validate.OneOf(MEETING_KINDS))
    topic = Text(500, load_default=None, allow_none=True)
    planned_on = inputs.Date(required=True)
    place = Text(300, load_default=None, allow_none=True)


class RecordPreparation(Schema):
    meeting_id = Id(required=True)
    preparation_held_on = inputs.Date(required=True)
    materials_sent_on = inputs.Date(load_default=None, allow_none=True)
    higher_committee_notified = inputs.Boolean(load_default=False)


class PostponeMeeting(Schema):
    meeting_id = Id(required=True)
    planned_on = inputs.Date(required=True)
    reason = Text(1000, required=True)


class CancelMeeting(Schema):
    meeting_id = Id(required=True)
    reason = Text(1000, required=True)


class AttendanceLine(Schema):
    member_id = Id(required=True)
    status = fields.String(required=True, validate=validate.OneOf(ATTENDANCE_STATUSES))
    reason = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(max=500))
    dues_paid = inputs.Boolean(load_default=None, allow_none=True)


class RecordMeetingHeld(Schema):
    meeting_id = Id(load_default=new_id)
    cell_id = Id(required=True)
    kind = fields.String(load_default="regular", validate=validate.OneOf(MEETING_KINDS))
    topic = Text(500, load_default=None, allow_none=True)
    held_on = inputs.Date(required=True)
    place = Text(300, load_default=None, allow_none=True)
    started_at = Clock()
    ended_at = Clock()
    chair_id = Id(load_default=None, allow_none=True)
    minutes_taker_id = Id(load_default=None, allow_none=True)
    dues_collected = inputs.Boolean(load_default=None, allow_none=True)
    agenda = fields.List(Text(500), load_default=list)
    speakers = fields.List(Id(), load_default=list)
    minutes = fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(max=100_000))
    conclusion = fields.String(load_default=None, allow_none=True,
                               validate=validate.Length(max=20_000))
    attendance = fields.List(fields.Nested(AttendanceLine), required=True)
    scores = fields.Dict(keys=fields.String(), values=inputs.Integer(), load_default=None,
                         allow_none=True)
    #: A make-up meeting (sinh hoạt bù) names the month it makes up.
    makes_up_month = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(
        r"^\d{4}-(0[1-9]|1[0-2])$", error="Expected a month as YYYY-MM, e.g. 2026-03."))


class CorrectMeeting(Schema):
    meeting_id = Id(required=True)
    changes = fields.Dict(keys=fields.String(), required=True)
    reason = Text(1000, required=True)


#: More votes than any cell has members: a typo, not a vote.
MAX_VOTES = 10_000


class VoteCount(Schema):
    in_favour = inputs.Integer(0, MAX_VOTES, required=True)
    against = inputs.Integer(0, MAX_VOTES, required=True)
    abstaining = inputs.Integer(0, MAX_VOTES, required=True)


class NewTask(Schema):
    task_id = Id(load_default=None, allow_none=True)
    title = Text(1000, required=True)
    assignee_id = Id(load_default=None, allow_none=True)
    due_on = inputs.Date(required=True)


class AdoptResolution(Schema):
    meeting_id = Id(required=True)
    resolution_id = Id(load_default=new_id)
    title = Text(500, required=True)
    text = fields.String(load_default=None, allow_none=True)
    vote = fields.Nested(VoteCount, required=True)
    tasks = fields.List(fields.Nested(NewTask), load_default=list)


class NoteProgress(Schema):
    task_id = Id(required=True)
    note = Text(5000, required=True)


class CompleteTask(Schema):
    task_id = Id(required=True)
    result = Text(5000, required=True)
    completed_on = inputs.Date(load_default=None, allow_none=True)


class CancelTask(Schema):
    task_id = Id(required=True)
    reason = Text(1000, required=True)


class Base64Bytes(fields.Field):
    """A file's bytes sent as base64 text (so a command carries it over RPC and HTTP
    alike); loaded as the bytes."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bytes:
        if not isinstance(value, str):
            raise ValidationError("Nội dung tệp phải là chuỗi base64 (expected the file's "
                                  "bytes as base64 text).")
        try:
            content = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError("Nội dung tệp không phải base64 hợp lệ (not valid "
                                  "base64).") from None
        if not content:
            raise ValidationError("Tệp rỗng (the file is empty).")
        return content


def _file_name(value: str) -> None:
    if any(c in value for c in "/\\") or not value.isprintable() or value.strip() != value \
            or value in (".", ".."):
        raise ValidationError("Tên tệp không được chứa đường dẫn, ký tự điều khiển hay "
                              "khoảng trắng ở đầu/cuối (a plain file name: no folders, no "
                              "control characters, no leading or trailing spaces).")


class AttachMaterial(Schema):
    meeting_id = Id(required=True)
    file_name = fields.String(required=True,
                              validate=[validate.Length(min=1, max=255), _file_name])
    media_type = fields.String(required=True, validate=validate.OneOf(
        tuple(MATERIAL_TYPES), error="Chỉ nhận PDF, DOCX, PNG hoặc JPEG (expected one of: "
        "{choices})."))
    content = Base64Bytes(required=True)
