"""Make-up meetings (sinh hoạt bù) in the meetings service: the rule, called directly as
in test_meetings_domain (same cell, roll and clock), the command's field, the event's
versions, and the index that counts each meeting for the month it counts for."""

from __future__ import annotations

import pytest
from sqlalchemy import insert

from chibo.contracts import load_command
from chibo.db import create_schema, make_engine, session_factory
from chibo.errors import DomainRuleViolated, ValidationFailed
from chibo.eventstore.store import RecordedEvent
from services.meetings import commands as c
from services.meetings import domain, read_model
from services.shared.events.meetings import MAKE_UP_MONTHS_BACK, catalogue
from tests.unit.test_meetings_domain import CELL, TOPIC, command, problems, record

# The meeting is held on 05/10/2025 (HELD_ON); the clock reads 15/10/2025.
SEPTEMBER_CELL = {**CELL, "active": True}


def make_up(month: str = "2025-09", **extra) -> dict:
    return command(makes_up_month=month, **extra)


def test_a_make_up_meeting_records_the_month_it_makes_up():
    [event] = record(make_up(), made_up_month_cell=SEPTEMBER_CELL)
    assert event.type == "meeting_held"
    assert event.data["makes_up_month"] == "2025-09"
    stored = catalogue.validate("meeting_held", event.data)
    assert stored["makes_up_month"] == "2025-09" and stored["held_on"] == "2025-10-05"


def test_a_meeting_of_its_own_month_makes_up_nothing():
    [event] = record(command())
    assert catalogue.validate("meeting_held", event.data)["makes_up_month"] is None


def test_a_make_up_is_never_the_extra_meeting_of_the_month_it_was_held_in():
    """October already has its regular meeting: the make-up of September is not a
    second one for October, since it counts for September only."""
    [event] = record(make_up(), made_up_month_cell=SEPTEMBER_CELL,
                     regular_meetings_that_month=1)
    assert "extra_regular_meeting" not in event.data["flags"]


def test_a_month_that_already_has_its_regular_meeting_cannot_be_made_up():
    with pytest.raises(DomainRuleViolated) as excinfo:
        record(make_up(), made_up_month_cell=SEPTEMBER_CELL, made_up_month_meetings=1)
    assert excinfo.value.details == {"field": "makes_up_month"}
    assert "09/2025" in excinfo.value.message
    assert "never counts for two months" in excinfo.value.message


@pytest.mark.parametrize("month, expected", [
    ("2025-10", "Must be a month before the meeting's own (10/2025)"),
    ("2025-11", "Must be a month before the meeting's own (10/2025)"),
    ("2025-06", f"At most {MAKE_UP_MONTHS_BACK} months back: a meeting held in 10/2025 may "
                "make up 07/2025 to 09/2025."),
])
def test_the_month_made_up_is_a_recent_past_month(month, expected):
    found = problems(make_up(month), made_up_month_cell=SEPTEMBER_CELL)
    assert set(found) == {"makes_up_month"}
    assert found["makes_up_month"][0].startswith(expected)


def test_the_earliest_month_within_reach_may_be_made_up():
    [event] = record(make_up("2025-07"), made_up_month_cell=SEPTEMBER_CELL)
    assert event.data["makes_up_month"] == "2025-07"


@pytest.mark.parametrize("cell_then", [None, {**CELL, "active": False}])
def test_a_month_before_the_cell_existed_cannot_be_made_up(cell_then):
    found = problems(make_up(), made_up_month_cell=cell_then)
    assert set(found) == {"makes_up_month"}
    assert "did not exist at the end of 09/2025" in found["makes_up_month"][0]


@pytest.mark.parametrize("kind", ["thematic", "combined"])
def test_only_a_regular_meeting_makes_up_a_month(kind):
    found = problems(make_up(kind=kind, topic=TOPIC), made_up_month_cell=SEPTEMBER_CELL)
    assert set(found) == {"makes_up_month"}
    assert "Only a regular meeting" in found["makes_up_month"][0]


@pytest.mark.parametrize("value", ["2025-13", "09/2025", "2025-9", "", 202509])
def test_the_command_names_a_badly_written_month(value):
    with pytest.raises(ValidationFailed) as excinfo:
        make_up(value)
    assert set(excinfo.value.fields) == {"makes_up_month"}


def test_a_month_problem_is_reported_with_the_other_problems():
    found = problems(command(makes_up_month="2025-10", attendance=[
        {"member_id": "dv-1", "status": "present"}]), made_up_month_cell=SEPTEMBER_CELL)
    assert {"makes_up_month", "attendance"} <= set(found)


def test_a_stored_meeting_of_the_first_version_reads_as_making_up_nothing():
    version, data = catalogue.upcast("meeting_held", 1, {"meeting_id": "m-1"})
    assert version == catalogue.latest_version("meeting_held") == 2
    assert data == {"meeting_id": "m-1", "makes_up_month": None}


def test_last_day_of_a_month():
    assert domain.last_day_of("2025-02").isoformat() == "2025-02-28"
    assert domain.last_day_of("2024-02").isoformat() == "2024-02-29"
    assert domain.last_day_of("2025-12").isoformat() == "2025-12-31"


# -- the index meetings keeps: which month each meeting counts for ------------------------


@pytest.fixture
def session():
    engine = make_engine("sqlite://")
    create_schema(engine, read_model.metadata)
    with session_factory(engine)() as made, made.begin():
        yield made
    engine.dispose()


def held(meeting_id: str, held_on: str, makes_up_month: str | None = None,
         kind: str = "regular") -> RecordedEvent:
    return RecordedEvent(1, f"evt-{meeting_id}", f"meeting-{meeting_id}", 1, "meeting_held", 2,
                         {"meeting_id": meeting_id, "cell_id": "cb-1", "kind": kind,
                          "held_on": held_on, "makes_up_month": makes_up_month},
                         {}, "2025-10-15T00:00:00+00:00", "0" * 64)


def test_a_make_up_counts_for_the_month_it_makes_up_and_not_for_its_own(session):
    read_model.index(session, [held("m-10", "2025-10-05"),
                               held("bu-09", "2025-10-20", makes_up_month="2025-09"),
                               held("t-10", "2025-10-21", kind="thematic")])
    assert read_model.regular_meetings_for(session, "cb-1", "2025-09") == 1
    assert read_model.regular_meetings_for(session, "cb-1", "2025-10") == 1
    assert read_model.regular_meetings_in_month(
        session, "cb-1", load_command(c.ScheduleMeeting(), {
            "cell_id": "cb-1", "planned_on": "2025-10-28"})["planned_on"]) == 1
    assert read_model.regular_meetings_for(session, "cb-1", "2025-08") == 0
    session.execute(insert(read_model.held_meetings).values(
        meeting_id="other", cell_id="cb-2", kind="regular",
        held_on=domain.last_day_of("2025-09")))
    assert read_model.regular_meetings_for(session, "cb-2", "2025-09") == 1
