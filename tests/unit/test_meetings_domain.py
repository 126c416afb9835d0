"""The rules of meetings, resolutions and tasks, called directly.

No broker, no database. The cell and its roll are given as the meetings service reads
them from its replica: the cell with its `meets` / `active` flags, the roll as
`membership.roll` answers it from the members' folded events. Commands go through the
command schemas, so dates are real `date` objects. Histories are built by applying the
domain's own outputs to a small in-memory log that checks stream versions and stores
each event in its validated, JSON form, as the event store does.
"""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from chibo.contracts import load_command
from chibo.errors import ConcurrencyError, DomainRuleViolated, NotFound, ValidationFailed
from chibo.eventstore.store import NewEvent, RecordedEvent, StreamAppend
from services.meetings import commands as c
from services.meetings import domain
from services.shared.events.meetings import catalogue
from services.shared.membership import fold, roll
from services.shared.score_sheet import ScoreSheet

TODAY = date(2025, 10, 15)
HELD_ON = date(2025, 10, 5)
CELL = {"unit_id": "cb-1", "name": "Chi bộ Bản Máy", "kind": "cell", "meets": True,
        "active": True}
TOPIC = "Học tập và làm theo tư tưởng, đạo đức, phong cách Hồ Chí Minh"

#: The default sheet of DOMAIN.md, written out so these tests do not read configuration.
SHEET = ScoreSheet(
    version=1, effective_from=date(2018, 1, 1),
    criteria={"preparation": {"max": 15}, "attendance": {"max": 20},
              "conduct": {"max": 45}, "closing": {"max": 20}},
    levels=[{"level": "good", "min": 90}, {"level": "fair", "min": 70},
            {"level": "average", "min": 50}, {"level": "poor", "min": 0}])


def ev(event_type: str, **data: Any) -> SimpleNamespace:
    return SimpleNamespace(type=event_type, data=data)


def admitted(member_id: str, name: str, on: str, cell_id: str = "cb-1") -> SimpleNamespace:
    return ev("member_admitted", member_id=member_id, full_name=name, cell_id=cell_id,
              admitted_on=on, member_code=None, gender=None)


def confirmed(member_id: str, on: str) -> SimpleNamespace:
    return ev("member_confirmed", member_id=member_id, effective_date=on)


# On 05/10/2025 cb-1 must hear from dv-1, dv-2, dv-6, dv-8 (full) and dv-3 (probationary);
# dv-4 (exempt) and dv-5 (working away) are full members, excused; dv-6 of cb-2 attends
# cb-1 while temporarily transferred; dv-7 belongs to cb-2.
MEMBER_EVENTS = [
    admitted("dv-1", "Hà Văn Bình", "2020-01-01"),
    confirmed("dv-1", "2021-01-01"),
    admitted("dv-2", "Lò Thị Dung", "2021-05-19"),
    confirmed("dv-2", "2022-05-19"),
    admitted("dv-3", "Vi Văn Hùng", "2025-10-01"),
    admitted("dv-4", "Lương Văn Quyết", "2010-03-01"),
    confirmed("dv-4", "2011-03-01"),
    ev("member_exempted", member_id="dv-4", reason="Tuổi cao, sức yếu",
       from_date="2025-01-01"),
    admitted("dv-5", "Lò Văn Sơn", "2018-01-01"),
    confirmed("dv-5", "2019-01-01"),
    ev("member_working_away", member_id="dv-5", reason="Đi làm ăn xa tại Bình Dương",
       from_date="2025-09-01", until_date=None),
    admitted("dv-6", "Sầm Thị Mai", "2019-01-01", cell_id="cb-2"),
    confirmed("dv-6", "2020-01-01"),
    ev("member_temporarily_transferred", member_id="dv-6", from_cell_id="cb-2",
       to_cell_id="cb-1", to_organisation=None, from_date="2025-08-01",
       until_date="2026-07-31"),
    admitted("dv-7", "Hà Văn Tuấn", "2019-01-01", cell_id="cb-2"),
    admitted("dv-8", "Đinh Văn Hải", "2015-01-01"),
    confirmed("dv-8", "2016-01-01"),
]
MEMBERS = fold(MEMBER_EVENTS)
ATTENDING = ("dv-1", "dv-2", "dv-3", "dv-6", "dv-8")
NAMES = {"dv-1": "Hà Văn Bình", "dv-2": "Lò Thị Dung", "dv-3": "Vi Văn Hùng",
         "dv-4": "Lương Văn Quyết", "dv-5": "Lò Văn Sơn", "dv-6": "Sầm Thị Mai",
         "dv-8": "Đinh Văn Hải"}


def roll_on(day: date, cell_id: str = "cb-1") -> dict[str, list[dict[str, Any]]]:
    return roll(MEMBERS.values(), cell_id, day)


# --------------------------------------------------------------------------- the harness


class Log:
    """The meetings service's event log in miniature."""

    def __init__(self) -> None:
        self.streams: dict[str, list[RecordedEvent]] = {}
        self.position = 0

    def stream(self, stream_id: str) -> list[RecordedEvent]:
        return list(self.streams.get(stream_id, ()))

    def meeting(self, meeting_id: str = "m-1") -> list[RecordedEvent]:
        return self.stream(domain.meeting_stream(meeting_id))

    def task(self, task_id: str) -> list[RecordedEvent]:
        return self.stream(domain.task_stream(task_id))

    def append(self, appends: list[StreamAppend]) -> list[RecordedEvent]:
        """All or nothing, like EventStore.append_many."""
        versions: dict[str, int] = {}
        for item in appends:
            current = versions.get(item.stream_id, len(self.stream(item.stream_id)))
            if item.expected_version is not None and item.expected_version != current:
                raise ConcurrencyError(f"{item.stream_id} is at {current}, "
                                       f"not {item.expected_version}")
            versions[item.stream_id] = current + len(item.events)
        out = []
        for item in appends:
            for new in item.events:
                self.position += 1
                stream = self.streams.setdefault(item.stream_id, [])
                event = RecordedEvent(
                    position=self.position, event_id=new.event_id or f"evt-{self.position}",
                    stream_id=item.stream_id, stream_version=len(stream) + 1, type=new.type,
                    version=1, data=catalogue.validate(new.type, new.data),
                    metadata={"actor": "test"}, recorded_at="2025-10-15T00:00:00+00:00",
                    hash="0" * 64)
                stream.append(event)
                out.append(event)
        return out

    def on_meeting(self, events: list[NewEvent], meeting_id: str = "m-1"
                   ) -> list[RecordedEvent]:
        return self.append([StreamAppend(domain.meeting_stream(meeting_id),
                                         len(self.meeting(meeting_id)), events)])

    def on_task(self, events: list[NewEvent], task_id: str) -> list[RecordedEvent]:
        return self.append([StreamAppend(domain.task_stream(task_id),
                                         len(self.task(task_id)), events)])


@pytest.fixture
def log() -> Log:
    return Log()


# --------------------------------------------------------------------------- commands


def schedule_cmd(**fields: Any) -> dict[str, Any]:
    return load_command(c.ScheduleMeeting(), {
        "meeting_id": "m-1", "cell_id": "cb-1", "planned_on": HELD_ON.isoformat(),
        "place": "Nhà văn hóa bản Máy", **fields})


def schedule(log: Log, **fields: Any) -> list[RecordedEvent]:
    cmd = schedule_cmd(**fields)
    return log.on_meeting(domain.schedule(log.meeting(cmd["meeting_id"]), cmd, CELL),
                          cmd["meeting_id"])


def preparation_cmd(**fields: Any) -> dict[str, Any]:
    return load_command(c.RecordPreparation(), {
        "meeting_id": "m-1", "preparation_held_on": "2025-10-01",
        "materials_sent_on": "2025-10-02", "higher_committee_notified": True, **fields})


