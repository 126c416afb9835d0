"""Supervision's command handlers through the kernel's pipeline on an in-memory SQLite
store, without nameko: what each asks of other services (given as plain callables in
`Deps`) happens before its transaction, and a refusal writes nothing."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from chibo.access import Grant, Identity, Unauthenticated
from chibo.commands import Pipeline
from chibo.db import create_schema, make_engine, session_factory
from chibo.errors import DomainRuleViolated, ValidationFailed
from chibo.eventstore.store import NewEvent, StreamAppend
from chibo.eventstore.tables import events
from services.shared.events.supervision import catalogue
from services.shared.score_sheet import default_sheets
from services.shared.tree import default_kinds
from services.supervision import domain, handlers, read_model, replica
from tests.support import TODAY, SessionRuntime

VISITOR = "Đồng chí Lê Văn Hùng"
#: Who gives the commands: a supervisor of the commune, signed in.
SIGNED_IN = Identity("tk-hung", VISITOR, (Grant("supervisor", "x"),))
HELD = {"meeting_id": "c1-03", "cell_id": "c1", "held_on": "2026-03-05", "status": "held",
        "self_score": {"level": "good"}}
UNITS = [("p", "Tỉnh ủy", "province", None), ("x", "Đảng ủy xã Sơn Thủy", "committee", "p"),
         ("c1", "Chi bộ Bản Máy", "cell", "x")]




def runtime(factory: Any, command_id: str | None = None,
            actor: str = "cán bộ Hà") -> SessionRuntime:
    return SessionRuntime(factory, catalogue, command_id, actor)


@pytest.fixture
def factory():
    engine = make_engine("sqlite://")
    create_schema(engine, replica.metadata, read_model.metadata)
    yield session_factory(engine)
    engine.dispose()


def deps(factory: Any, asked: list[str], meetings: dict[str, dict[str, Any]] | None = None,
         identity: Identity | None = SIGNED_IN) -> handlers.Deps:
    """Deps whose meeting lookup answers from `meetings` and whose members sync brings
    the province's units into the replica (once), each noting in `asked` that it was
    called."""
    def meeting(meeting_id: str) -> dict[str, Any] | None:
        asked.append(f"meeting {meeting_id}")
        return (meetings or {}).get(meeting_id)

    def sync_members() -> None:
        asked.append("sync members")
        with factory() as session, session.begin():
            if session.execute(select(func.count()).select_from(replica.unit_events)).scalar():
                return  # up to date already
            session.execute(insert(replica.unit_events), [
                {"position": n, "type": "unit_established", "data": json.dumps({
                    "unit_id": u, "name": name, "kind": kind, "parent_id": parent,
                    "effective_date": "2020-01-01"})}
                for n, (u, name, kind, parent) in enumerate(UNITS, start=1)])

    return handlers.Deps(today=TODAY, kinds=default_kinds(), sheets=default_sheets(),
                         meeting=meeting, sync_members=sync_members, identity=identity)


def run(factory: Any, name: str, payload: dict[str, Any], given: handlers.Deps
        ) -> dict[str, Any]:
    pipeline = Pipeline(handlers.registry, index=read_model.index)
    return pipeline.run(name, payload, given, runtime(factory))


def read(factory: Any, query: Any, *args: Any) -> Any:
    """`query(session, *args)` in a session of its own, closed before the next command."""
    with factory() as session:
        return query(session, *args)


def count(factory: Any, table: Any) -> int:
    with factory() as session:
        return session.execute(select(func.count()).select_from(table)).scalar_one()


def test_the_commands_are_the_services_four():
    assert [(h.name, h.answer, h.status, h.http) for h in handlers.registry] == [
        ("log_visit", ("visit_id",), 201, True),
        ("assign_follower", ("assignment_id",), 201, True),
        ("acknowledge_escalation", ("escalation_id",), 201, True),
        ("resolve_escalation", ("escalation_id",), 201, True)]


def test_a_visit_asks_meetings_for_the_meeting_then_logs_and_indexes_it(factory):
    asked: list[str] = []
    answer = run(factory, "log_visit", {
        "visit_id": "v1", "cell_id": "c1", "meeting_id": "c1-03",
        "visited_on": "2026-03-05", "confirm_score": True}, deps(factory, asked, {"c1-03": HELD}))
    assert asked == ["meeting c1-03"]
    assert answer["visit_id"] == "v1" and len(answer["events"]) == 1
    assert read(factory, read_model.confirmed_levels, "c1") == {"c1-03": "good"}


def logged(factory: Any, event_type: str) -> list[dict[str, Any]]:
    with factory() as session:
        return [json.loads(data) for data in session.execute(
            select(events.c.data).where(events.c.type == event_type)
            .order_by(events.c.position)).scalars()]


def test_the_visitor_is_the_signed_in_caller_whatever_the_body_says(factory):
    answer = run(factory, "log_visit", {
        "visit_id": "v1", "visitor": "Chánh thanh tra (forged)", "cell_id": "c1",
        "meeting_id": "c1-03", "visited_on": "2026-03-05", "confirm_score": True},
        deps(factory, [], {"c1-03": HELD}))
    assert answer["visitor"] == VISITOR
    assert [e["visitor"] for e in logged(factory, "visit_logged")] == [VISITOR]
    with factory() as session:
        assert session.execute(select(read_model.visits.c.visitor)).scalars().all() == [VISITOR]


def raised(factory: Any, escalation_id: str) -> None:
    """An escalation of cell c1 to the commune, in the log and the index, as a close
    raises it."""
    data = {"escalation_id": escalation_id, "rule": "missed_regular_meeting", "level": 1,
            "target_unit_id": "x", "target_name": "Đảng ủy xã Sơn Thủy", "subject_id": "c1",
            "subject_name": "Chi bộ Bản Máy", "cell_id": "c1", "period": "2026-02",
            "raised_on": "2026-03-06", "closed_period": "2026-03-05",
            "details": {"months_in_a_row": 1}}
    with runtime(factory).unit_of_work() as store:
        recorded = store.append_many([StreamAppend(domain.escalation_stream(escalation_id), 0,
                                                   [NewEvent("escalation_raised", data)])])
        read_model.index(store.session, recorded)


def test_acknowledging_and_resolving_record_the_signed_in_caller(factory):
    raised(factory, "e1")
    forged = "Chánh thanh tra (forged)"
    acknowledged = run(factory, "acknowledge_escalation",
                       {"escalation_id": "e1", "by": forged}, deps(factory, []))
    resolved = run(factory, "resolve_escalation",
                   {"escalation_id": "e1", "by": forged, "how": "Đã họp bù"}, deps(factory, []))
    assert acknowledged["by"] == resolved["by"] == VISITOR
    assert [e["by"] for e in logged(factory, "escalation_acknowledged")] == [VISITOR]
    assert [(e["by"], e["how"]) for e in logged(factory, "escalation_resolved")] == [
        (VISITOR, "Đã họp bù")]
    (row,) = read(factory, read_model.escalation_list, None, None)
    assert (row["state"], row["acknowledged_by"]) == ("resolved", VISITOR)


def test_without_a_signed_in_caller_nothing_is_recorded(factory):
    raised(factory, "e1")
    with pytest.raises(Unauthenticated):
        run(factory, "resolve_escalation", {"escalation_id": "e1", "how": "Đã họp bù"},
            deps(factory, [], identity=None))
    assert logged(factory, "escalation_resolved") == []


def test_changed_scores_are_scored_on_the_sheet_of_the_visits_day(factory):
    run(factory, "log_visit", {
        "visit_id": "v1", "visitor": VISITOR, "cell_id": "c1", "meeting_id": "c1-03",
        "visited_on": "2026-03-05",
        "changed_scores": {"preparation": 10, "attendance": 15, "conduct": 30, "closing": 10}},
        deps(factory, [], {"c1-03": HELD}))
    assert read(factory, read_model.confirmed_levels, "c1") == {"c1-03": "average"}


def test_a_visit_to_a_meeting_meetings_has_no_record_of_writes_nothing(factory):
    with pytest.raises(DomainRuleViolated, match="not held"):
        run(factory, "log_visit", {
            "visitor": VISITOR, "cell_id": "c1", "meeting_id": "c1-04",
            "visited_on": "2026-04-05"}, deps(factory, []))
    assert count(factory, events) == 0 and count(factory, read_model.visits) == 0


def test_assigning_a_follower_syncs_members_first_and_takes_only_cells(factory):
    asked: list[str] = []
    answer = run(factory, "assign_follower", {
        "assignment_id": "a1", "follower": VISITOR, "cell_ids": ["c1"],
        "from_date": "2026-01-01"}, deps(factory, asked))
    assert asked == ["sync members"] and answer["assignment_id"] == "a1"
    assert read(factory, read_model.follower_assignments) == [
        (VISITOR, "c1", date(2026, 1, 1), None)]
    with pytest.raises(ValidationFailed, match="Not cells: x, c9"):
        run(factory, "assign_follower", {
            "assignment_id": "a2", "follower": VISITOR, "cell_ids": ["c1", "x", "c9"],
            "from_date": "2026-01-01"}, deps(factory, []))
    assert count(factory, read_model.followers) == 1
