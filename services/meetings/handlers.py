"""Meetings' commands: for each, what it reads and which rule of domain.py decides it.

Registered on `registry`; the pipeline (`chibo.commands`) checks the body, runs a
handler's `prepare` before the command's transaction (the cell and its roll from the
roster replica, which may first sync from members' log over RPC), then its `decide`
in the transaction, appends what it returns and answers.

Every command needs RECORD_MEETINGS over the cell it concerns: the cell it names, or
the cell of the meeting or task it names (where that is, the service's `locate` says).
Who sent a command is not a field of any: the event's metadata records the verified
caller (`chibo.nameko.providers.metadata_from_context`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from chibo.access import Access, Scope
from chibo.blobs import DEFAULT_MAX_BYTES, BlobStore
from chibo.commands import Decision, Handlers
from chibo.contracts import Command
from chibo.errors import ChiboError
from chibo.eventstore.store import EventStore, NewEvent, RecordedEvent, StreamAppend
from services.meetings import commands, domain, materials, read_model, replica
from services.shared.access_roles import RECORD_MEETINGS
from services.shared.score_sheet import ScoreSheet, sheet_for
from services.shared.tree import UnitKinds

#: A unit as the roster replica has it (`replica.cell`), with `meets` and `active`.
Cell = dict[str, Any]
#: Who must attend a cell's meeting on a day, and who is excused (`membership.roll`).
Roll = dict[str, list[dict[str, Any]]]
#: read_roster(cell_id, day, listed) -> (the cell or None, its roll that day, whether
#: the replica knows every listed member).
ReadRoster = Callable[[str, date, list[str]], tuple[Cell | None, Roll, bool]]
#: The roll of a meeting that was not held: nobody to count.
NO_ROLL: Roll = {"must_attend": [], "excused": []}


@dataclass(frozen=True)
class Deps:
    """What meetings' handlers need from outside the command's transaction; the last
    three fields are what a handler's `prepare` read for its `decide`."""

    today: date
    #: The unit kinds the service's config names (`UNIT_KINDS`): which units meet.
    kinds: UnitKinds
    #: The score sheets the service's config names (`SCORE_SHEET`).
    sheets: Sequence[ScoreSheet]
    #: The roster replica, read in a transaction of its own.
    read_roster: ReadRoster
    #: Brings the roster replica up to date with members' log (an RPC to members).
    sync_roster: Callable[[], object]
    #: One of meetings' streams as it stands, read outside the command's transaction.
    read_stream: Callable[[str], list[RecordedEvent]]
    cell: Cell | None = None
    roll: Roll | None = None
    sheet: ScoreSheet | None = None
    #: Where meeting materials are kept (config `MATERIALS.dir`), and the largest taken.
    materials: BlobStore | None = None
    max_material_bytes: int = DEFAULT_MAX_BYTES


registry = Handlers()
command = registry.command

MEETING = ("meeting_id",)
TASK = ("task_id",)

#: Who may send each command: a cell's recorders, over the cell the command concerns.
OF_CELL = Access(RECORD_MEETINGS, Scope("cell_id", "cell"))
OF_MEETING = Access(RECORD_MEETINGS, Scope("meeting_id", "meeting"))
OF_TASK = Access(RECORD_MEETINGS, Scope("task_id", "task"))


# -- what prepare reads -------------------------------------------------------------

def cell_and_roll(deps: Deps, cell_id: str, day: date, listed: list[str]
                  ) -> tuple[Cell | None, Roll]:
    """The cell and its roll on `day` from the replica, synced from members' log first
    when the replica has not seen the cell or one of the `listed` members yet."""
    cell, roll, known = deps.read_roster(cell_id, day, listed)
    if cell is None or not known:
        deps.sync_roster()
        cell, roll, _ = deps.read_roster(cell_id, day, listed)
    return cell, roll


def _cell_planned(c: Command, deps: Deps) -> Deps:
    cell, _ = cell_and_roll(deps, c["cell_id"], c["planned_on"], [])
    return replace(deps, cell=cell)


def _cell_roll_and_sheet(c: Command, deps: Deps) -> Deps:
    # Who was away or exempt that day decides who is excused: the roll must hold every
    # status members has recorded, not only what the bus has delivered so far (a
    # secretary may record the meeting a moment after a member was marked away). One
    # read of members' log, which usually has nothing new.
    deps.sync_roster()
    cell, roll = cell_and_roll(deps, c["cell_id"], c["held_on"],
                               [line["member_id"] for line in c["attendance"]])
    sheet = sheet_for(c["held_on"], deps.sheets) if c.get("scores") is not None else None
    return replace(deps, cell=cell, roll=roll, sheet=sheet)


def _roll_if_held(c: Command, deps: Deps) -> Deps:
    """A held meeting's roll on its day (who may chair, speak and vote); none for a
    meeting not held, which its rule refuses."""
    state = domain.meeting_state(deps.read_stream(domain.meeting_stream(c["meeting_id"])))
    if state is None or state["status"] != "held":
        return deps
    _, roll = cell_and_roll(deps, state["cell_id"],
                            date.fromisoformat(str(state["held_on"])), [])
    return replace(deps, roll=roll)


# -- appending to one stream --------------------------------------------------------

def _on_stream(store: EventStore, stream: str,
               rule: Callable[[list[RecordedEvent]], list[NewEvent]]) -> list[StreamAppend]:
    """What `rule` decides from the stream's history, appended at the version it read."""
    history = store.read_stream(stream)
    return [StreamAppend(stream, len(history), rule(history))]