def postpone_cmd(**fields: Any) -> dict[str, Any]:
    return load_command(c.PostponeMeeting(), {
        "meeting_id": "m-1", "planned_on": "2025-10-20", "reason": "Mùa gặt", **fields})


def cancel_cmd(**fields: Any) -> dict[str, Any]:
    return load_command(c.CancelMeeting(), {"meeting_id": "m-1",
                                            "reason": "Lũ quét, chia cắt bản", **fields})


def command(held_on: str = HELD_ON.isoformat(), attendance: list[dict[str, Any]] | None = None,
            **extra: Any) -> dict[str, Any]:
    if attendance is None:
        attendance = [{"member_id": m, "status": "present"} for m in ATTENDING]
    payload = {"meeting_id": "m-1", "cell_id": "cb-1", "held_on": held_on,
               "attendance": attendance, **extra}
    return load_command(c.RecordMeetingHeld(), payload)


def minutes(**extra: Any) -> dict[str, Any]:
    """A meeting recorded in full: times, chair, minutes-taker, speakers, scores."""
    return command(**{
        "place": "Nhà văn hóa bản Máy", "started_at": "19:00", "ended_at": "21:00",
        "chair_id": "dv-1", "minutes_taker_id": "dv-2", "dues_collected": True,
        "agenda": ["Kiểm điểm nghị quyết tháng trước", "Nhiệm vụ tháng tới"],
        "speakers": ["dv-1", "dv-6", "dv-8"], "minutes": "Đồng chí Bình khai mạc …",
        "conclusion": "Thống nhất nhiệm vụ tháng 11.",
        "scores": {"preparation": 14, "attendance": 18, "conduct": 42, "closing": 18},
        **extra})


def record(cmd: dict[str, Any], history: list[RecordedEvent] | None = None,
           cell: dict[str, Any] | None = CELL,
           roster: dict[str, list[dict[str, Any]]] | None = None,
           today: date = TODAY, **kwargs: Any) -> list[NewEvent]:
    if roster is None:
        roster = roll_on(cmd["held_on"])
    return domain.record_held(history or [], cmd, cell, roster, today, **kwargs)


def problems(cmd: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ValidationFailed) as excinfo:
        record(cmd, **kwargs)
    return excinfo.value.fields


def lines(event: NewEvent) -> dict[str, dict[str, Any]]:
    return {line["member_id"]: line for line in event.data["attendance"]}


def hold(log: Log, cmd: dict[str, Any] | None = None, **kwargs: Any) -> list[RecordedEvent]:
    cmd = cmd or minutes()
    history = log.meeting(cmd["meeting_id"])
    return log.on_meeting(record(cmd, history=history, sheet=SHEET, **kwargs),
                          cmd["meeting_id"])


def resolution_cmd(**fields: Any) -> dict[str, Any]:
    return load_command(c.AdoptResolution(), {
        "meeting_id": "m-1", "resolution_id": "nq-1",
        "title": "Nghị quyết sinh hoạt tháng 10", "text": "Chi bộ quyết nghị …",
        "vote": {"in_favour": 3, "against": 0, "abstaining": 1},
        "tasks": [{"task_id": "t-1", "title": "Vận động đóng đảng phí đúng hạn",
                   "assignee_id": "dv-2", "due_on": "2025-10-31"},
                  {"task_id": "t-2", "title": "Sửa đường liên bản",
                   "assignee_id": None, "due_on": "2025-11-30"}], **fields})


def adopt(log: Log, cmd: dict[str, Any] | None = None,
          roster: dict[str, list[dict[str, Any]]] | None = None) -> list[StreamAppend]:
    cmd = cmd or resolution_cmd()
    history = log.meeting(cmd["meeting_id"])
    return domain.adopt_resolution(history, len(history), cmd,
                                   roster if roster is not None else roll_on(HELD_ON))


@pytest.fixture
def held(log: Log) -> Log:
    """m-1 scheduled, prepared and held with full minutes."""
    schedule(log)
    log.on_meeting(domain.record_preparation(log.meeting(), preparation_cmd(), TODAY))
    hold(log)
    return log


@pytest.fixture
def tasked(held: Log) -> Log:
    """m-1 held, resolution nq-1 adopted with tasks t-1 (dv-2) and t-2 (the committee)."""
    held.append(adopt(held))
    return held


def points(total: int) -> dict[str, int]:
    """Points adding up to `total`, each within its criterion's maximum."""
    out = {}
    for name in ("conduct", "attendance", "closing", "preparation"):
        out[name] = min(SHEET.criteria[name]["max"], total)
        total -= out[name]
    assert total == 0
    return out


# --------------------------------------------------------------------------- the roll itself


def test_the_roll_the_meeting_is_checked_against():
    on_day = roll_on(HELD_ON)
    assert {m["member_id"]: (m["attends"], m["status"]) for m in on_day["must_attend"]} == {
        "dv-1": ("home", "full"), "dv-2": ("home", "full"), "dv-3": ("home", "probationary"),
        "dv-6": ("temporarily", "full"), "dv-8": ("home", "full")}
    assert {m["member_id"]: (m["standing"], m["reason"]) for m in on_day["excused"]} == {
        "dv-4": ("exempt", "Tuổi cao, sức yếu"),
        "dv-5": ("working_away", "Đi làm ăn xa tại Bình Dương")}


# --------------------------------------------------------------------------- stream, state


def test_stream_names():
    assert domain.meeting_stream("m-1") == "meeting-m-1"
    assert domain.task_stream("t-1") == "task-t-1"


def test_nothing_recorded_has_no_state():
    assert domain.meeting_state([]) is None
    assert domain.task_state([]) is None


def test_a_meeting_held_without_being_scheduled_has_state(log):
    [event] = hold(log)
    state = domain.meeting_state(log.meeting())
    assert state["status"] == "held"
    assert state["held_event_id"] == event.event_id
    assert state["corrections"] == [] and state["resolutions"] == []
    assert state["held_on"] == "2025-10-05"  # as stored


def test_unknown_event_types_leave_the_state_alone(log):
    hold(log)
    stray = RecordedEvent(position=99, event_id="evt-99", stream_id="meeting-m-1",
                          stream_version=2, type="minutes_read_back", version=1,
                          data={"cell_id": "other"}, metadata={},
                          recorded_at="2025-10-15T00:00:00+00:00", hash="0" * 64)
    assert domain.meeting_state([*log.meeting(), stray]) == domain.meeting_state(log.meeting())


# --------------------------------------------------------------------------- scheduling


def test_a_regular_meeting_is_scheduled(log):
    [event] = domain.schedule([], schedule_cmd(), CELL)
    assert event == NewEvent("meeting_scheduled", {
        "meeting_id": "m-1", "cell_id": "cb-1", "kind": "regular", "topic": None,
        "planned_on": HELD_ON, "place": "Nhà văn hóa bản Máy"})
    log.on_meeting([event])
    state = domain.meeting_state(log.meeting())
    assert (state["status"], state["planned_on"], state["resolutions"]) == (
        "scheduled", "2025-10-05", [])


@pytest.mark.parametrize("kind", ["thematic", "combined"])
def test_a_thematic_or_combined_meeting_needs_its_topic(kind):
    with pytest.raises(ValidationFailed) as excinfo:
        domain.schedule([], schedule_cmd(kind=kind), CELL)
    assert set(excinfo.value.fields) == {"topic"}
    [event] = domain.schedule([], schedule_cmd(kind=kind, topic=TOPIC), CELL)
    assert (event.data["kind"], event.data["topic"]) == (kind, TOPIC)


