"""Events the supervision service publishes.

Escalations carry structured facts (`details`), never prose: how one reads, in
either language, is `services.shared.escalation_rules`' business. Version 1
of `escalation_raised` and `escalation_reescalated` carried a mixed-language
`reason` text; their upcasters recover the facts from it.
"""

import re
from typing import Any

from marshmallow import Schema, fields, validate

from chibo.contracts import Catalogue
from services.shared.escalation_rules import Rule, details_from_legacy

catalogue = Catalogue()

RULES = tuple(rule.value for rule in Rule)


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


class _Escalation(Schema):
    """What every version of `escalation_raised` carries."""

    escalation_id = fields.String(required=True)
    rule = fields.String(required=True, validate=validate.OneOf(RULES))
    level = fields.Integer(required=True)
    target_unit_id = fields.String(required=True)
    target_name = fields.String(required=True)
    subject_id = fields.String(required=True)
    subject_name = fields.String(required=True)
    cell_id = fields.String(required=True)
    period = fields.String(required=True)
    evidence = fields.List(fields.String(), load_default=list)
    raised_on = fields.Date(required=True)
    closed_period = fields.String(required=True)


@catalogue.event("escalation_raised")
class EscalationRaisedV1(_Escalation):
    """As first logged: with a mixed-language prose `reason` instead of facts."""

    reason = fields.String(required=True)


def _raised_v2(data: dict[str, Any]) -> dict[str, Any]:
    reason = data.pop("reason", "")
    return {**data, "details": details_from_legacy({**data, "reason": reason})}


@catalogue.event("escalation_raised", version=2, upcast_from_previous=_raised_v2)
class EscalationRaised(_Escalation):
    """A rule found something wrong at a period close. `details` are the facts the
    reason is read from: `months_in_a_row` (missed_regular_meeting), `due_on` and
    `days_overdue` (task_overdue), `months` and `window_months` (removal_candidate)."""

    details = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True),
                          load_default=dict)


@catalogue.event("escalation_acknowledged")
class EscalationAcknowledged(Schema):
    escalation_id = fields.String(required=True)
    by = fields.String(required=True)
    on = fields.Date(required=True)


class _Reescalation(Schema):
    escalation_id = fields.String(required=True)
    level = fields.Integer(required=True)
    target_unit_id = fields.String(required=True)
    target_name = fields.String(required=True)
    on = fields.Date(required=True)


@catalogue.event("escalation_reescalated")
class EscalationReescalatedV1(_Reescalation):
    """As first logged: with a prose `reason`."""

    reason = fields.String(required=True)


def _reescalated_v2(data: dict[str, Any]) -> dict[str, Any]:
    found = re.search(r"(\d+) ngày", str(data.pop("reason", "")))
    return {**data, "unacknowledged_days": int(found[1]) if found else None}


@catalogue.event("escalation_reescalated", version=2, upcast_from_previous=_reescalated_v2)
class EscalationReescalated(_Reescalation):
    """Left unacknowledged for `unacknowledged_days`: moved one level up."""

    unacknowledged_days = fields.Integer(allow_none=True, load_default=None)


@catalogue.event("escalation_resolved")
class EscalationResolved(Schema):
    escalation_id = fields.String(required=True)
    how = fields.String(required=True)
    by = fields.String(allow_none=True, load_default=None)
    on = fields.Date(required=True)
    evidence = fields.List(fields.String(), load_default=list)
