"""The rules of recording a meeting, called directly.

The cell and its roll are given as the meetings service reads them from its replica:
the cell with its `meets` / `active` flags, the roll as `membership.roll` answers it
from the members' folded events. Commands go through the command schema.
"""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest

from chibo.contracts import load_command
from chibo.errors import DomainRuleViolated, NotFound, ValidationFailed
from chibo.eventstore.store import NewEvent, RecordedEvent
from services.meetings import domain
from services.meetings.commands import RecordMeetingHeld
from services.meetings.events import catalogue
from services.members.membership import fold, roll

TODAY = date(2025, 10, 15)
CELL = {"unit_id": "cb-1", "name": "Chi bộ Bản Máy", "kind": "cell", "meets": True,
        "active": True}


def ev(event_type: str, **data: Any) -> SimpleNamespace:
    return SimpleNamespace(type=event_type, data=data)


def admitted(member_id: str, name: str, on: str, cell_id: str = "cb-1") -> SimpleNamespace:
    return ev("member_admitted", member_id=member_id, full_name=name, cell_id=cell_id,
              admitted_on=on, member_code=None, gender=None)


# dv-1..dv-3 attend; dv-4 is exempt from 2025-01-01; dv-5 works away from 2025-09-01;
# dv-6 of cb-2 attends cb-1 temporarily; dv-7 belongs to cb-2.
MEMBER_EVENTS = [
    admitted("dv-1", "Hà Văn Bình", "2020-01-01"),
    ev("member_confirmed", member_id="dv-1", effective_date="2021-01-01"),
    admitted("dv-2", "Lò Thị Dung", "2021-05-19"),
    admitted("dv-3", "Vi Văn Hùng", "2025-10-01"),
    admitted("dv-4", "Lương Văn Quyết", "2010-03-01"),
    ev("member_exempted", member_id="dv-4", reason="Tuổi cao, sức yếu",
       from_date="2025-01-01"),
    admitted("dv-5", "Lò Văn Sơn", "2018-01-01"),
    ev("member_working_away", member_id="dv-5", reason="Đi làm ăn xa tại Bình Dương",
       from_date="2025-09-01", until_date=None),
    admitted("dv-6", "Sầm Thị Mai", "2019-01-01", cell_id="cb-2"),
    ev("member_temporarily_transferred", member_id="dv-6", from_cell_id="cb-2",
       to_cell_id="cb-1", to_organisation=None, from_date="2025-08-01",
       until_date="2026-07-31"),
    admitted("dv-7", "Hà Văn Tuấn", "2019-01-01", cell_id="cb-2"),
]
MEMBERS = fold(MEMBER_EVENTS)
ATTENDING = ("dv-1", "dv-2", "dv-3", "dv-6")


def roll_on(day: date, cell_id: str = "cb-1") -> dict[str, list[dict[str, Any]]]:
    return roll(MEMBERS.values(), cell_id, day)


def recorded(event_type: str, data: dict[str, Any], stream_id: str,
             version: int = 1) -> RecordedEvent:
    return RecordedEvent(position=version, event_id=f"evt-{version}", stream_id=stream_id,
                         stream_version=version, type=event_type, version=1, data=data,
                         metadata={"actor": "test"}, recorded_at="2025-10-10T00:00:00+00:00",
                         hash="0" * 64)


def command(held_on: str = "2025-10-05", attendance: list[dict[str, Any]] | None = None,
            **extra: Any) -> dict[str, Any]:
    if attendance is None:
        attendance = [{"member_id": m, "status": "present"} for m in ATTENDING]
    payload = {"meeting_id": "m-1", "cell_id": "cb-1", "held_on": held_on,
               "attendance": attendance, **extra}
    return load_command(RecordMeetingHeld(), payload)


def record(cmd: dict[str, Any], history: list[RecordedEvent] | None = None,
           cell: dict[str, Any] | None = CELL,
           roster: dict[str, list[dict[str, Any]]] | None = None,
           today: date = TODAY) -> list[NewEvent]:
    if roster is None:
        roster = roll_on(cmd["held_on"])
    return domain.record_held(history or [], cmd, cell, roster, today)