def test_an_empty_topic_is_refused_by_the_schema():
    with pytest.raises(ValidationFailed) as excinfo:
        schedule_cmd(kind="thematic", topic="")
    assert set(excinfo.value.fields) == {"topic"}


def test_a_meeting_is_scheduled_once(log):
    schedule(log)
    with pytest.raises(DomainRuleViolated):
        domain.schedule(log.meeting(), schedule_cmd(), CELL)


def test_scheduling_for_an_unknown_cell_is_not_found():
    with pytest.raises(NotFound) as excinfo:
        domain.schedule([], schedule_cmd(), None)
    assert excinfo.value.details == {"field": "cell_id"}
    assert "cb-1" in excinfo.value.message


@pytest.mark.parametrize("kind", ["province", "committee", "grassroots"])
def test_scheduling_for_a_unit_that_is_not_a_cell_is_refused(kind):
    unit = {"unit_id": "x", "name": "Đảng ủy xã Na Mèo", "kind": kind, "meets": False,
            "active": True}
    with pytest.raises(ValidationFailed) as excinfo:
        domain.schedule([], schedule_cmd(cell_id="x"), unit)
    assert set(excinfo.value.fields) == {"cell_id"}
    assert "Đảng ủy xã Na Mèo" in excinfo.value.fields["cell_id"][0]


def test_scheduling_for_a_cell_not_active_that_day_is_refused():
    with pytest.raises(ValidationFailed) as excinfo:
        domain.schedule([], schedule_cmd(), {**CELL, "active": False})
    assert set(excinfo.value.fields) == {"cell_id"}
    assert "05/10/2025" in excinfo.value.fields["cell_id"][0]


# --------------------------------------------------------------------------- preparation


def test_the_preparation_meeting_and_materials_are_recorded(log):
    schedule(log)
    [event] = domain.record_preparation(log.meeting(), preparation_cmd(), TODAY)
    assert event == NewEvent("meeting_prepared", {
        "meeting_id": "m-1", "preparation_held_on": date(2025, 10, 1),
        "materials_sent_on": date(2025, 10, 2), "higher_committee_notified": True})
    log.on_meeting([event])
    state = domain.meeting_state(log.meeting())
    assert state["status"] == "scheduled"
    assert state["preparation"] == {"meeting_id": "m-1", "preparation_held_on": "2025-10-01",
                                    "materials_sent_on": "2025-10-02",
                                    "higher_committee_notified": True}


def test_the_preparation_may_be_on_the_planned_day(log):
    schedule(log)
    [event] = domain.record_preparation(log.meeting(), preparation_cmd(
        preparation_held_on=HELD_ON.isoformat()), TODAY)
    assert event.data["preparation_held_on"] == HELD_ON


def test_the_preparation_after_the_planned_day_is_refused(log):
    schedule(log)
    with pytest.raises(ValidationFailed) as excinfo:
        domain.record_preparation(log.meeting(), preparation_cmd(
            preparation_held_on="2025-10-06"), TODAY)
    assert set(excinfo.value.fields) == {"preparation_held_on"}
    assert "05/10/2025" in excinfo.value.fields["preparation_held_on"][0]


def test_the_preparation_in_the_future_is_refused(log):
    schedule(log, planned_on="2025-10-25")
    with pytest.raises(ValidationFailed) as excinfo:
        domain.record_preparation(log.meeting(), preparation_cmd(
            preparation_held_on="2025-10-16"), TODAY)
    assert set(excinfo.value.fields) == {"preparation_held_on"}
    assert "future" in excinfo.value.fields["preparation_held_on"][0]
    [event] = domain.record_preparation(log.meeting(), preparation_cmd(
        preparation_held_on=TODAY.isoformat()), TODAY)
    assert event.data["preparation_held_on"] == TODAY


def test_a_postponement_moves_the_day_the_preparation_is_checked_against(log):
    schedule(log)
    late = preparation_cmd(preparation_held_on="2025-10-10")
    with pytest.raises(ValidationFailed):
        domain.record_preparation(log.meeting(), late, TODAY)
    log.on_meeting(domain.postpone(log.meeting(), postpone_cmd(planned_on="2025-10-20")))
    [event] = domain.record_preparation(log.meeting(), late, TODAY)
    assert event.data["preparation_held_on"] == date(2025, 10, 10)


def test_the_preparation_of_a_meeting_not_scheduled_is_not_found():
    with pytest.raises(NotFound) as excinfo:
        domain.record_preparation([], preparation_cmd(), TODAY)
    assert excinfo.value.details == {"field": "meeting_id"}


def test_the_preparation_is_refused_once_held(held):
    with pytest.raises(DomainRuleViolated) as excinfo:
        domain.record_preparation(held.meeting(), preparation_cmd(), TODAY)
    assert "held" in excinfo.value.message


def test_the_preparation_is_refused_once_cancelled(log):
    schedule(log)
    log.on_meeting(domain.cancel(log.meeting(), cancel_cmd()))
    with pytest.raises(DomainRuleViolated) as excinfo:
        domain.record_preparation(log.meeting(), preparation_cmd(), TODAY)
    assert "cancelled" in excinfo.value.message


# --------------------------------------------------------------------------- postpone, cancel


def test_a_meeting_is_postponed_with_its_reason(log):
    schedule(log)
    [event] = domain.postpone(log.meeting(), postpone_cmd())
    assert event == NewEvent("meeting_postponed", {
        "meeting_id": "m-1", "planned_on": date(2025, 10, 20), "reason": "Mùa gặt"})
    log.on_meeting([event])
    state = domain.meeting_state(log.meeting())
    assert (state["status"], state["planned_on"], state["postponed_reason"]) == (
        "postponed", "2025-10-20", "Mùa gặt")


def test_a_meeting_is_cancelled_with_its_reason(log):
    schedule(log)
    [event] = domain.cancel(log.meeting(), cancel_cmd())
    assert event == NewEvent("meeting_cancelled", {"meeting_id": "m-1",
                                                   "reason": "Lũ quét, chia cắt bản"})
    log.on_meeting([event])
    state = domain.meeting_state(log.meeting())
    assert (state["status"], state["cancelled_reason"]) == ("cancelled", "Lũ quét, chia cắt bản")


@pytest.mark.parametrize("schema", [c.PostponeMeeting, c.CancelMeeting])
@pytest.mark.parametrize("reason", [None, ""])
def test_postponing_or_cancelling_needs_a_reason(schema, reason):
    payload = {"meeting_id": "m-1", "planned_on": "2025-10-20"}
    if schema is c.CancelMeeting:
        del payload["planned_on"]
    if reason is not None:
        payload["reason"] = reason
    with pytest.raises(ValidationFailed) as excinfo:
        load_command(schema(), payload)
    assert set(excinfo.value.fields) == {"reason"}


@pytest.mark.parametrize("rule,cmd", [(domain.postpone, postpone_cmd),
                                      (domain.cancel, cancel_cmd)])
def test_postponing_or_cancelling_is_refused_once_held(held, rule, cmd):
    with pytest.raises(DomainRuleViolated) as excinfo:
        rule(held.meeting(), cmd())
    assert "held" in excinfo.value.message


@pytest.mark.parametrize("rule,cmd", [(domain.postpone, postpone_cmd),
                                      (domain.cancel, cancel_cmd)])
def test_postponing_or_cancelling_is_refused_once_cancelled(log, rule, cmd):
    schedule(log)
    log.on_meeting(domain.cancel(log.meeting(), cancel_cmd()))
    with pytest.raises(DomainRuleViolated) as excinfo:
        rule(log.meeting(), cmd())
    assert "cancelled" in excinfo.value.message


@pytest.mark.parametrize("rule,cmd", [(domain.postpone, postpone_cmd),
                                      (domain.cancel, cancel_cmd)])
