"""Events the meetings service publishes."""

from marshmallow import Schema, fields, validate

from chibo.contracts import Catalogue

catalogue = Catalogue()

ATTENDANCE_STATUSES = ("present", "absent_excused", "absent_unexcused")
#: In a recorded meeting, members excused that day (exempt, away, transferred out).
RECORDED_STATUSES = (*ATTENDANCE_STATUSES, "excused")
MEETING_KINDS = ("regular", "thematic", "combined")


class AttendanceEntry(Schema):
    member_id = fields.String(required=True)
    full_name = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(RECORDED_STATUSES))
    reason = fields.String(load_default=None, allow_none=True)
    counted = fields.Boolean(load_default=True)


@catalogue.event("meeting_held")
class MeetingHeld(Schema):
    """A cell held a meeting; the attendance is the roll as the minutes record it."""

    meeting_id = fields.String(required=True)
    cell_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(MEETING_KINDS))
    held_on = fields.Date(required=True)
    attendance = fields.List(fields.Nested(AttendanceEntry), required=True)
    members_counted = fields.Integer(required=True)
    members_present = fields.Integer(required=True)