def problems(cmd: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ValidationFailed) as excinfo:
        record(cmd, **kwargs)
    return excinfo.value.fields


def lines(event: NewEvent) -> dict[str, dict[str, Any]]:
    return {line["member_id"]: line for line in event.data["attendance"]}


# --------------------------------------------------------------------------- the roll itself


def test_the_roll_the_meeting_is_checked_against():
    on_day = roll_on(date(2025, 10, 5))
    assert {m["member_id"]: m["attends"] for m in on_day["must_attend"]} == {
        "dv-1": "home", "dv-2": "home", "dv-3": "home", "dv-6": "temporarily"}
    assert {m["member_id"]: (m["standing"], m["reason"]) for m in on_day["excused"]} == {
        "dv-4": ("exempt", "Tuổi cao, sức yếu"),
        "dv-5": ("working_away", "Đi làm ăn xa tại Bình Dương")}


# --------------------------------------------------------------------------- stream, state


def test_meeting_stream_and_state():
    assert domain.meeting_stream("m-1") == "meeting-m-1"
    assert domain.meeting_state([]) is None
    data = {"meeting_id": "m-1", "cell_id": "cb-1", "held_on": "2025-10-05"}
    history = [recorded("meeting_held", data, "meeting-m-1"),
               recorded("minutes_corrected", {"cell_id": "other"}, "meeting-m-1", 2)]
    assert domain.meeting_state(history) == data


# --------------------------------------------------------------------------- the good path


def test_a_meeting_is_recorded_with_names_counts_and_the_excused():
    cmd = command(attendance=[
        {"member_id": "dv-1", "status": "present"},
        {"member_id": "dv-2", "status": "absent_excused", "reason": "Ốm"},
        {"member_id": "dv-3", "status": "absent_unexcused"},
        {"member_id": "dv-6", "status": "present"},
    ], kind="thematic")
    [event] = record(cmd)
    assert event.type == "meeting_held"
    assert event.data == {
        "meeting_id": "m-1", "cell_id": "cb-1", "kind": "thematic",
        "held_on": date(2025, 10, 5),
        "attendance": [
            {"member_id": "dv-1", "status": "present", "reason": None,
             "full_name": "Hà Văn Bình", "counted": True},
            {"member_id": "dv-2", "status": "absent_excused", "reason": "Ốm",
             "full_name": "Lò Thị Dung", "counted": True},
            {"member_id": "dv-3", "status": "absent_unexcused", "reason": None,
             "full_name": "Vi Văn Hùng", "counted": True},
            {"member_id": "dv-6", "status": "present", "reason": None,
             "full_name": "Sầm Thị Mai", "counted": True},
            {"member_id": "dv-4", "full_name": "Lương Văn Quyết", "status": "excused",
             "reason": "Tuổi cao, sức yếu", "counted": False},
            {"member_id": "dv-5", "full_name": "Lò Văn Sơn", "status": "excused",
             "reason": "Đi làm ăn xa tại Bình Dương", "counted": False},
        ],
        "members_counted": 4, "members_present": 2}
    # what is recorded is a valid meeting_held event
    stored = catalogue.validate(event.type, event.data)
    assert stored["attendance"][4]["status"] == "excused"


def test_kind_defaults_to_regular():
    [event] = record(command())
    assert event.data["kind"] == "regular"
    assert event.data["members_counted"] == 4
    assert event.data["members_present"] == 4


@pytest.mark.parametrize("statuses,present", [
    (["present", "present", "present", "present"], 4),
    (["absent_unexcused", "present", "absent_unexcused", "present"], 2),
    (["absent_unexcused", "absent_unexcused", "absent_unexcused", "absent_unexcused"], 0),
])
def test_counts_follow_the_attendance(statuses, present):
    cmd = command(attendance=[{"member_id": m, "status": s}
                              for m, s in zip(ATTENDING, statuses, strict=True)])
    [event] = record(cmd)
    assert event.data["members_counted"] == 4
    assert event.data["members_present"] == present