def test_postponing_or_cancelling_a_meeting_not_scheduled_is_not_found(rule, cmd):
    with pytest.raises(NotFound):
        rule([], cmd())


def test_a_postponed_meeting_may_be_postponed_again_and_then_held(log):
    schedule(log)
    log.on_meeting(domain.postpone(log.meeting(), postpone_cmd(planned_on="2025-10-08")))
    log.on_meeting(domain.postpone(log.meeting(), postpone_cmd(planned_on="2025-10-12")))
    hold(log, minutes(held_on="2025-10-12"))
    state = domain.meeting_state(log.meeting())
    assert (state["status"], state["held_on"]) == ("held", "2025-10-12")


def test_a_cancelled_meeting_cannot_be_held(log):
    schedule(log)
    log.on_meeting(domain.cancel(log.meeting(), cancel_cmd()))
    with pytest.raises(DomainRuleViolated) as excinfo:
        record(minutes(), history=log.meeting())
    assert "cancelled" in excinfo.value.message


# --------------------------------------------------------------------------- holding: the good path


def test_a_meeting_is_recorded_with_names_counts_and_the_excused():
    cmd = command(attendance=[
        {"member_id": "dv-1", "status": "present"},
        {"member_id": "dv-2", "status": "absent_excused", "reason": "Ốm"},
        {"member_id": "dv-3", "status": "absent_unexcused"},
        {"member_id": "dv-6", "status": "present"},
        {"member_id": "dv-8", "status": "present"},
    ], kind="thematic", topic=TOPIC)
    [event] = record(cmd)
    assert event.type == "meeting_held"
    assert event.data == {
        "meeting_id": "m-1", "cell_id": "cb-1", "kind": "thematic", "topic": TOPIC,
        "held_on": HELD_ON, "place": None, "started_at": None, "ended_at": None,
        "chair_id": None, "minutes_taker_id": None, "dues_collected": None,
        "minutes": None, "conclusion": None, "agenda": [], "speakers": [],
        "duration_minutes": None,
        "attendance": [
            {"member_id": "dv-1", "status": "present", "reason": None,
             "full_name": "Hà Văn Bình", "counted": True,
             "dues_paid": None},
            {"member_id": "dv-2", "status": "absent_excused", "reason": "Ốm",
             "full_name": "Lò Thị Dung", "counted": True,
             "dues_paid": None},
            {"member_id": "dv-3", "status": "absent_unexcused", "reason": None,
             "full_name": "Vi Văn Hùng", "counted": True,
             "dues_paid": None},
            {"member_id": "dv-6", "status": "present", "reason": None,
             "full_name": "Sầm Thị Mai", "counted": True,
             "dues_paid": None},
            {"member_id": "dv-8", "status": "present", "reason": None,
             "full_name": "Đinh Văn Hải", "counted": True,
             "dues_paid": None},
            {"member_id": "dv-4", "full_name": "Lương Văn Quyết", "status": "excused",
             "reason": "Tuổi cao, sức yếu", "counted": False},
            {"member_id": "dv-5", "full_name": "Lò Văn Sơn", "status": "excused",
             "reason": "Đi làm ăn xa tại Bình Dương", "counted": False},
        ],
        "members_counted": 5, "members_present": 3, "tasks_reviewed": [],
        "self_score": None, "flags": []}
    # what is recorded is a valid meeting_held event
    stored = catalogue.validate(event.type, event.data)
    assert stored["attendance"][5]["status"] == "excused"


def test_the_minutes_are_recorded_in_full():
    [event] = record(minutes(), sheet=SHEET)
    data = event.data
    assert (data["place"], data["started_at"], data["ended_at"], data["duration_minutes"]) == (
        "Nhà văn hóa bản Máy", "19:00", "21:00", 120)
    assert (data["chair_id"], data["minutes_taker_id"], data["dues_collected"]) == (
        "dv-1", "dv-2", True)
    assert data["agenda"] == ["Kiểm điểm nghị quyết tháng trước", "Nhiệm vụ tháng tới"]
    assert data["speakers"] == ["dv-1", "dv-6", "dv-8"]
    assert data["minutes"] == "Đồng chí Bình khai mạc …"
    assert data["conclusion"] == "Thống nhất nhiệm vụ tháng 11."
    assert data["self_score"] == {"sheet_version": 1, "total": 92, "level": "good",
                                  "points": {"preparation": 14, "attendance": 18,
                                             "conduct": 42, "closing": 18}}
    assert data["flags"] == []
    catalogue.validate(event.type, data)


def test_holding_a_scheduled_meeting_keeps_what_was_planned(held):
    state = domain.meeting_state(held.meeting())
    assert state["status"] == "held"
    assert state["planned_on"] == "2025-10-05"
    assert state["preparation"]["materials_sent_on"] == "2025-10-02"
    assert state["held_event_id"] == held.meeting()[-1].event_id


def test_kind_defaults_to_regular():
    [event] = record(command())
    assert event.data["kind"] == "regular"
    assert event.data["members_counted"] == 5
    assert event.data["members_present"] == 5


@pytest.mark.parametrize("statuses,present", [
    (["present"] * 5, 5),
    (["absent_unexcused", "present", "absent_unexcused", "present", "present"], 3),
    (["absent_unexcused"] * 5, 0),
])
def test_counts_follow_the_attendance(statuses, present):
    cmd = command(attendance=[{"member_id": m, "status": s}
                              for m, s in zip(ATTENDING, statuses, strict=True)])
    [event] = record(cmd)
    assert event.data["members_counted"] == 5
    assert event.data["members_present"] == present


def test_excused_members_are_added_and_not_counted():
    [event] = record(command())
    by_id = lines(event)
    assert by_id["dv-4"]["status"] == "excused" and by_id["dv-4"]["counted"] is False
    assert by_id["dv-5"]["reason"] == "Đi làm ăn xa tại Bình Dương"
    assert by_id["dv-6"]["counted"] is True  # temporarily transferred in: attends here
    assert event.data["members_counted"] == 5  # of 7 lines


def test_an_excused_member_listed_as_present_is_shown_but_not_counted():
    cmd = command(attendance=[*command()["attendance"],
                              {"member_id": "dv-5", "status": "present"}])
    [event] = record(cmd)
    by_id = lines(event)
    assert by_id["dv-5"] == {"member_id": "dv-5", "status": "present", "reason": None,
                             "full_name": "Lò Văn Sơn", "counted": False,
                             "dues_paid": None}
    assert by_id["dv-4"]["status"] == "excused"  # the one not listed is still added
    assert len(event.data["attendance"]) == 7
    assert event.data["members_counted"] == 5
    assert event.data["members_present"] == 5


def test_an_excused_member_may_be_listed_absent_without_counting():
    cmd = command(attendance=[*command()["attendance"],
                              {"member_id": "dv-4", "status": "absent_unexcused"}])
    [event] = record(cmd)
    assert lines(event)["dv-4"]["counted"] is False
    assert event.data["members_counted"] == 5 and event.data["members_present"] == 5


def test_a_meeting_held_today_is_accepted():
    [event] = record(command(held_on=TODAY.isoformat()))
    assert event.data["held_on"] == TODAY


def test_a_member_admitted_after_the_meeting_is_not_required():
    # dv-3 was admitted on 2025-10-01; dv-6 attends from 2025-08-01; dv-5 is away from
    # 2025-09-01: a July meeting lists dv-1, dv-2, dv-5 and dv-8.
    cmd = command(held_on="2025-07-20", attendance=[
        {"member_id": m, "status": "present"} for m in ("dv-1", "dv-2", "dv-5", "dv-8")])
    [event] = record(cmd)
    assert [line["member_id"] for line in event.data["attendance"]] == [
        "dv-1", "dv-2", "dv-5", "dv-8", "dv-4"]
    assert event.data["members_counted"] == 4
    assert event.data["members_present"] == 4


