"""Events the supervision service publishes."""

from marshmallow import Schema, fields, validate

from chibo.contracts import Catalogue

catalogue = Catalogue()

RULES = ("missed_regular_meeting", "no_thematic_meeting", "not_visited", "task_overdue",
         "removal_candidate")


@catalogue.event("follower_assigned")
class FollowerAssigned(Schema):
    """A higher-level committee member follows these cells for the period."""

    assignment_id = fields.String(required=True)
    follower = fields.String(required=True)
    cell_ids = fields.List(fields.String(), required=True)
    from_date = fields.Date(required=True)
    until_date = fields.Date(allow_none=True, load_default=None)


@catalogue.event("visit_logged")
class VisitLogged(Schema):
    """A higher-level committee member attended a cell's meeting, confirming or
    changing the quality level the cell gave itself."""

    visit_id = fields.String(required=True)
    visitor = fields.String(required=True)
    cell_id = fields.String(required=True)
    meeting_id = fields.String(required=True)
    visited_on = fields.Date(required=True)
    comments = fields.String(load_default="")
    self_level = fields.String(allow_none=True, load_default=None)
    confirmed_level = fields.String(allow_none=True, load_default=None)
    changed_points = fields.Dict(keys=fields.String(), values=fields.Integer(),
                                 allow_none=True, load_default=None)


@catalogue.event("period_closed")
class PeriodClosed(Schema):
    """The clock closed a day, a month or a quarter. `watermarks` are the source
    positions the decisions taken at this close rest on."""

    period = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(("day", "month", "quarter")))
    closed_on = fields.Date(required=True)
    watermarks = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


@catalogue.event("escalation_raised")
class EscalationRaised(Schema):
    escalation_id = fields.String(required=True)
    rule = fields.String(required=True, validate=validate.OneOf(RULES))
    level = fields.Integer(required=True)
    target_unit_id = fields.String(required=True)
    target_name = fields.String(required=True)
    subject_id = fields.String(required=True)
    subject_name = fields.String(required=True)
    cell_id = fields.String(required=True)
    period = fields.String(required=True)
    reason = fields.String(required=True)
    evidence = fields.List(fields.String(), load_default=list)
    raised_on = fields.Date(required=True)
    closed_period = fields.String(required=True)


@catalogue.event("escalation_acknowledged")
class EscalationAcknowledged(Schema):
    escalation_id = fields.String(required=True)
    by = fields.String(required=True)
    on = fields.Date(required=True)


@catalogue.event("escalation_reescalated")
class EscalationReescalated(Schema):
    escalation_id = fields.String(required=True)
    level = fields.Integer(required=True)
    target_unit_id = fields.String(required=True)
    target_name = fields.String(required=True)
    on = fields.Date(required=True)
    reason = fields.String(required=True)


@catalogue.event("escalation_resolved")
class EscalationResolved(Schema):
    escalation_id = fields.String(required=True)
    how = fields.String(required=True)
    by = fields.String(allow_none=True, load_default=None)
    on = fields.Date(required=True)
    evidence = fields.List(fields.String(), load_default=list)
