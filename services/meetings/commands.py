from marshmallow import Schema, fields, validate

from services.common import new_id
from services.meetings.events import ATTENDANCE_STATUSES, MEETING_KINDS


class AttendanceLine(Schema):
    member_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(ATTENDANCE_STATUSES))
    reason = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(max=500))


class RecordMeetingHeld(Schema):
    meeting_id = fields.String(load_default=new_id, validate=validate.Length(min=1, max=100))
    cell_id = fields.String(required=True)
    kind = fields.String(load_default="regular", validate=validate.OneOf(MEETING_KINDS))
    held_on = fields.Date(required=True)
    attendance = fields.List(fields.Nested(AttendanceLine), required=True)