def test_a_member_admitted_on_the_meeting_day_must_attend():
    cmd = command(held_on="2025-10-01", attendance=[
        {"member_id": m, "status": "present"} for m in ("dv-1", "dv-2", "dv-6", "dv-8")])
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


def test_a_member_who_only_attends_temporarily_is_not_on_the_home_cells_roll():
    # dv-6 attends cb-1 while temporarily transferred; cb-2 lists dv-6 as excused
    home = roll_on(HELD_ON, "cb-2")
    assert [m["member_id"] for m in home["must_attend"]] == ["dv-7"]
    assert [(m["member_id"], m["standing"]) for m in home["excused"]] == [
        ("dv-6", "temporarily_transferred")]
    cmd = load_command(c.RecordMeetingHeld(), {
        "meeting_id": "m-2", "cell_id": "cb-2", "held_on": "2025-10-05",
        "attendance": [{"member_id": "dv-7", "status": "present"}]})
    [event] = domain.record_held([], cmd, {**CELL, "unit_id": "cb-2"}, home, TODAY)
    assert lines(event)["dv-6"]["reason"] == "sinh hoạt tạm thời tại cb-1"
    assert event.data["members_counted"] == 1


def test_open_tasks_come_up_for_review():
    [event] = record(command(), open_tasks=["t-9", "t-2", "t-5"])
    assert event.data["tasks_reviewed"] == ["t-2", "t-5", "t-9"]


def test_open_tasks_of_the_last_meeting_are_reviewed_at_the_next(tasked):
    second = minutes(meeting_id="m-2", held_on="2025-10-12")
    open_ids = [t for t in ("t-1", "t-2")
                if domain.task_state(tasked.task(t))["state"] in domain.OPEN_TASK_STATES]
    [event] = record(second, sheet=SHEET, open_tasks=open_ids, regular_meetings_that_month=1)
    assert event.data["tasks_reviewed"] == ["t-1", "t-2"]


# --------------------------------------------------------------------------- holding: flags


def test_a_second_regular_meeting_that_month_is_recorded_and_flagged():
    [first] = record(minutes(), regular_meetings_that_month=0)
    [extra] = record(minutes(), regular_meetings_that_month=1)
    assert first.data["flags"] == []
    assert extra.data["flags"] == ["extra_regular_meeting"]
    assert extra.data["kind"] == "regular"


def test_a_combined_meeting_counts_as_the_regular_one():
    [event] = record(minutes(kind="combined", topic=TOPIC, ended_at="21:00"),
                     regular_meetings_that_month=1)
    assert event.data["flags"] == ["extra_regular_meeting"]


def test_a_thematic_meeting_is_never_an_extra_regular_meeting():
    [event] = record(minutes(kind="thematic", topic=TOPIC), regular_meetings_that_month=3)
    assert event.data["flags"] == []


@pytest.mark.parametrize("kind,ended_at,duration,flagged", [
    ("regular", "20:29", 89, True),
    ("regular", "20:30", 90, False),
    ("thematic", "20:29", 89, True),
    ("thematic", "20:30", 90, False),
    ("combined", "20:59", 119, True),
    ("combined", "21:00", 120, False),
])
def test_a_short_meeting_is_recorded_and_flagged(kind, ended_at, duration, flagged):
    cmd = minutes(kind=kind, topic=TOPIC if kind != "regular" else None,
                  started_at="19:00", ended_at=ended_at)
    [event] = record(cmd)
    assert event.data["duration_minutes"] == duration
    assert event.data["flags"] == (["short_meeting"] if flagged else [])


def test_a_meeting_may_carry_both_flags():
    [event] = record(minutes(ended_at="19:45"), regular_meetings_that_month=1)
    assert event.data["flags"] == ["extra_regular_meeting", "short_meeting"]


def test_a_meeting_without_both_times_has_no_duration_and_no_short_flag():
    [event] = record(minutes(ended_at=None))
    assert event.data["duration_minutes"] is None
    assert event.data["flags"] == []


@pytest.mark.parametrize("ended_at", ["18:59", "19:00"])
def test_an_end_not_after_the_start_is_refused(ended_at):
    fields = problems(minutes(started_at="19:00", ended_at=ended_at))
    assert set(fields) == {"ended_at"}


def test_the_schema_wants_times_as_hh_mm():
    with pytest.raises(ValidationFailed) as excinfo:
        minutes(started_at="7pm", ended_at="24:00")
    assert set(excinfo.value.fields) == {"started_at", "ended_at"}


# --------------------------------------------------------------------------- holding: refusals


def test_a_meeting_already_recorded_is_refused(held):
    with pytest.raises(DomainRuleViolated) as excinfo:
        record(minutes(), history=held.meeting())
    assert excinfo.value.details == {"meeting_id": "m-1"}
    assert "already held" in excinfo.value.message
    assert "correction" in excinfo.value.message


def test_a_meeting_scheduled_for_another_cell_is_refused(log):
    schedule(log, cell_id="cb-2")
    fields = problems(command(), history=log.meeting())
    assert set(fields) == {"cell_id"}


def test_a_thematic_meeting_held_without_its_topic_is_refused():
    assert set(problems(command(kind="thematic"))) == {"topic"}
    assert set(problems(command(kind="combined"))) == {"topic"}


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
    assert set(excinfo.value.fields) == {"cell_id"}
    message = excinfo.value.fields["cell_id"][0]
    assert "Chi bộ Bản Máy" in message and "05/10/2025" in message


def test_a_meeting_in_the_future_is_refused():
    fields = problems(command(held_on="2025-10-16"), roster=roll_on(TODAY))
    assert set(fields) == {"held_on"}
    assert "future" in fields["held_on"][0]


def test_a_member_listed_twice_is_refused():
    cmd = command(attendance=[*command()["attendance"],
                              {"member_id": "dv-1", "status": "absent_unexcused"}])
    fields = problems(cmd)
    assert set(fields) == {"attendance.5.member_id"}
    assert "dv-1" in fields["attendance.5.member_id"][0]
    assert "twice" in fields["attendance.5.member_id"][0]


@pytest.mark.parametrize("outsider", ["dv-99", "dv-7"])  # unknown; a member of another cell
def test_a_non_member_listed_is_refused(outsider):
    cmd = command(attendance=[*command()["attendance"],
                              {"member_id": outsider, "status": "present"}])
    fields = problems(cmd)
    assert set(fields) == {"attendance.5.member_id"}
    assert outsider in fields["attendance.5.member_id"][0]


def test_missing_members_are_named():
    cmd = command(attendance=[{"member_id": "dv-2", "status": "present"}])
    fields = problems(cmd)
    assert set(fields) == {"attendance"}
    message = fields["attendance"][0]
    assert all(m in message for m in ("dv-1", "dv-3", "dv-6", "dv-8"))
    assert "dv-2" not in message
    assert "dv-4" not in message and "dv-5" not in message  # the excused need not be listed


@pytest.mark.parametrize("reason_line", [{}, {"reason": None}, {"reason": ""},
                                         {"reason": "   "}])
def test_an_excused_absence_needs_its_reason(reason_line):
    cmd = command(attendance=[
        {"member_id": "dv-1", "status": "present"},
        {"member_id": "dv-2", "status": "absent_excused", **reason_line},
        {"member_id": "dv-3", "status": "present"},
        {"member_id": "dv-6", "status": "present"},
        {"member_id": "dv-8", "status": "present"}])
    fields = problems(cmd)
    assert set(fields) == {"attendance.1.reason"}


def test_an_unexcused_absence_needs_no_reason():
    cmd = command(attendance=[
        {"member_id": "dv-1", "status": "absent_unexcused"},
        *({"member_id": m, "status": "present"} for m in ATTENDING[1:])])
    [event] = record(cmd)
    assert event.data["members_present"] == 4


