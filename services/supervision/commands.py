from marshmallow import Schema, fields, validate

from chibo import inputs
from services.shared.text import Name, new_id

Id = lambda **kw: fields.String(validate=validate.Length(min=1, max=100), **kw)  # noqa: E731


def Ignored() -> fields.Field:  # noqa: N802 - a field, named like the others
    """A name older callers send (`by`, `visitor`): accepted and ignored. The person
    recorded is the verified caller (handlers.signed_in_name), never the body's."""
    return fields.Raw(load_default=None, allow_none=True, metadata={
        "description": "Ignored: the signed-in account's name is recorded."})


class LogVisit(Schema):
    visit_id = Id(load_default=new_id)
    visitor = Ignored()
    cell_id = Id(required=True)
    meeting_id = Id(required=True)
    visited_on = inputs.Date(required=True)
    comments = fields.String(load_default="", validate=validate.Length(max=5000))
    confirm_score = inputs.Boolean(load_default=False)
    changed_scores = fields.Dict(keys=fields.String(), values=inputs.Integer(),
                                 load_default=None, allow_none=True)


class AssignFollower(Schema):
    assignment_id = Id(load_default=new_id)
    follower = Name()
    cell_ids = fields.List(Id(), required=True, validate=validate.Length(min=1))
    from_date = inputs.Date(required=True)
    until_date = inputs.Date(load_default=None, allow_none=True)


class AcknowledgeEscalation(Schema):
    escalation_id = Id(required=True)
    by = Ignored()


class ResolveEscalation(Schema):
    escalation_id = Id(required=True)
    by = Ignored()
    how = fields.String(required=True, validate=validate.Length(min=1, max=1000))