def test_excused_members_are_added_and_not_counted():
    [event] = record(command())
    by_id = lines(event)
    assert by_id["dv-4"]["status"] == "excused" and by_id["dv-4"]["counted"] is False
    assert by_id["dv-5"]["reason"] == "Đi làm ăn xa tại Bình Dương"
    assert event.data["members_counted"] == 4  # of 6 lines


def test_an_excused_member_listed_as_present_is_shown_but_not_counted():
    cmd = command(attendance=[*command()["attendance"],
                              {"member_id": "dv-5", "status": "present"}])
    [event] = record(cmd)
    by_id = lines(event)
    assert by_id["dv-5"] == {"member_id": "dv-5", "status": "present", "reason": None,
                             "full_name": "Lò Văn Sơn", "counted": False}
    assert by_id["dv-4"]["status"] == "excused"  # the one not listed is still added
    assert len(event.data["attendance"]) == 6
    assert event.data["members_counted"] == 4
    assert event.data["members_present"] == 4


def test_an_excused_member_may_be_listed_absent_without_counting():
    cmd = command(attendance=[*command()["attendance"],
                              {"member_id": "dv-4", "status": "absent_unexcused"}])
    [event] = record(cmd)
    assert lines(event)["dv-4"]["counted"] is False
    assert event.data["members_counted"] == 4 and event.data["members_present"] == 4


def test_a_meeting_held_today_is_accepted():
    [event] = record(command(held_on=TODAY.isoformat()))
    assert event.data["held_on"] == TODAY


def test_a_member_admitted_after_the_meeting_is_not_required():
    # dv-3 was admitted on 2025-10-01; dv-6 attends from 2025-08-01; dv-5 is away from
    # 2025-09-01: a July meeting lists dv-1, dv-2 and dv-5.
    cmd = command(held_on="2025-07-20", attendance=[
        {"member_id": m, "status": "present"} for m in ("dv-1", "dv-2", "dv-5")])
    [event] = record(cmd)
    assert [line["member_id"] for line in event.data["attendance"]] == [
        "dv-1", "dv-2", "dv-5", "dv-4"]
    assert event.data["members_counted"] == 3
    assert event.data["members_present"] == 3


def test_a_member_admitted_on_the_meeting_day_must_attend():
    cmd = command(held_on="2025-10-01", attendance=[
        {"member_id": m, "status": "present"} for m in ("dv-1", "dv-2", "dv-6")])
    fields = problems(cmd)
    assert set(fields) == {"attendance"}
    assert "dv-3" in fields["attendance"][0]


def test_a_member_admitted_after_the_meeting_may_not_be_listed():
    cmd = command(held_on="2025-09-20")  # lists dv-3, admitted 2025-10-01
    fields = problems(cmd)
    assert set(fields) == {"attendance.2.member_id"}
    assert "dv-3" in fields["attendance.2.member_id"][0]


def test_a_cell_with_nobody_on_its_roll_records_an_empty_roll():
    [event] = record(command(attendance=[]), roster={"must_attend": [], "excused": []})
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
        record(command(), cell=None, roster={"must_attend": [], "excused": []})
    assert excinfo.value.details == {"field": "cell_id"}
    assert "cb-1" in excinfo.value.message
    assert excinfo.value.http_status == 404


@pytest.mark.parametrize("kind", ["province", "committee", "grassroots"])
def test_a_unit_that_is_not_a_cell_does_not_meet(kind):
    unit = {"unit_id": "cb-1", "name": "Đảng ủy xã Na Mèo", "kind": kind, "meets": False,
            "active": True}
    with pytest.raises(ValidationFailed) as excinfo:
        record(command(attendance=[]), cell=unit, roster={"must_attend": [], "excused": []})
    assert set(excinfo.value.fields) == {"cell_id"}
    message = excinfo.value.fields["cell_id"][0]
    assert "Đảng ủy xã Na Mèo" in message and kind in message