@pytest.mark.parametrize("role", ["chair_id", "minutes_taker_id"])
@pytest.mark.parametrize("outsider", ["dv-7", "dv-99"])
def test_the_chair_and_minutes_taker_must_be_cell_members(role, outsider):
    fields = problems(minutes(**{role: outsider}), sheet=SHEET)
    assert set(fields) == {role}


def test_speakers_must_be_cell_members():
    fields = problems(minutes(speakers=["dv-1", "dv-7", "dv-99"]), sheet=SHEET)
    assert set(fields) == {"speakers"}
    assert "dv-7" in fields["speakers"][0] and "dv-99" in fields["speakers"][0]
    assert "dv-1" not in fields["speakers"][0]


def test_every_problem_is_reported_at_once():
    cmd = minutes(attendance=[
        {"member_id": "dv-1", "status": "absent_excused"},
        {"member_id": "dv-1", "status": "present"},
        {"member_id": "dv-42", "status": "present"}],
        chair_id="dv-7", speakers=["dv-42"], started_at="20:00", ended_at="19:00",
        scores={**points(80), "conduct": 50})
    fields = problems(cmd, sheet=SHEET)
    assert set(fields) == {"attendance.0.reason", "attendance.1.member_id",
                           "attendance.2.member_id", "attendance", "chair_id", "speakers",
                           "ended_at", "scores.conduct"}
    assert all(m in fields["attendance"][0] for m in ("dv-2", "dv-3", "dv-6", "dv-8"))


# --------------------------------------------------------------------------- holding: self-score


@pytest.mark.parametrize("total,level", [
    (100, "good"), (90, "good"), (89, "fair"), (70, "fair"), (69, "average"),
    (50, "average"), (49, "poor"), (0, "poor"),
])
def test_the_self_score_earns_its_level(total, level):
    [event] = record(minutes(scores=points(total)), sheet=SHEET)
    assert event.data["self_score"] == {"sheet_version": 1, "points": points(total),
                                        "total": total, "level": level}


@pytest.mark.parametrize("name,value", [("preparation", 16), ("attendance", 21),
                                        ("conduct", 46), ("closing", 21), ("conduct", -1)])
def test_a_score_out_of_range_is_refused_by_name(name, value):
    fields = problems(minutes(scores={**points(60), name: value}), sheet=SHEET)
    assert set(fields) == {f"scores.{name}"}
    if value > 0:
        assert str(SHEET.criteria[name]["max"]) in fields[f"scores.{name}"][0]


def test_an_unknown_criterion_is_refused_by_name():
    fields = problems(minutes(scores={**points(60), "discipline": 5}), sheet=SHEET)
    assert set(fields) == {"scores.discipline"}


def test_a_missing_criterion_is_refused_by_name():
    scores = points(60)
    del scores["closing"]
    fields = problems(minutes(scores=scores), sheet=SHEET)
    assert set(fields) == {"scores.closing"}


def test_a_meeting_without_scores_has_no_self_score():
    [event] = record(minutes(scores=None), sheet=SHEET)
    assert event.data["self_score"] is None


def test_the_self_score_is_kept_with_the_meeting(held):
    state = domain.meeting_state(held.meeting())
    assert (state["self_score"]["total"], state["self_score"]["level"]) == (92, "good")


# --------------------------------------------------------------------------- corrections


def correction(**fields: Any) -> dict[str, Any]:
    return load_command(c.CorrectMeeting(), {
        "meeting_id": "m-1", "changes": {"minutes": "Đồng chí Bình khai mạc lúc 19 giờ …"},
        "reason": "Đọc lại biên bản: thiếu giờ khai mạc", **fields})


def test_a_correction_references_the_held_event(held):
    held_event = held.meeting()[-1]
    [event] = domain.correct(held.meeting(), correction())
    assert event == NewEvent("meeting_corrected", {
        "meeting_id": "m-1", "corrects_event_id": held_event.event_id,
        "changes": {"minutes": "Đồng chí Bình khai mạc lúc 19 giờ …"},
        "reason": "Đọc lại biên bản: thiếu giờ khai mạc"})


def test_the_state_applies_corrections_and_the_original_stays_in_history(held):
    original = dict(held.meeting()[-1].data)
    [first] = held.on_meeting(domain.correct(held.meeting(), correction()))
    [second] = held.on_meeting(domain.correct(held.meeting(), correction(
        changes={"speakers": ["dv-1", "dv-6"], "conclusion": "Thống nhất."},
        reason="Đồng chí Hải không phát biểu")))
    state = domain.meeting_state(held.meeting())
    assert state["minutes"] == "Đồng chí Bình khai mạc lúc 19 giờ …"
    assert state["speakers"] == ["dv-1", "dv-6"]
    assert state["conclusion"] == "Thống nhất."
    assert state["chair_id"] == "dv-1"  # untouched fields stay as recorded
    assert state["corrections"] == [
        {"event_id": first.event_id, "reason": "Đọc lại biên bản: thiếu giờ khai mạc",
         "changes": {"minutes": "Đồng chí Bình khai mạc lúc 19 giờ …"}},
        {"event_id": second.event_id, "reason": "Đồng chí Hải không phát biểu",
         "changes": {"speakers": ["dv-1", "dv-6"], "conclusion": "Thống nhất."}}]
    # every correction references the minutes as held; those are never edited
    held_event = [e for e in held.meeting() if e.type == "meeting_held"]
    assert [e.data["corrects_event_id"] for e in (first, second)] == [held_event[0].event_id] * 2
    assert held_event[0].data == original
    assert held_event[0].data["minutes"] == "Đồng chí Bình khai mạc …"
    assert [e.type for e in held.meeting()] == [
        "meeting_scheduled", "meeting_prepared", "meeting_held", "meeting_corrected",
        "meeting_corrected"]


def test_only_held_meetings_are_corrected(log):
    with pytest.raises(DomainRuleViolated):
        domain.correct([], correction())
    schedule(log)
    with pytest.raises(DomainRuleViolated):
        domain.correct(log.meeting(), correction())
    log.on_meeting(domain.cancel(log.meeting(), cancel_cmd()))
    with pytest.raises(DomainRuleViolated):
        domain.correct(log.meeting(), correction())


@pytest.mark.parametrize("field", ["attendance", "cell_id", "held_on", "kind", "self_score",
                                   "members_present", "flags", "meeting_id"])
def test_only_correctable_fields_may_be_corrected(held, field):
    with pytest.raises(ValidationFailed) as excinfo:
        domain.correct(held.meeting(), correction(changes={"minutes": "…", field: "x"}))
    assert set(excinfo.value.fields) == {"changes"}
    assert field in excinfo.value.fields["changes"][0]


def test_a_correction_changes_something(held):
    with pytest.raises(ValidationFailed) as excinfo:
        domain.correct(held.meeting(), correction(changes={}))
    assert set(excinfo.value.fields) == {"changes"}


def test_a_correction_needs_its_reason():
    with pytest.raises(ValidationFailed) as excinfo:
        load_command(c.CorrectMeeting(), {"meeting_id": "m-1", "changes": {"minutes": "…"}})
    assert set(excinfo.value.fields) == {"reason"}


def test_correcting_the_times_recomputes_the_duration_and_the_short_flag(held):
    held.on_meeting(domain.correct(held.meeting(), correction(
        changes={"ended_at": "20:00"}, reason="Kết thúc lúc 20 giờ")))
    state = domain.meeting_state(held.meeting())
    assert state["ended_at"] == "20:00"
    assert state["duration_minutes"] == 60
    assert "short_meeting" in state["flags"]


