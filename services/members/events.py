"""Events the members service publishes. Personal data such as birth dates and
identity numbers never go into them: other services consume these."""

from marshmallow import Schema, fields

from chibo.contracts import Catalogue

catalogue = Catalogue()


@catalogue.event("unit_established")
class UnitEstablished(Schema):
    """A node of the organisation tree came into being (a cell, a committee, …)."""

    unit_id = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    parent_id = fields.String(allow_none=True, load_default=None)
    effective_date = fields.Date(required=True)


@catalogue.event("member_admitted")
class MemberAdmitted(Schema):
    """A person was admitted (kết nạp) as a probationary member of a cell.
    Carries the name because meetings list members by name in their minutes."""

    member_id = fields.String(required=True)
    full_name = fields.String(required=True)
    cell_id = fields.String(required=True)
    admitted_on = fields.Date(required=True)
