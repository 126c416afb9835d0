"""Events the supervision service publishes."""

from marshmallow import Schema, fields

from chibo.contracts import Catalogue

catalogue = Catalogue()


@catalogue.event("visit_logged")
class VisitLogged(Schema):
    """A higher-level committee member attended a cell's meeting."""

    visit_id = fields.String(required=True)
    visitor = fields.String(required=True)
    cell_id = fields.String(required=True)
    meeting_id = fields.String(required=True)
    visited_on = fields.Date(required=True)
    comments = fields.String(load_default="")