def test_a_cell_not_active_on_the_day_is_refused():
    gone = {**CELL, "active": False}
    with pytest.raises(ValidationFailed) as excinfo:
        record(command(), cell=gone)
    assert set(excinfo.value.fields) == {"held_on"}
    message = excinfo.value.fields["held_on"][0]
    assert "Chi bộ Bản Máy" in message and "05/10/2025" in message


def test_a_meeting_in_the_future_is_refused():
    fields = problems(command(held_on="2025-10-16"), roster=roll_on(TODAY))
    assert set(fields) == {"held_on"}
    assert "future" in fields["held_on"][0]


def test_a_member_listed_twice_is_refused():
    cmd = command(attendance=[*command()["attendance"],
                              {"member_id": "dv-1", "status": "absent_unexcused"}])
    fields = problems(cmd)
    assert set(fields) == {"attendance.4.member_id"}
    assert "dv-1" in fields["attendance.4.member_id"][0]
    assert "twice" in fields["attendance.4.member_id"][0]


@pytest.mark.parametrize("outsider", ["dv-99", "dv-7"])  # unknown; a member of another cell
def test_a_non_member_listed_is_refused(outsider):
    cmd = command(attendance=[*command()["attendance"],
                              {"member_id": outsider, "status": "present"}])
    fields = problems(cmd)
    assert set(fields) == {"attendance.4.member_id"}
    assert outsider in fields["attendance.4.member_id"][0]


def test_a_member_who_only_attends_temporarily_is_not_on_the_home_cells_roll():
    # dv-6 attends cb-1 while temporarily transferred; cb-2 lists dv-6 as excused
    home = roll_on(date(2025, 10, 5), "cb-2")
    assert [m["member_id"] for m in home["must_attend"]] == ["dv-7"]
    assert [(m["member_id"], m["standing"]) for m in home["excused"]] == [
        ("dv-6", "temporarily_transferred")]
    cmd = load_command(RecordMeetingHeld(), {
        "meeting_id": "m-2", "cell_id": "cb-2", "held_on": "2025-10-05",
        "attendance": [{"member_id": "dv-7", "status": "present"}]})
    [event] = domain.record_held([], cmd, {**CELL, "unit_id": "cb-2"}, home, TODAY)
    assert lines(event)["dv-6"]["reason"] == "sinh hoạt tạm thời tại cb-1"
    assert event.data["members_counted"] == 1


def test_missing_members_are_named():
    cmd = command(attendance=[{"member_id": "dv-2", "status": "present"}])
    fields = problems(cmd)
    assert set(fields) == {"attendance"}
    message = fields["attendance"][0]
    assert "dv-1" in message and "dv-3" in message and "dv-6" in message
    assert "dv-2" not in message
    assert "dv-4" not in message and "dv-5" not in message  # the excused need not be listed


@pytest.mark.parametrize("reason_line", [{}, {"reason": None}, {"reason": ""},
                                         {"reason": "   "}])
def test_an_excused_absence_needs_its_reason(reason_line):
    cmd = command(attendance=[
        {"member_id": "dv-1", "status": "present"},
        {"member_id": "dv-2", "status": "absent_excused", **reason_line},
        {"member_id": "dv-3", "status": "present"},
        {"member_id": "dv-6", "status": "present"}])
    fields = problems(cmd)
    assert set(fields) == {"attendance.1.reason"}


def test_an_unexcused_absence_needs_no_reason():
    cmd = command(attendance=[
        {"member_id": "dv-1", "status": "absent_unexcused"},
        {"member_id": "dv-2", "status": "present"},
        {"member_id": "dv-3", "status": "present"},
        {"member_id": "dv-6", "status": "present"}])
    [event] = record(cmd)
    assert event.data["members_present"] == 3


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


def test_schema_does_not_take_excused_from_callers():
    # "excused" is what the rules record for members excused that day, not an input
    with pytest.raises(ValidationFailed) as excinfo:
        command(attendance=[{"member_id": "dv-4", "status": "excused"}])
    assert set(excinfo.value.fields["attendance"][0]) == {"status"}


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
    assert [line["reason"] for line in cmd["attendance"]] == [None, None, None, None]
