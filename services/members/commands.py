"""Command schemas: what callers may send, checked field by field."""

from marshmallow import Schema, fields, validate

from services.common import Name, new_id
from services.members.domain import UNIT_KINDS


class EstablishUnit(Schema):
    unit_id = fields.String(load_default=new_id, validate=validate.Length(min=1, max=100))
    name = Name()
    kind = fields.String(required=True, validate=validate.OneOf(UNIT_KINDS))
    parent_id = fields.String(load_default=None, allow_none=True)
    effective_date = fields.Date(required=True)


class AdmitMember(Schema):
    member_id = fields.String(load_default=new_id, validate=validate.Length(min=1, max=100))
    full_name = Name()
    cell_id = fields.String(required=True)
    admitted_on = fields.Date(required=True)
