from marshmallow import Schema, fields, validate

from services.common import Name, new_id


class LogVisit(Schema):
    visit_id = fields.String(load_default=new_id, validate=validate.Length(min=1, max=100))
    visitor = Name()
    cell_id = fields.String(required=True)
    meeting_id = fields.String(required=True)
    visited_on = fields.Date(required=True)
    comments = fields.String(load_default="", validate=validate.Length(max=5000))
