"""The rules of recording a meeting, called directly.

The cell and its roster are given as the meetings service reads them from its
replica (admission dates are `date`s); commands go through the command schema.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from chibo.contracts import load_command
from chibo.errors import DomainRuleViolated, NotFound, ValidationFailed
from chibo.eventstore.store import RecordedEvent
from services.meetings import domain
from services.meetings.commands import RecordMeetingHeld

TODAY = date(2025, 10, 15)
CELL = {"unit_id": "cb-1", "name": "Chi bộ Bản Máy", "kind": "cell"}
ROSTER = [
    {"member_id": "dv-1", "cell_id": "cb-1", "full_name": "Hà Văn Bình",
     "admitted_on": date(2020, 1, 1)},
    {"member_id": "dv-2", "cell_id": "cb-1", "full_name": "Lò Thị Dung",
     "admitted_on": date(2021, 5, 19)},
    {"member_id": "dv-3", "cell_id": "cb-1", "full_name": "Vi Văn Hùng",
     "admitted_on": date(2025, 10, 1)},
]


def recorded(event_type: str, data: dict[str, Any], stream_id: str,
             version: int = 1) -> RecordedEvent:
    return RecordedEvent(position=version, event_id=f"evt-{version}", stream_id=stream_id,
                         stream_version=version, type=event_type, version=1, data=data,
                         metadata={"actor": "test"}, recorded_at="2025-10-10T00:00:00+00:00",
                         hash="0" * 64)


def command(held_on: str = "2025-10-05", attendance: list[dict[str, Any]] | None = None,
            **extra: Any) -> dict[str, Any]:
    if attendance is None:
        attendance = [{"member_id": m, "status": "present"} for m in ("dv-1", "dv-2", "dv-3")]
    payload = {"meeting_id": "m-1", "cell_id": "cb-1", "held_on": held_on,
               "attendance": attendance, **extra}
    return load_command(RecordMeetingHeld(), payload)


def record(cmd: dict[str, Any], history: list[RecordedEvent] | None = None,
           cell: dict[str, Any] | None = CELL, roster: list[dict[str, Any]] = ROSTER,
           today: date = TODAY) -> list[Any]:
    return domain.record_held(history or [], cmd, cell, roster, today)


def problems(cmd: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ValidationFailed) as excinfo:
        record(cmd, **kwargs)
    return excinfo.value.fields


# --------------------------------------------------------------------------- stream, state


def test_meeting_stream_and_state():
    assert domain.meeting_stream("m-1") == "meeting-m-1"
    assert domain.meeting_state([]) is None
    data = {"meeting_id": "m-1", "cell_id": "cb-1", "held_on": "2025-10-05"}
    history = [recorded("meeting_held", data, "meeting-m-1"),
               recorded("minutes_corrected", {"cell_id": "other"}, "meeting-m-1", 2)]
    assert domain.meeting_state(history) == data


# --------------------------------------------------------------------------- the good path


def test_a_full_meeting_is_recorded_with_names_and_counts():
    cmd = command(attendance=[
        {"member_id": "dv-1", "status": "present"},
        {"member_id": "dv-2", "status": "absent_excused", "reason": "Đi làm ăn xa"},
        {"member_id": "dv-3", "status": "absent_unexcused"},
    ], kind="thematic")
    [event] = record(cmd)
    assert event.type == "meeting_held"
    assert event.data == {
        "meeting_id": "m-1", "cell_id": "cb-1", "kind": "thematic",
        "held_on": date(2025, 10, 5),
        "attendance": [
            {"member_id": "dv-1", "status": "present", "reason": None,
             "full_name": "Hà Văn Bình"},
            {"member_id": "dv-2", "status": "absent_excused", "reason": "Đi làm ăn xa",
             "full_name": "Lò Thị Dung"},
            {"member_id": "dv-3", "status": "absent_unexcused", "reason": None,
             "full_name": "Vi Văn Hùng"},
        ],
        "members_counted": 3, "members_present": 1}


def test_kind_defaults_to_regular():
    [event] = record(command())
    assert event.data["kind"] == "regular"
    assert event.data["members_counted"] == 3
    assert event.data["members_present"] == 3


@pytest.mark.parametrize("statuses,present", [
    (["present", "present", "present"], 3),
    (["absent_unexcused", "present", "absent_unexcused"], 1),
    (["absent_unexcused", "absent_unexcused", "absent_unexcused"], 0),
])
def test_counts_follow_the_attendance(statuses, present):
    cmd = command(attendance=[{"member_id": m, "status": s}
                              for m, s in zip(("dv-1", "dv-2", "dv-3"), statuses, strict=True)])
    [event] = record(cmd)
    assert event.data["members_counted"] == 3
    assert event.data["members_present"] == present


def test_a_meeting_held_today_is_accepted():
    [event] = record(command(held_on=TODAY.isoformat()))
    assert event.data["held_on"] == TODAY


def test_a_member_admitted_after_the_meeting_is_not_required():
    # dv-3 was admitted on 2025-10-01: a September meeting does not list them.
    cmd = command(held_on="2025-09-20", attendance=[
        {"member_id": "dv-1", "status": "present"},
        {"member_id": "dv-2", "status": "present"}])
    [event] = record(cmd)
    assert [line["member_id"] for line in event.data["attendance"]] == ["dv-1", "dv-2"]
    assert event.data["members_counted"] == 2
    assert event.data["members_present"] == 2


def test_a_member_admitted_on_the_meeting_day_must_attend():
    cmd = command(held_on="2025-10-01", attendance=[
        {"member_id": "dv-1", "status": "present"},
        {"member_id": "dv-2", "status": "present"}])
    fields = problems(cmd)
    assert set(fields) == {"attendance"}
    assert "dv-3" in fields["attendance"][0]


def test_a_member_admitted_after_the_meeting_may_not_be_listed():
    cmd = command(held_on="2025-09-20")  # lists dv-3, admitted 2025-10-01
    fields = problems(cmd)
    assert set(fields) == {"attendance.2.member_id"}
    assert "dv-3" in fields["attendance.2.member_id"][0]


def test_a_cell_with_nobody_on_its_roster_records_an_empty_roll():
    [event] = record(command(attendance=[]), roster=[])
    assert event.data["attendance"] == []
    assert event.data["members_counted"] == 0
    assert event.data["members_present"] == 0


# --------------------------------------------------------------------------- refusals


def test_a_meeting_already_recorded_is_refused():
    history = [recorded("meeting_held", {"meeting_id": "m-1", "cell_id": "cb-1"},
                        "meeting-m-1")]
    with pytest.raises(DomainRuleViolated) as excinfo:
        record(command(), history=history)
    assert excinfo.value.details == {"meeting_id": "m-1"}
    assert "already recorded" in excinfo.value.message


def test_an_unknown_cell_is_not_found():
    with pytest.raises(NotFound) as excinfo:
        record(command(), cell=None, roster=[])
    assert excinfo.value.details == {"field": "cell_id"}
    assert "cb-1" in excinfo.value.message


@pytest.mark.parametrize("kind", ["province", "committee", "grassroots"])
def test_a_unit_that_is_not_a_cell_does_not_meet(kind):
    with pytest.raises((NotFound, ValidationFailed)):
        record(command(attendance=[]), cell={"unit_id": "cb-1", "name": "Đảng ủy xã",
                                              "kind": kind}, roster=[])


def test_a_unit_that_is_not_a_cell_is_named_as_such():
    with pytest.raises(ValidationFailed) as excinfo:
        record(command(attendance=[]), cell={"unit_id": "cb-1", "name": "Đảng ủy xã Na Mèo",
                                              "kind": "committee"}, roster=[])
    assert set(excinfo.value.fields) == {"cell_id"}
    assert "committee" in excinfo.value.fields["cell_id"][0]


def test_a_meeting_in_the_future_is_refused():
    fields = problems(command(held_on="2025-10-16"))
    assert set(fields) == {"held_on"}
    assert "future" in fields["held_on"][0]


def test_a_member_listed_twice_is_refused():
    cmd = command(attendance=[
        {"member_id": "dv-1", "status": "present"},
        {"member_id": "dv-2", "status": "present"},
        {"member_id": "dv-3", "status": "present"},
        {"member_id": "dv-1", "status": "absent_unexcused"}])
    fields = problems(cmd)
    assert set(fields) == {"attendance.3.member_id"}
    assert "dv-1" in fields["attendance.3.member_id"][0]
    assert "twice" in fields["attendance.3.member_id"][0]


def test_a_non_member_listed_is_refused():
    cmd = command(attendance=[
        {"member_id": "dv-1", "status": "present"},
        {"member_id": "dv-2", "status": "present"},
        {"member_id": "dv-3", "status": "present"},
        {"member_id": "dv-99", "status": "present"}])
    fields = problems(cmd)
    assert set(fields) == {"attendance.3.member_id"}
    assert "dv-99" in fields["attendance.3.member_id"][0]


def test_missing_members_are_named():
    cmd = command(attendance=[{"member_id": "dv-2", "status": "present"}])
    fields = problems(cmd)
    assert set(fields) == {"attendance"}
    message = fields["attendance"][0]
    assert "dv-1" in message and "dv-3" in message
    assert "dv-2" not in message


@pytest.mark.parametrize("reason_line", [{}, {"reason": None}, {"reason": ""}])
def test_an_excused_absence_needs_its_reason(reason_line):
    cmd = command(attendance=[
        {"member_id": "dv-1", "status": "present"},
        {"member_id": "dv-2", "status": "absent_excused", **reason_line},
        {"member_id": "dv-3", "status": "present"}])
    fields = problems(cmd)
    assert set(fields) == {"attendance.1.reason"}


def test_an_unexcused_absence_needs_no_reason():
    cmd = command(attendance=[
        {"member_id": "dv-1", "status": "absent_unexcused"},
        {"member_id": "dv-2", "status": "present"},
        {"member_id": "dv-3", "status": "present"}])
    [event] = record(cmd)
    assert event.data["members_present"] == 2


def test_every_attendance_problem_is_reported_at_once():
    cmd = command(attendance=[
        {"member_id": "dv-1", "status": "absent_excused"},
        {"member_id": "dv-1", "status": "present"},
        {"member_id": "dv-42", "status": "present"}])
    fields = problems(cmd)
    assert set(fields) == {"attendance.0.reason", "attendance.1.member_id",
                           "attendance.2.member_id", "attendance"}
    assert "dv-2" in fields["attendance"][0] and "dv-3" in fields["attendance"][0]


# --------------------------------------------------------------------------- command schema


def test_schema_names_a_bad_status_by_index():
    with pytest.raises(ValidationFailed) as excinfo:
        command(attendance=[{"member_id": "dv-1", "status": "present"},
                            {"member_id": "dv-2", "status": "late"}])
    assert excinfo.value.fields == {"attendance": {1: {"status": [
        "Must be one of: present, absent_excused, absent_unexcused."]}}}


def test_schema_names_every_bad_field():
    with pytest.raises(ValidationFailed) as excinfo:
        load_command(RecordMeetingHeld(), {"kind": "weekly", "held_on": "05/10/2025",
                                           "meeting_id": ""})
    assert set(excinfo.value.fields) == {"cell_id", "kind", "held_on", "attendance",
                                         "meeting_id"}


def test_schema_requires_member_and_status_on_each_line():
    with pytest.raises(ValidationFailed) as excinfo:
        command(attendance=[{"reason": "ốm"}])
    assert set(excinfo.value.fields["attendance"][0]) == {"member_id", "status"}


def test_schema_limits_the_reason():
    with pytest.raises(ValidationFailed) as excinfo:
        command(attendance=[{"member_id": "dv-1", "status": "absent_excused",
                             "reason": "x" * 501}])
    assert set(excinfo.value.fields["attendance"][0]) == {"reason"}


def test_schema_loads_real_dates():
    cmd = command(held_on="2025-10-05")
    assert cmd["held_on"] == date(2025, 10, 5)
    assert cmd["kind"] == "regular"
    assert [line["reason"] for line in cmd["attendance"]] == [None, None, None]
