"""The rules of logging a supervision visit, called directly.

The meeting is given as supervision receives it from meetings.get_meeting: the
stored (JSON) form, so its date is text; the command's date is a real `date`.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Any

import pytest

from chibo.access import Identity, Unauthenticated
from chibo.contracts import load_command
from chibo.errors import DomainRuleViolated, ValidationFailed
from chibo.eventstore.store import NewEvent, RecordedEvent
from services.meetings.domain import meeting_state
from services.shared.tree import default_kinds
from services.supervision import domain, handlers
from services.supervision.commands import LogVisit

MEETING = {
    "meeting_id": "m-1", "cell_id": "cb-1", "kind": "regular", "held_on": "2025-10-05",
    "attendance": [{"member_id": "dv-1", "full_name": "Hà Văn Bình", "status": "present",
                    "reason": None}],
    "members_counted": 1, "members_present": 1,
}


def recorded(event_type: str, data: dict[str, Any], stream_id: str) -> RecordedEvent:
    return RecordedEvent(position=1, event_id="evt-1", stream_id=stream_id, stream_version=1,
                         type=event_type, version=1, data=data, metadata={"actor": "test"},
                         recorded_at="2025-10-05T00:00:00+00:00", hash="0" * 64)


def visit(**overrides: Any) -> dict[str, Any]:
    payload = {"visit_id": "v-1", "visitor": "Đồng chí Lương Văn Nam", "cell_id": "cb-1",
               "meeting_id": "m-1", "visited_on": "2025-10-05",
               "comments": "Sinh hoạt đúng quy định.", **overrides}
    return load_command(LogVisit(), payload)


def test_visit_stream_name():
    assert domain.visit_stream("v-1") == "visit-v-1"


def test_a_visit_to_a_held_meeting_is_logged():
    events = domain.log_visit([], visit(), MEETING)
    assert events == [NewEvent("visit_logged", {
        "visit_id": "v-1", "visitor": "Đồng chí Lương Văn Nam", "cell_id": "cb-1",
        "meeting_id": "m-1", "visited_on": date(2025, 10, 5),
        "comments": "Sinh hoạt đúng quy định.", "self_level": None, "confirmed_level": None,
        "changed_points": None})]


def test_a_visit_to_a_meeting_folded_from_its_stream_is_logged():
    history = [recorded("meeting_held", MEETING, "meeting-m-1")]
    [event] = domain.log_visit([], visit(), meeting_state(history))
    assert event.data["meeting_id"] == "m-1"


def test_comments_default_to_empty():
    command = load_command(LogVisit(), {
        "visit_id": "v-2", "visitor": "Bùi Thu Hạnh", "cell_id": "cb-1", "meeting_id": "m-1",
        "visited_on": "2025-10-05"})
    [event] = domain.log_visit([], command, MEETING)
    assert event.data["comments"] == ""
    assert event.data["visit_id"] == "v-2"


def test_a_meeting_not_held_is_refused_with_a_clear_reason():
    with pytest.raises(DomainRuleViolated) as excinfo:
        domain.log_visit([], visit(meeting_id="m-missing"), None)
    assert excinfo.value.details == {"field": "meeting_id"}
    message = excinfo.value.message
    assert "m-missing" in message
    assert "not held" in message
    assert "Record the meeting first" in message


def test_a_meeting_of_another_cell_is_refused():
    with pytest.raises(ValidationFailed) as excinfo:
        domain.log_visit([], visit(cell_id="cb-2"), MEETING)
    assert set(excinfo.value.fields) == {"meeting_id"}
    assert "another cell" in excinfo.value.fields["meeting_id"][0]


@pytest.mark.parametrize("visited_on", ["2025-10-04", "2025-10-06", "2024-10-05"])
def test_a_visit_on_another_day_than_the_meeting_is_refused(visited_on):
    with pytest.raises(ValidationFailed) as excinfo:
        domain.log_visit([], visit(visited_on=visited_on), MEETING)
    assert set(excinfo.value.fields) == {"visited_on"}
    message = excinfo.value.fields["visited_on"][0]
    assert "2025-10-05" in message and visited_on in message


def test_date_comparison_works_when_the_meeting_date_is_a_date():
    meeting = {**MEETING, "held_on": date(2025, 10, 5)}
    [event] = domain.log_visit([], visit(), meeting)
    assert event.data["visited_on"] == date(2025, 10, 5)
    with pytest.raises(ValidationFailed):
        domain.log_visit([], visit(visited_on="2025-10-06"), meeting)


def test_logging_a_visit_twice_is_refused():
    history = [recorded("visit_logged", {"visit_id": "v-1"}, "visit-v-1")]
    with pytest.raises(DomainRuleViolated) as excinfo:
        domain.log_visit(history, visit(), MEETING)
    assert "v-1" in excinfo.value.message
    assert "already" in excinfo.value.message


def test_logging_twice_is_refused_even_if_the_meeting_is_gone():
    history = [recorded("visit_logged", {"visit_id": "v-1"}, "visit-v-1")]
    with pytest.raises(DomainRuleViolated) as excinfo:
        domain.log_visit(history, visit(), None)
    assert "already" in excinfo.value.message


# --------------------------------------------------------------------------- command schema


def test_schema_names_every_bad_field():
    # `visitor` is not the body's to say (the signed-in caller is recorded): never refused.
    with pytest.raises(ValidationFailed) as excinfo:
        load_command(LogVisit(), {"visitor": " ", "visited_on": "tháng 10", "visit_id": ""})
    assert set(excinfo.value.fields) == {"cell_id", "meeting_id", "visited_on", "visit_id"}


def test_schema_limits_comments():
    with pytest.raises(ValidationFailed) as excinfo:
        visit(comments="x" * 5001)
    assert set(excinfo.value.fields) == {"comments"}


def test_the_signed_in_name_is_nfc_normalised():
    decomposed = unicodedata.normalize("NFD", "Đồng chí Nguyễn Quyết")
    assert decomposed != "Đồng chí Nguyễn Quyết"
    deps = handlers.Deps(today=date(2025, 10, 5), kinds=default_kinds(), sheets=(),
                         meeting=lambda _: None, sync_members=lambda: None,
                         identity=Identity("tk-quyet", decomposed))
    assert handlers.signed_in_name(deps) == "Đồng chí Nguyễn Quyết"


def test_nobody_signed_in_records_nobody():
    deps = handlers.Deps(today=date(2025, 10, 5), kinds=default_kinds(), sheets=(),
                         meeting=lambda _: None, sync_members=lambda: None)
    with pytest.raises(Unauthenticated):
        handlers.signed_in_name(deps)


def test_visit_id_is_generated_when_missing():
    payload = {"visitor": "Bùi Thu Hạnh", "cell_id": "cb-1", "meeting_id": "m-1",
               "visited_on": "2025-10-05"}
    first, second = load_command(LogVisit(), payload), load_command(LogVisit(), payload)
    assert first["visit_id"] and first["visit_id"] != second["visit_id"]
