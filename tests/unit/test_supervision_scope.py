"""Where supervision places what its calls name, for the access check: from its own
replica of the tree and its own indexes, as the tree stands on the day asked."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import insert

from chibo.db import create_schema, make_engine, session_factory
from chibo.nameko.access import declared_access, undeclared_entrypoints
from services.shared.access_roles import (
    HANDLE_ESCALATIONS,
    MANAGE_ORGANISATION,
    OPERATE,
    SUPERVISE,
    VIEW_REPORTS,
)
from services.supervision import handlers, read_model, replica, scope
from services.supervision.entrypoints import SupervisionService

BEFORE = date(2025, 6, 1)
AFTER = date(2025, 9, 1)

#: Province p; districts a and b; cells a1, a2 under a and b1 under b. On 2025-07-01
#: cell a2 merges into b1's district: dissolved into b1.
EVENTS = [
    ("unit_established", {"unit_id": "p", "name": "Tỉnh ủy", "kind": "province",
                          "parent_id": None, "effective_date": "2020-01-01"}),
    ("unit_established", {"unit_id": "a", "name": "Huyện ủy A", "kind": "committee",
                          "parent_id": "p", "effective_date": "2020-01-01"}),
    ("unit_established", {"unit_id": "b", "name": "Huyện ủy B", "kind": "committee",
                          "parent_id": "p", "effective_date": "2020-01-01"}),
    ("unit_established", {"unit_id": "a1", "name": "Chi bộ A1", "kind": "cell",
                          "parent_id": "a", "effective_date": "2020-01-01"}),
    ("unit_established", {"unit_id": "a2", "name": "Chi bộ A2", "kind": "cell",
                          "parent_id": "a", "effective_date": "2020-01-01"}),
    ("unit_established", {"unit_id": "b1", "name": "Chi bộ B1", "kind": "cell",
                          "parent_id": "b", "effective_date": "2020-01-01"}),
    ("unit_dissolved", {"unit_id": "a2", "successor_id": "b1", "effective_date": "2025-07-01"}),
]


@pytest.fixture
def session():
    engine = make_engine("sqlite://")
    create_schema(engine, replica.metadata, read_model.metadata)
    factory = session_factory(engine)
    with factory() as s, s.begin():
        s.execute(insert(replica.unit_events), [
            {"position": n, "type": kind, "data": json.dumps(data)}
            for n, (kind, data) in enumerate(EVENTS, start=1)])
        s.execute(insert(replica.held).values(
            meeting_id="m-a1", cell_id="a1", kind="regular", held_on=date(2025, 3, 5),
            level="good", event_id="ev-1", position=1))
        s.execute(insert(read_model.visits).values(
            visit_id="v-a1", cell_id="a1", visitor="Lê Văn Hùng", visited_on=date(2025, 3, 5),
            meeting_id="m-a1", confirmed_level=None, position=1))
        for escalation_id, cell, target in (("e-a2", "a2", "a"), ("e-b1", "b1", "b")):
            s.execute(insert(read_model.escalations).values(
                escalation_id=escalation_id, rule="missed_regular_meeting", level=1,
                raised_level=1, target_unit_id=target, target_name=target, subject_id=cell,
                subject_name=cell, cell_id=cell, period="2025-03", reason="",
                state="raised", raised_on=date(2025, 4, 6), level_since=date(2025, 4, 6)))
    with factory() as s:
        yield s
    engine.dispose()


def test_units_cells_meetings_and_visits_are_placed_by_their_cell(session):
    assert scope.locate(session, "unit", "a", BEFORE) == ["p", "a"]
    assert scope.locate(session, "cell", "a1", BEFORE) == ["p", "a", "a1"]
    assert scope.locate(session, "meeting", "m-a1", BEFORE) == ["p", "a", "a1"]
    assert scope.locate(session, "visit", "v-a1", BEFORE) == ["p", "a", "a1"]


def test_no_id_is_the_whole_tree_and_an_unknown_one_is_nowhere(session):
    assert scope.locate(session, "unit", None, BEFORE) == ["p"]
    for kind in ("unit", "cell", "meeting", "visit", "escalation"):
        assert scope.locate(session, kind, "nowhere", BEFORE) is None
    assert scope.locate(session, "member", "dv-1", BEFORE) is None


def test_an_escalation_follows_its_cell_through_a_merger(session):
    assert scope.locate(session, "escalation", "e-a2", BEFORE) == ["p", "a", "a2"]
    # a2 was dissolved into b1: its escalation is district b's to handle now.
    assert scope.locate(session, "escalation", "e-a2", AFTER) == ["p", "b", "b1"]
    assert scope.locate(session, "escalation", "e-b1", AFTER) == ["p", "b", "b1"]


def test_the_tree_is_rebuilt_when_the_replica_takes_in_a_unit_event(session):
    assert scope.locate(session, "cell", "b2", BEFORE) is None
    session.execute(insert(replica.unit_events).values(
        position=len(EVENTS) + 1, type="unit_established", data=json.dumps({
            "unit_id": "b2", "name": "Chi bộ B2", "kind": "cell", "parent_id": "b",
            "effective_date": "2020-01-01"})))
    assert scope.locate(session, "cell", "b2", BEFORE) == ["p", "b", "b2"]


def test_within_a_subtree(session):
    tree = scope.current_tree(session)
    inside_b = scope.within(tree, "b", AFTER)
    assert [u for u in ("a1", "a2", "b1", "b", "a") if inside_b(u)] == ["a2", "b1", "b"]


def test_every_entrypoint_and_command_declares_its_rule():
    assert undeclared_entrypoints(SupervisionService) == []
    rules = {h.name: (h.access.permission, h.access.scope and
                      (h.access.scope.field, h.access.scope.kind)) for h in handlers.registry}
    assert rules == {
        "log_visit": (SUPERVISE, ("cell_id", "cell")),
        "assign_follower": (MANAGE_ORGANISATION, None),
        "acknowledge_escalation": (HANDLE_ESCALATIONS, ("escalation_id", "escalation")),
        "resolve_escalation": (HANDLE_ESCALATIONS, ("escalation_id", "escalation"))}
    for name in ("close_periods", "deliver_notifications"):
        assert declared_access(getattr(SupervisionService, name)).permission == OPERATE
    for name in ("escalations", "coverage", "annual_quality", "escalations_http",
                 "coverage_http", "annual_quality_http"):
        assert declared_access(getattr(SupervisionService, name)).permission == VIEW_REPORTS