def test_a_correction_with_the_end_before_the_start_is_refused(held):
    with pytest.raises(ValidationFailed) as excinfo:
        domain.correct(held.meeting(), correction(changes={"ended_at": "18:00"}))
    assert set(excinfo.value.fields) == {"ended_at"}


# --------------------------------------------------------------------------- resolutions


def test_a_resolution_is_adopted_with_its_vote_and_tasks(held):
    version = len(held.meeting())
    appends = adopt(held)
    assert [(a.stream_id, a.expected_version) for a in appends] == [
        ("meeting-m-1", version), ("task-t-1", 0), ("task-t-2", 0)]
    [resolution] = appends[0].events
    assert resolution == NewEvent("resolution_adopted", {
        "meeting_id": "m-1", "resolution_id": "nq-1", "cell_id": "cb-1",
        "title": "Nghị quyết sinh hoạt tháng 10", "text": "Chi bộ quyết nghị …",
        "vote": {"in_favour": 3, "against": 0, "abstaining": 1, "eligible": 4},
        "task_ids": ["t-1", "t-2"]})
    assert [a.events[0] for a in appends[1:]] == [
        NewEvent("task_assigned", {
            "task_id": "t-1", "cell_id": "cb-1", "meeting_id": "m-1", "resolution_id": "nq-1",
            "title": "Vận động đóng đảng phí đúng hạn", "assignee_id": "dv-2",
            "assignee_name": "Lò Thị Dung", "due_on": date(2025, 10, 31)}),
        NewEvent("task_assigned", {
            "task_id": "t-2", "cell_id": "cb-1", "meeting_id": "m-1", "resolution_id": "nq-1",
            "title": "Sửa đường liên bản", "assignee_id": None, "assignee_name": "Chi ủy",
            "due_on": date(2025, 11, 30)})]
    held.append(appends)
    state = domain.meeting_state(held.meeting())
    assert [r["resolution_id"] for r in state["resolutions"]] == ["nq-1"]
    assert state["resolutions"][0]["vote"]["eligible"] == 4


def test_eligible_voters_are_the_full_members_due_to_attend():
    # dv-3 is probationary; dv-4 and dv-5 are full but excused that day
    on_day = roll_on(HELD_ON)
    eligible = [m["member_id"] for m in on_day["must_attend"] if m["status"] == "full"]
    assert sorted(eligible) == ["dv-1", "dv-2", "dv-6", "dv-8"]


def test_task_ids_are_generated_when_not_given(held):
    cmd = resolution_cmd(tasks=[{"title": "Phát triển đảng viên mới", "assignee_id": "dv-8",
                                 "due_on": "2025-12-31"}])
    appends = adopt(held, cmd)
    [task_id] = appends[0].events[0].data["task_ids"]
    assert task_id and appends[1].stream_id == domain.task_stream(task_id)
    assert appends[1].events[0].data["task_id"] == task_id


def test_a_resolution_without_tasks_is_adopted(held):
    appends = adopt(held, resolution_cmd(tasks=[]))
    assert len(appends) == 1 and appends[0].events[0].data["task_ids"] == []


@pytest.mark.parametrize("in_favour,against,abstaining", [(2, 2, 0), (2, 0, 0), (1, 1, 1),
                                                          (0, 0, 0)])
def test_half_or_fewer_in_favour_is_not_adopted(held, in_favour, against, abstaining):
    vote = {"in_favour": in_favour, "against": against, "abstaining": abstaining}
    with pytest.raises(DomainRuleViolated) as excinfo:
        adopt(held, resolution_cmd(vote=vote))
    assert excinfo.value.details == {"field": "vote"}
    assert f"{in_favour} of 4" in excinfo.value.message


@pytest.mark.parametrize("in_favour,against,abstaining", [(3, 1, 0), (3, 0, 0), (4, 0, 0)])
def test_more_than_half_in_favour_is_adopted(held, in_favour, against, abstaining):
    vote = {"in_favour": in_favour, "against": against, "abstaining": abstaining}
    [resolution, *_] = adopt(held, resolution_cmd(vote=vote))
    assert resolution.events[0].data["vote"] == {**vote, "eligible": 4}


@pytest.mark.parametrize("in_favour,against,abstaining", [(5, 0, 0), (3, 1, 1), (4, 0, 1)])
def test_more_votes_than_eligible_members_are_refused(held, in_favour, against, abstaining):
    vote = {"in_favour": in_favour, "against": against, "abstaining": abstaining}
    with pytest.raises(ValidationFailed) as excinfo:
        adopt(held, resolution_cmd(vote=vote))
    assert set(excinfo.value.fields) == {"vote"}
    assert "4" in excinfo.value.fields["vote"][0]


def test_the_schema_refuses_negative_votes():
    with pytest.raises(ValidationFailed) as excinfo:
        resolution_cmd(vote={"in_favour": 3, "against": -1, "abstaining": 0})
    assert set(excinfo.value.fields) == {"vote"}


@pytest.mark.parametrize("outsider", ["dv-7", "dv-99"])
def test_tasks_go_to_members_of_the_cell(held, outsider):
    cmd = resolution_cmd(tasks=[
        {"task_id": "t-1", "title": "Việc một", "assignee_id": "dv-2", "due_on": "2025-10-31"},
        {"task_id": "t-2", "title": "Việc hai", "assignee_id": outsider,
         "due_on": "2025-10-31"}])
    with pytest.raises(ValidationFailed) as excinfo:
        adopt(held, cmd)
    assert set(excinfo.value.fields) == {"tasks.1.assignee_id"}


def test_a_task_due_before_the_meeting_is_refused_and_on_its_day_accepted(held):
    cmd = resolution_cmd(tasks=[
        {"task_id": "t-1", "title": "Việc một", "assignee_id": None, "due_on": "2025-10-05"},
        {"task_id": "t-2", "title": "Việc hai", "assignee_id": None, "due_on": "2025-10-04"}])
    with pytest.raises(ValidationFailed) as excinfo:
        adopt(held, cmd)
    assert set(excinfo.value.fields) == {"tasks.1.due_on"}
    cmd["tasks"] = cmd["tasks"][:1]
    assert adopt(held, cmd)[1].events[0].data["due_on"] == HELD_ON


def test_every_task_problem_is_reported_at_once(held):
    cmd = resolution_cmd(tasks=[
        {"task_id": "t-1", "title": "Việc một", "assignee_id": "dv-7", "due_on": "2025-10-01"},
        {"task_id": "t-2", "title": "Việc hai", "assignee_id": "dv-1", "due_on": "2025-10-31"},
        {"task_id": "t-3", "title": "Việc ba", "assignee_id": None, "due_on": "2025-09-30"}])
    with pytest.raises(ValidationFailed) as excinfo:
        adopt(held, cmd)
    assert set(excinfo.value.fields) == {"tasks.0.assignee_id", "tasks.0.due_on",
                                         "tasks.2.due_on"}


def test_a_resolution_at_a_meeting_not_held_is_refused(log):
    with pytest.raises(DomainRuleViolated):
        adopt(log)
    schedule(log)
    with pytest.raises(DomainRuleViolated) as excinfo:
        adopt(log)
    assert "not held" in excinfo.value.message
    log.on_meeting(domain.cancel(log.meeting(), cancel_cmd()))
    with pytest.raises(DomainRuleViolated):
        adopt(log)


def test_a_resolution_id_is_adopted_once(tasked):
    with pytest.raises(DomainRuleViolated):
        adopt(tasked, resolution_cmd(tasks=[]))


def test_adopting_on_a_stale_version_conflicts(tasked):
    stale = domain.adopt_resolution(tasked.meeting()[:-1], len(tasked.meeting()) - 1,
                                    resolution_cmd(resolution_id="nq-2", tasks=[]),
                                    roll_on(HELD_ON))
    with pytest.raises(ConcurrencyError):
        tasked.append(stale)


