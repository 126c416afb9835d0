"""Where meetings places a unit, cell, meeting or task in the tree (`locate`, for the scope
of a caller's grants), from its own replica of members' events and its own log, as the
tree stands on the day asked."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from chibo.db import create_schema, make_engine, session_factory
from chibo.eventstore.store import EventStore, NewEvent
from services.meetings import read_model, replica
from services.meetings.entrypoints import locate
from services.shared.events.meetings import catalogue

JUNE = date(2026, 6, 17)


@pytest.fixture
def session() -> Iterator[Any]:
    engine = make_engine("sqlite://")
    create_schema(engine, replica.metadata, read_model.metadata)
    with session_factory(engine)() as session, session.begin():
        yield session
    engine.dispose()


def feed(session: Any, *events: tuple[str, dict[str, Any]]) -> None:
    for position, (kind, data) in enumerate(events, start=1):
        replica.apply_member_event(session, {"source": "members", "position": position,
                                             "type": kind, "data": data})


def unit(unit_id: str, kind: str, parent_id: str | None, on: str = "2022-01-01"
         ) -> tuple[str, dict[str, Any]]:
    return ("unit_established", {"unit_id": unit_id, "name": f"Đơn vị {unit_id}",
                                 "kind": kind, "parent_id": parent_id, "effective_date": on})


TREE = (unit("P", "province", None), unit("X", "committee", "P"),
        unit("Y", "committee", "P"), unit("A", "cell", "X"), unit("B", "cell", "Y"))


def test_a_cell_is_placed_under_its_district_and_the_root_heads_the_tree(session):
    feed(session, *TREE)
    assert locate(session, "cell", "A", JUNE) == ["P", "X", "A"]
    assert locate(session, "unit", "Y", JUNE) == ["P", "Y"]
    assert locate(session, "unit", None, JUNE) == ["P"]
    assert locate(session, "cell", "nowhere", JUNE) is None
    assert locate(session, "member", "A-1", JUNE) is None  # not a kind meetings places


def test_a_move_counts_from_the_day_it_takes_effect(session):
    feed(session, *TREE, ("unit_moved", {"unit_id": "A", "from_parent_id": "X",
                                         "parent_id": "Y", "effective_date": "2026-07-01"}))
    assert locate(session, "cell", "A", JUNE) == ["P", "X", "A"]
    assert locate(session, "cell", "A", date(2026, 7, 1)) == ["P", "Y", "A"]


def test_a_dissolved_cell_belongs_to_its_successor_or_where_it_last_stood(session):
    feed(session, *TREE,
         ("unit_dissolved", {"unit_id": "A", "reason": "Sáp nhập", "successor_id": "B",
                             "effective_date": "2026-03-01"}),
         unit("D", "cell", "X"),
         ("unit_dissolved", {"unit_id": "D", "reason": "Giải thể", "successor_id": None,
                             "effective_date": "2026-04-01"}))
    assert locate(session, "cell", "A", JUNE) == ["P", "Y", "B"]
    assert locate(session, "cell", "D", JUNE) == ["P", "X", "D"]
    assert locate(session, "cell", "D", date(2026, 3, 1)) == ["P", "X", "D"]  # still there


def test_a_cell_established_later_is_not_placed_yet(session):
    feed(session, *TREE, unit("E", "cell", "X", on="2026-09-01"))
    assert locate(session, "cell", "E", JUNE) is None
    assert locate(session, "cell", "E", date(2026, 9, 1)) == ["P", "X", "E"]


def test_meetings_and_tasks_are_placed_by_their_cell(session):
    feed(session, *TREE)
    store = EventStore(session, catalogue)
    store.append("meeting-m1", 0, [NewEvent("meeting_scheduled", {
        "meeting_id": "m1", "cell_id": "B", "kind": "regular", "topic": None,
        "planned_on": "2026-06-20", "place": None})])
    recorded = store.append("task-t1", 0, [NewEvent("task_assigned", {
        "task_id": "t1", "meeting_id": "m1", "resolution_id": "r1", "cell_id": "A",
        "title": "Thu đảng phí", "assignee_id": None, "assignee_name": "Chi ủy",
        "due_on": "2026-07-01"})])
    read_model.index(session, recorded)
    assert locate(session, "meeting", "m1", JUNE) == ["P", "Y", "B"]
    assert locate(session, "task", "t1", JUNE) == ["P", "X", "A"]
    assert locate(session, "meeting", "m2", JUNE) is None
    assert locate(session, "task", "t2", JUNE) is None
