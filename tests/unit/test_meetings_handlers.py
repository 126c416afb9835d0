"""Meetings' command handlers through the kernel's pipeline on an in-memory SQLite store,
without nameko: the roster replica is a stand-in that counts its syncs, so these show
when a command syncs the replica from members' log before deciding, when it syncs and
decides once more, and that a refusal a sync cannot mend writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from chibo.commands import Pipeline
from chibo.db import create_schema, make_engine, session_factory
from chibo.errors import DomainRuleViolated, NotFound, ValidationFailed
from chibo.eventstore.store import EventStore, RecordedEvent
from chibo.eventstore.tables import events
from services.meetings import handlers, read_model, replica
from services.meetings.handlers import NO_ROLL, Cell, Deps, Roll
from services.shared.events.meetings import catalogue
from services.shared.score_sheet import default_sheets
from services.shared.tree import default_kinds
from tests.support import TODAY, SessionRuntime

ESTABLISHED = date(2020, 1, 1)


def a_cell(cell_id: str) -> Cell:
    return {"unit_id": cell_id, "name": f"Chi bộ {cell_id}", "kind": "cell", "meets": True,
            "active": True, "established_on": ESTABLISHED, "dissolved_on": None}


def a_roll(*member_ids: str) -> Roll:
    return {"must_attend": [{"member_id": m, "full_name": f"Đảng viên {m}", "status": "full",
                             "attends": "home"} for m in member_ids],
            "excused": []}


class Roster:
    """The replica as handlers see it: what it holds now, and what a sync brings."""

    def __init__(self, now: dict[str, tuple[Cell, Roll]],
                 after_sync: dict[str, tuple[Cell, Roll]] | None = None) -> None:
        self.cells = now
        self.after_sync = now if after_sync is None else after_sync
        self.syncs = 0
        self.reads = 0

    def read(self, cell_id: str, day: date, listed: list[str]
             ) -> tuple[Cell | None, Roll, bool]:
        self.reads += 1
        cell, roll = self.cells.get(cell_id, (None, NO_ROLL))
        known = {m["member_id"] for _, r in self.cells.values()
                 for m in (*r["must_attend"], *r["excused"])}
        return cell, roll, set(listed) <= known

    def sync(self) -> None:
        self.syncs += 1
        self.cells = self.after_sync




def runtime(factory: Any, command_id: str | None = None,
            actor: str = "cán bộ Hà") -> SessionRuntime:
    return SessionRuntime(factory, catalogue, command_id, actor)


@pytest.fixture
def factory() -> Iterator[Any]:
    engine = make_engine("sqlite://")
    create_schema(engine, replica.metadata, read_model.metadata)
    yield session_factory(engine)
    engine.dispose()


def run(factory: Any, roster: Roster, name: str, body: dict[str, Any]) -> dict[str, Any]:
    def read_stream(stream_id: str) -> list[RecordedEvent]:
        with factory() as session, session.begin():
            return EventStore(session, catalogue).read_stream(stream_id)
    deps = Deps(today=TODAY, kinds=default_kinds(), sheets=default_sheets(),
                read_roster=roster.read, sync_roster=roster.sync, read_stream=read_stream)
    pipeline = Pipeline(handlers.registry, index=read_model.index)
    return pipeline.run(name, body, deps, runtime(factory))


def held(meeting_id: str, cell_id: str, *present: str, **more: Any) -> dict[str, Any]:
    return {"meeting_id": meeting_id, "cell_id": cell_id, "held_on": TODAY.isoformat(),
            "attendance": [{"member_id": m, "status": "present"} for m in present], **more}


def events_written(factory: Any) -> int:
    with factory() as session:
        return session.execute(select(func.count()).select_from(events)).scalar_one()


def test_a_cell_the_replica_has_not_seen_is_synced_before_scheduling(factory):
    roster = Roster({}, after_sync={"cb1": (a_cell("cb1"), a_roll("m1"))})
    answer = run(factory, roster, "schedule_meeting",
                 {"meeting_id": "m-1", "cell_id": "cb1", "planned_on": TODAY.isoformat()})
    assert answer["meeting_id"] == "m-1" and len(answer["events"]) == 1
    assert roster.syncs == 1


def test_a_cell_the_replica_knows_is_scheduled_without_a_sync(factory):
    roster = Roster({"cb1": (a_cell("cb1"), a_roll("m1"))})
    run(factory, roster, "schedule_meeting",
        {"meeting_id": "m-1", "cell_id": "cb1", "planned_on": TODAY.isoformat()})
    assert roster.syncs == 0


def test_a_cell_unknown_after_the_sync_is_not_found_and_nothing_is_written(factory):
    roster = Roster({})
    with pytest.raises(NotFound):
        run(factory, roster, "schedule_meeting",
            {"cell_id": "cb9", "planned_on": TODAY.isoformat()})
    assert roster.syncs == 1 and events_written(factory) == 0


def test_a_member_the_replica_has_not_seen_is_synced_before_deciding(factory):
    roster = Roster({"cb1": (a_cell("cb1"), a_roll("m1"))},
                    after_sync={"cb1": (a_cell("cb1"), a_roll("m1", "m2"))})
    run(factory, roster, "record_meeting_held", held("m-1", "cb1", "m1", "m2"))
    assert roster.syncs == 1 and events_written(factory) == 1


def test_a_transfer_the_replica_missed_is_synced_and_the_meeting_decided_again(factory):
    # The replica knows m2, but still in cb2: the roll refuses m2 in cb1 until the sync.
    roster = Roster({"cb1": (a_cell("cb1"), a_roll("m1")),
                     "cb2": (a_cell("cb2"), a_roll("m2"))},
                    after_sync={"cb1": (a_cell("cb1"), a_roll("m1", "m2")),
                                "cb2": (a_cell("cb2"), a_roll())})
    answer = run(factory, roster, "record_meeting_held", held("m-1", "cb1", "m1", "m2"))
    assert answer["meeting_id"] == "m-1"
    assert roster.syncs == 1 and events_written(factory) == 1


def test_a_refusal_after_the_sync_is_decided_once(factory):
    roster = Roster({"cb1": (a_cell("cb1"), a_roll("m1")),
                     "cb2": (a_cell("cb2"), a_roll("m2"))})
    with pytest.raises(ValidationFailed) as refused:
        run(factory, roster, "record_meeting_held", held("m-1", "cb1", "m1", "m2"))
    assert "attendance.1.member_id" in refused.value.fields
    assert roster.syncs == 1 and events_written(factory) == 0


def test_a_rule_violated_is_not_retried(factory):
    roster = Roster({"cb1": (a_cell("cb1"), a_roll("m1"))})
    run(factory, roster, "record_meeting_held", held("m-1", "cb1", "m1"))
    with pytest.raises(DomainRuleViolated):
        run(factory, roster, "record_meeting_held", held("m-1", "cb1", "m1"))
    # One sync before each decision (the roll is read fresh), none to retry the refusal.
    assert roster.syncs == 2 and events_written(factory) == 1


def test_a_meeting_in_the_future_is_refused_after_one_sync(factory):
    # The roll is read after a sync, so a refusal is final: decided once.
    roster = Roster({"cb1": (a_cell("cb1"), a_roll("m1"))})
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    with pytest.raises(ValidationFailed) as refused:
        run(factory, roster, "record_meeting_held",
            {**held("m-1", "cb1", "m1"), "held_on": tomorrow})
    assert set(refused.value.fields) == {"held_on"}
    assert roster.syncs == 1 and events_written(factory) == 0


def test_a_correction_is_checked_against_the_roll_of_the_day_it_was_held(factory):
    roster = Roster({"cb1": (a_cell("cb1"), a_roll("m1", "m2"))})
    run(factory, roster, "record_meeting_held", held("m-1", "cb1", "m1", "m2"))
    with pytest.raises(ValidationFailed) as refused:
        run(factory, roster, "correct_meeting", {
            "meeting_id": "m-1", "changes": {"chair_id": "m9"}, "reason": "Ghi nhầm"})
    assert refused.value.fields == {"chair_id": ["Not a member of this cell."]}
    answer = run(factory, roster, "correct_meeting", {
        "meeting_id": "m-1", "changes": {"chair_id": "m2"}, "reason": "Ghi nhầm"})
    assert answer["meeting_id"] == "m-1" and events_written(factory) == 2


def test_a_resolution_at_a_meeting_not_held_reads_no_roll(factory):
    roster = Roster({"cb1": (a_cell("cb1"), a_roll("m1"))})
    run(factory, roster, "schedule_meeting",
        {"meeting_id": "m-1", "cell_id": "cb1", "planned_on": TODAY.isoformat()})
    reads = roster.reads
    with pytest.raises(DomainRuleViolated):
        run(factory, roster, "adopt_resolution", {
            "meeting_id": "m-1", "title": "Nghị quyết",
            "vote": {"in_favour": 1, "against": 0, "abstaining": 0}})
    assert roster.reads == reads and events_written(factory) == 1


def test_a_resolution_and_its_task_answer_their_ids(factory):
    roster = Roster({"cb1": (a_cell("cb1"), a_roll("m1", "m2", "m3"))})
    run(factory, roster, "record_meeting_held", held("m-1", "cb1", "m1", "m2", "m3"))
    adopted = run(factory, roster, "adopt_resolution", {
        "meeting_id": "m-1", "resolution_id": "r-1", "title": "Nghị quyết",
        "vote": {"in_favour": 2, "against": 1, "abstaining": 0},
        "tasks": [{"task_id": "t-1", "title": "Sửa đường", "assignee_id": "m1",
                   "due_on": (TODAY + timedelta(days=30)).isoformat()}]})
    assert (adopted["meeting_id"], adopted["resolution_id"]) == ("m-1", "r-1")
    noted = run(factory, roster, "note_task_progress", {"task_id": "t-1", "note": "Đã làm"})
    done = run(factory, roster, "complete_task", {"task_id": "t-1", "result": "Xong"})
    assert noted["task_id"] == done["task_id"] == "t-1"
    assert [h.name for h in handlers.registry] == [
        "schedule_meeting", "record_preparation", "postpone_meeting", "cancel_meeting",
        "record_meeting_held", "correct_meeting", "adopt_resolution", "note_task_progress",
        "complete_task", "cancel_task", "attach_material"]