# --------------------------------------------------------------------------- tasks


def test_an_assigned_task_has_state(tasked):
    state = domain.task_state(tasked.task("t-1"))
    assert state == {"task_id": "t-1", "cell_id": "cb-1", "meeting_id": "m-1",
                     "resolution_id": "nq-1", "title": "Vận động đóng đảng phí đúng hạn",
                     "assignee_id": "dv-2", "assignee_name": "Lò Thị Dung",
                     "due_on": "2025-10-31", "state": "assigned", "progress": []}


def test_progress_is_noted_and_the_task_stays_open(tasked):
    for note in ("Đã thu 80%", "Đã thu 95%"):
        [event] = domain.note_progress(tasked.task("t-1"), load_command(
            c.NoteProgress(), {"task_id": "t-1", "note": note}), TODAY)
        assert event == NewEvent("task_progress_noted", {"task_id": "t-1", "note": note,
                                                         "noted_on": TODAY})
        tasked.on_task([event], "t-1")
    state = domain.task_state(tasked.task("t-1"))
    assert state["state"] == "assigned"
    assert state["progress"] == [{"note": "Đã thu 80%", "noted_on": "2025-10-15"},
                                 {"note": "Đã thu 95%", "noted_on": "2025-10-15"}]


def complete_cmd(**fields: Any) -> dict[str, Any]:
    return load_command(c.CompleteTask(), {"task_id": "t-1",
                                           "result": "100% đảng viên đã đóng", **fields})


def cancel_task_cmd(**fields: Any) -> dict[str, Any]:
    return load_command(c.CancelTask(), {"task_id": "t-1",
                                         "reason": "Cấp trên đã làm thay", **fields})


def progress_cmd(**fields: Any) -> dict[str, Any]:
    return load_command(c.NoteProgress(), {"task_id": "t-1", "note": "Đang làm", **fields})


def test_a_task_is_completed_with_its_result(tasked):
    [event] = domain.complete_task(tasked.task("t-1"), complete_cmd(), TODAY)
    assert event == NewEvent("task_completed", {"task_id": "t-1",
                                                "result": "100% đảng viên đã đóng",
                                                "completed_on": TODAY})
    tasked.on_task([event], "t-1")
    state = domain.task_state(tasked.task("t-1"))
    assert (state["state"], state["result"], state["completed_on"]) == (
        "completed", "100% đảng viên đã đóng", "2025-10-15")


def test_a_task_completed_earlier_keeps_its_day_and_not_in_the_future(tasked):
    [event] = domain.complete_task(tasked.task("t-1"), complete_cmd(completed_on="2025-10-10"),
                                   TODAY)
    assert event.data["completed_on"] == date(2025, 10, 10)
    with pytest.raises(ValidationFailed) as excinfo:
        domain.complete_task(tasked.task("t-1"), complete_cmd(completed_on="2025-10-16"), TODAY)
    assert set(excinfo.value.fields) == {"completed_on"}


def test_a_task_is_cancelled_with_its_reason(tasked):
    [event] = domain.cancel_task(tasked.task("t-1"), cancel_task_cmd(), TODAY)
    assert event == NewEvent("task_cancelled", {"task_id": "t-1",
                                                "reason": "Cấp trên đã làm thay",
                                                "cancelled_on": TODAY})
    tasked.on_task([event], "t-1")
    state = domain.task_state(tasked.task("t-1"))
    assert (state["state"], state["cancelled_reason"]) == ("cancelled", "Cấp trên đã làm thay")


@pytest.mark.parametrize("ending", ["completed", "cancelled"])
@pytest.mark.parametrize("rule,cmd", [
    (domain.note_progress, progress_cmd), (domain.complete_task, complete_cmd),
    (domain.cancel_task, cancel_task_cmd)])
def test_a_finished_task_refuses_further_changes(tasked, ending, rule, cmd):
    end = (domain.complete_task(tasked.task("t-1"), complete_cmd(), TODAY)
           if ending == "completed"
           else domain.cancel_task(tasked.task("t-1"), cancel_task_cmd(), TODAY))
    tasked.on_task(end, "t-1")
    with pytest.raises(DomainRuleViolated) as excinfo:
        rule(tasked.task("t-1"), cmd(), TODAY)
    assert ending in excinfo.value.message


@pytest.mark.parametrize("rule,cmd", [
    (domain.note_progress, progress_cmd), (domain.complete_task, complete_cmd),
    (domain.cancel_task, cancel_task_cmd)])
def test_an_unknown_task_is_not_found(rule, cmd):
    with pytest.raises(NotFound) as excinfo:
        rule([], cmd(task_id="t-404"), TODAY)
    assert excinfo.value.details == {"field": "task_id"}


# --------------------------------------------------------------------------- overdue


def test_a_task_past_its_due_day_is_overdue(tasked):
    after = date(2025, 11, 1)  # t-1 is due 31/10/2025
    [event] = domain.overdue(tasked.task("t-1"), after)
    assert event == NewEvent("task_overdue", {"task_id": "t-1", "due_on": date(2025, 10, 31),
                                              "noticed_on": after})
    tasked.on_task([event], "t-1")
    assert domain.task_state(tasked.task("t-1"))["state"] == "overdue"


@pytest.mark.parametrize("today", [date(2025, 10, 15), date(2025, 10, 30), date(2025, 10, 31)])
def test_a_task_is_not_overdue_up_to_and_on_its_due_day(tasked, today):
    assert domain.overdue(tasked.task("t-1"), today) == []


def test_a_task_is_marked_overdue_only_once(tasked):
    tasked.on_task(domain.overdue(tasked.task("t-1"), date(2025, 11, 1)), "t-1")
    assert domain.overdue(tasked.task("t-1"), date(2025, 11, 2)) == []
    assert domain.overdue(tasked.task("t-1"), date(2026, 3, 1)) == []


def test_progress_does_not_keep_a_task_from_being_overdue(tasked):
    tasked.on_task(domain.note_progress(tasked.task("t-1"), progress_cmd(), TODAY), "t-1")
    assert len(domain.overdue(tasked.task("t-1"), date(2025, 11, 1))) == 1


@pytest.mark.parametrize("ending", ["completed", "cancelled"])
def test_a_finished_task_is_never_overdue(tasked, ending):
    end = (domain.complete_task(tasked.task("t-1"), complete_cmd(), TODAY)
           if ending == "completed"
           else domain.cancel_task(tasked.task("t-1"), cancel_task_cmd(), TODAY))
    tasked.on_task(end, "t-1")
    assert domain.overdue(tasked.task("t-1"), date(2026, 1, 1)) == []


def test_nothing_is_overdue_for_a_task_that_does_not_exist():
    assert domain.overdue([], TODAY) == []


def test_an_overdue_task_is_still_open(tasked):
    late = date(2025, 11, 3)
    tasked.on_task(domain.overdue(tasked.task("t-1"), late - timedelta(days=1)), "t-1")
    assert "overdue" in domain.OPEN_TASK_STATES
    tasked.on_task(domain.note_progress(tasked.task("t-1"), progress_cmd(), late), "t-1")
    tasked.on_task(domain.complete_task(tasked.task("t-1"), complete_cmd(), late), "t-1")
    state = domain.task_state(tasked.task("t-1"))
    assert (state["state"], state["completed_on"], len(state["progress"])) == (
        "completed", "2025-11-03", 1)


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
        load_command(c.RecordMeetingHeld(), {"kind": "weekly", "held_on": "05/10/2025",
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
    assert cmd["held_on"] == HELD_ON
    assert cmd["kind"] == "regular"
    assert [line["reason"] for line in cmd["attendance"]] == [None] * 5