def _on_meeting(store: EventStore, c: Command,
                rule: Callable[[list[RecordedEvent]], list[NewEvent]]) -> list[StreamAppend]:
    return _on_stream(store, domain.meeting_stream(c["meeting_id"]), rule)


def _on_task(store: EventStore, c: Command,
             rule: Callable[[list[RecordedEvent]], list[NewEvent]]) -> list[StreamAppend]:
    return _on_stream(store, domain.task_stream(c["task_id"]), rule)


# -- a meeting's life ---------------------------------------------------------------

@command(commands.ScheduleMeeting(), answer=MEETING, prepare=_cell_planned,
         summary="Lên lịch sinh hoạt (schedule a meeting)",
         access=OF_CELL)
def schedule_meeting(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    return _on_meeting(store, c, lambda history: domain.schedule(history, c, deps.cell))


@command(commands.RecordPreparation(), answer=MEETING,
         summary="Họp chuẩn bị, gửi tài liệu (preparation, materials)",
         access=OF_MEETING)
def record_preparation(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    return _on_meeting(store, c,
                       lambda history: domain.record_preparation(history, c, deps.today))


@command(commands.PostponeMeeting(), answer=MEETING, summary="Hoãn (postpone, with a reason)",
         access=OF_MEETING)
def postpone_meeting(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    return _on_meeting(store, c, lambda history: domain.postpone(history, c))


@command(commands.CancelMeeting(), answer=MEETING, summary="Hủy (cancel, with a reason)",
         access=OF_MEETING)
def cancel_meeting(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    return _on_meeting(store, c, lambda history: domain.cancel(history, c))


@command(commands.RecordMeetingHeld(), answer=MEETING, prepare=_cell_roll_and_sheet,
         summary="Ghi biên bản buổi sinh hoạt (record a meeting held)",
         access=OF_CELL)
def record_meeting_held(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    stream = domain.meeting_stream(c["meeting_id"])
    history = store.read_stream(stream)
    regulars = read_model.regular_meetings_in_month(store.session, c["cell_id"], c["held_on"])
    reviewed = read_model.open_task_ids(store.session, c["cell_id"])
    made_up = c.get("makes_up_month")
    made_up_meetings = (read_model.regular_meetings_for(store.session, c["cell_id"], made_up)
                        if made_up else 0)
    made_up_cell = (replica.cell(store.session, c["cell_id"], domain.last_day_of(made_up),
                                 deps.kinds) if made_up else None)
    return [StreamAppend(stream, len(history), domain.record_held(
        history, c, deps.cell, deps.roll if deps.roll is not None else NO_ROLL, deps.today,
        regulars, reviewed, deps.sheet,
        made_up_month_meetings=made_up_meetings, made_up_month_cell=made_up_cell))]


@command(commands.CorrectMeeting(), answer=MEETING, prepare=_roll_if_held,
         summary="Đính chính biên bản (correct the minutes; nothing is edited)",
         access=OF_MEETING)
def correct_meeting(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    # Without a roll (the meeting was not held when prepare looked), the rule refuses
    # or, if it was held since, checks the changes without the roll.
    return _on_meeting(store, c, lambda history: domain.correct(history, c, deps.roll))


@command(commands.AdoptResolution(), answer=("meeting_id", "resolution_id"),
         prepare=_roll_if_held,
         summary="Thông qua nghị quyết, giao nhiệm vụ (adopt a resolution, tasks)",
         access=OF_MEETING)
def adopt_resolution(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    history = store.read_stream(domain.meeting_stream(c["meeting_id"]))
    return domain.adopt_resolution(history, len(history), c,
                                   deps.roll if deps.roll is not None else NO_ROLL)


# -- tasks --------------------------------------------------------------------------

@command(commands.NoteProgress(), answer=TASK, name="note_task_progress",
         summary="Ghi tiến độ nhiệm vụ (task progress)",
         access=OF_TASK)
def note_task_progress(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    return _on_task(store, c, lambda history: domain.note_progress(history, c, deps.today))


@command(commands.CompleteTask(), answer=TASK, summary="Hoàn thành nhiệm vụ (complete a task)",
         access=OF_TASK)
def complete_task(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    return _on_task(store, c, lambda history: domain.complete_task(history, c, deps.today))


@command(commands.CancelTask(), answer=TASK, summary="Hủy nhiệm vụ (cancel a task)",
         access=OF_TASK)
def cancel_task(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    return _on_task(store, c, lambda history: domain.cancel_task(history, c, deps.today))


# -- materials ----------------------------------------------------------------------

@command(commands.AttachMaterial(), answer=MEETING,
         summary="Đính kèm tài liệu sinh hoạt (attach a document: PDF, DOCX, PNG, JPEG; "
                 "content in base64)",
         access=OF_MEETING)
def attach_material(store: EventStore, c: Command, deps: Deps) -> Decision:
    """The bytes go to the file store before the event is appended, so an event never
    names a file that is not there. A transaction that fails after the put leaves the
    file without an event: harmless, since a file is named by its content and the
    next attempt finds it already kept."""
    if deps.materials is None:
        raise ChiboError("Chưa cấu hình nơi lưu tài liệu (MATERIALS.dir is not set).")
    stream = domain.meeting_stream(c["meeting_id"])
    history = store.read_stream(stream)
    appended = domain.attach_material(history, c, deps.max_material_bytes,
                                      materials.sniff(c["content"]))
    sha256 = deps.materials.put(c["content"])
    return Decision([StreamAppend(stream, len(history), appended)],
                    {"sha256": sha256, "size": len(c["content"])})
