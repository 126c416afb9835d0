"""The meetings service: entrypoints only; rules live in domain.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from nameko.events import event_handler
from nameko.rpc import rpc
from nameko.timer import timer

from chibo.contracts import Command, load_command
from chibo.errors import ChiboError, NotFound, ValidationFailed
from chibo.eventstore.store import EventStore, NewEvent, StreamAppend
from chibo.nameko.providers import (
    ClockProvider,
    Database,
    EventSource,
    EventSourcing,
    Feed,
    OutboxRelay,
)
from chibo.nameko.web import http, run_command
from services.meetings import api, commands, domain, read_model, replica
from services.meetings.api import COMMANDS
from services.shared.events.meetings import catalogue
from services.shared.events.members import catalogue as members_catalogue
from services.shared.score_sheet import sheet_for


class MeetingsService(EventSource):
    name = "meetings"

    db = Database(replica.metadata, read_model.metadata)
    events = EventSourcing(catalogue)
    clock = ClockProvider()
    relay = OutboxRelay()
    roster_feed = Feed(["members"], replica.apply_member_event, members_catalogue)

    @event_handler("members", "#")
    def on_members_event(self, envelope: dict[str, Any]) -> None:
        self.roster_feed.offer(envelope)

    # -- plumbing -------------------------------------------------------------------

    def _run(self, command: Command,
             decide: Callable[[EventStore, dict[str, Any]], list[StreamAppend]],
             answer: tuple[str, ...] = ("meeting_id",)) -> dict[str, Any]:
        """Decide and append in one transaction. Anything that may talk to another
        service (the replica's sync) happens before, never inside it. A command id sent
        again answers what this command answered the first time."""
        def work(store: EventStore) -> dict[str, Any]:
            recorded = store.append_many(decide(store, command))
            read_model.index(store.session, recorded)
            return {"events": [e.event_id for e in recorded],
                    **{k: command[k] for k in answer if k in command}}
        return self.events.run(command, work)

    def _on_stream(self, stream_of: Callable[[dict[str, Any]], str],
                   rule: Callable[[list[Any], dict[str, Any]], list[NewEvent]]
                   ) -> Callable[[EventStore, dict[str, Any]], list[StreamAppend]]:
        def decide(store: EventStore, command: dict[str, Any]) -> list[StreamAppend]:
            stream = stream_of(command)
            history = store.read_stream(stream)
            return [StreamAppend(stream, len(history), rule(history, command))]
        return decide

    def _meeting(self, rule: Callable[[list[Any], dict[str, Any]], list[NewEvent]]) -> Any:
        return self._on_stream(lambda c: domain.meeting_stream(c["meeting_id"]), rule)

    def _task(self, rule: Callable[[list[Any], dict[str, Any]], list[NewEvent]]) -> Any:
        return self._on_stream(lambda c: domain.task_stream(c["task_id"]), rule)

    def _cell_and_roll(self, cell_id: str, day: Any, listed: list[str]) -> tuple[Any, Any]:
        """The cell and its roll from the replica, synced from members' log first if the
        command names something the replica has not seen yet."""
        for attempt in range(2):
            with self.db.transaction() as session:
                cell = replica.cell(session, cell_id, day)
                roll = replica.attendance_roll(session, cell_id, day)
                known = replica.knows_members(session, listed)
            if (cell is not None and known) or attempt:
                return cell, roll
            self.roster_feed.sync("members")
        raise AssertionError("unreachable")

    def _today(self) -> Any:
        return self.clock.now().date()

    # -- commands -----------------------------------------------------------------

    @rpc(expected_exceptions=ChiboError)
    def schedule_meeting(self, payload: dict[str, Any]) -> dict[str, Any]:
        command = load_command(commands.ScheduleMeeting(), payload)
        cell, _ = self._cell_and_roll(command["cell_id"], command["planned_on"], [])
        return self._run(command, self._meeting(lambda h, c: domain.schedule(h, c, cell)))

    @rpc(expected_exceptions=ChiboError)
    def record_preparation(self, payload: dict[str, Any]) -> dict[str, Any]:
        today = self._today()
        return self._run(load_command(commands.RecordPreparation(), payload), self._meeting(
            lambda h, c: domain.record_preparation(h, c, today)))

    @rpc(expected_exceptions=ChiboError)
    def postpone_meeting(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._run(load_command(commands.PostponeMeeting(), payload),
                         self._meeting(domain.postpone))

    @rpc(expected_exceptions=ChiboError)
    def cancel_meeting(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._run(load_command(commands.CancelMeeting(), payload),
                         self._meeting(domain.cancel))

    @rpc(expected_exceptions=ChiboError)
    def record_meeting_held(self, payload: dict[str, Any]) -> dict[str, Any]:
        command = load_command(commands.RecordMeetingHeld(), payload)
        try:
            return self._record_held(command)
        except (ValidationFailed, NotFound):
            # The replica may know a member but not yet their latest status (away,
            # exempt, transferred): sync it from the members log and decide again.
            self.roster_feed.sync("members")
            return self._record_held(command)

    def _record_held(self, command: dict[str, Any]) -> dict[str, Any]:
        cell, roll = self._cell_and_roll(command["cell_id"], command["held_on"],
                                         [line["member_id"] for line in command["attendance"]])
        today = self._today()
        sheet = sheet_for(command["held_on"]) if command.get("scores") is not None else None

        def decide(store: EventStore, c: dict[str, Any]) -> list[StreamAppend]:
            stream = domain.meeting_stream(c["meeting_id"])
            history = store.read_stream(stream)
            regulars = read_model.regular_meetings_in_month(store.session, c["cell_id"],
                                                            c["held_on"])
            reviewed = read_model.open_task_ids(store.session, c["cell_id"])
            made_up = c.get("makes_up_month")
            made_up_meetings = (read_model.regular_meetings_for(
                store.session, c["cell_id"], made_up) if made_up else 0)
            made_up_cell = (replica.cell(store.session, c["cell_id"],
                                         domain.last_day_of(made_up)) if made_up else None)
            return [StreamAppend(stream, len(history), domain.record_held(
                history, c, cell, roll, today, regulars, reviewed, sheet,
                made_up_month_meetings=made_up_meetings, made_up_month_cell=made_up_cell))]
        return self._run(command, decide)

    @rpc(expected_exceptions=ChiboError)
    def correct_meeting(self, payload: dict[str, Any]) -> dict[str, Any]:
        command = load_command(commands.CorrectMeeting(), payload)
        state = domain.meeting_state(self.events.read_stream(
            domain.meeting_stream(command["meeting_id"])))
        roll = None
        if state is not None and state["status"] == "held":
            _, roll = self._cell_and_roll(state["cell_id"],
                                          date.fromisoformat(str(state["held_on"])), [])
        return self._run(command, self._meeting(lambda h, c: domain.correct(h, c, roll)))

    @rpc(expected_exceptions=ChiboError)
    def adopt_resolution(self, payload: dict[str, Any]) -> dict[str, Any]:
        command = load_command(commands.AdoptResolution(), payload)
        state = domain.meeting_state(self.events.read_stream(
            domain.meeting_stream(command["meeting_id"])))
        roll: dict[str, Any] = {"must_attend": [], "excused": []}
        if state is not None and state["status"] == "held":
            _, roll = self._cell_and_roll(state["cell_id"],
                                          date.fromisoformat(str(state["held_on"])), [])

        def decide(store: EventStore, c: dict[str, Any]) -> list[StreamAppend]:
            history = store.read_stream(domain.meeting_stream(c["meeting_id"]))
            return domain.adopt_resolution(history, len(history), c, roll)
        return self._run(command, decide, answer=("meeting_id", "resolution_id"))

    @rpc(expected_exceptions=ChiboError)
    def note_task_progress(self, payload: dict[str, Any]) -> dict[str, Any]:
        today = self._today()
        return self._run(load_command(commands.NoteProgress(), payload), self._task(
            lambda h, c: domain.note_progress(h, c, today)), answer=("task_id",))

    @rpc(expected_exceptions=ChiboError)
    def complete_task(self, payload: dict[str, Any]) -> dict[str, Any]:
        today = self._today()
        return self._run(load_command(commands.CompleteTask(), payload), self._task(
            lambda h, c: domain.complete_task(h, c, today)), answer=("task_id",))

    @rpc(expected_exceptions=ChiboError)
    def cancel_task(self, payload: dict[str, Any]) -> dict[str, Any]:
        today = self._today()
        return self._run(load_command(commands.CancelTask(), payload), self._task(
            lambda h, c: domain.cancel_task(h, c, today)), answer=("task_id",))

    @timer(interval=3600, eager=True)
    @rpc
    def flag_overdue_tasks(self) -> int:
        """Tasks past their due date and still open become overdue, once."""
        today = self._today()
        with self.events.unit_of_work() as store:
            appends = []
            for task_id in read_model.due_task_ids(store.session, today):
                history = store.read_stream(domain.task_stream(task_id))
                found = domain.overdue(history, today)
                if found:
                    appends.append(StreamAppend(domain.task_stream(task_id), len(history),
                                                found))
            recorded = store.append_many(appends)
            read_model.index(store.session, recorded)
        return len(recorded)

    # -- questions ------------------------------------------------------------------

    @rpc(expected_exceptions=ChiboError)
    def get_meeting(self, meeting_id: str) -> dict[str, Any]:
        state = domain.meeting_state(self.events.read_stream(domain.meeting_stream(meeting_id)))
        if state is None:
            raise NotFound(f"Meeting {meeting_id} was not recorded.", field="meeting_id")
        return state

    @rpc(expected_exceptions=ChiboError)
    def get_task(self, task_id: str) -> dict[str, Any]:
        state = domain.task_state(self.events.read_stream(domain.task_stream(task_id)))
        if state is None:
            raise NotFound(f"Task {task_id} does not exist.", field="task_id")
        return state

    @rpc
    def open_tasks(self, cell_id: str) -> list[dict[str, Any]]:
        with self.db.transaction() as session:
            ids = read_model.open_task_ids(session, cell_id)
        return [self.get_task(task_id) for task_id in ids]

    # -- HTTP -----------------------------------------------------------------------

    @http("POST", "/meetings/commands/<name>", expected_exceptions=ChiboError)
    def command_http(self, request: Any, name: str) -> tuple[int, dict[str, str], Any]:
        return run_command(self, COMMANDS, name, request)

    @http("GET", "/meetings/openapi.json")
    def openapi_http(self, request: Any) -> dict[str, Any]:
        return api.openapi()

    @http("GET", "/meetings/meetings/<meeting_id>", expected_exceptions=ChiboError)
    def get_meeting_http(self, request: Any, meeting_id: str) -> dict[str, Any]:
        return self.get_meeting(meeting_id)

    @http("GET", "/meetings/tasks/<task_id>", expected_exceptions=ChiboError)
    def get_task_http(self, request: Any, task_id: str) -> dict[str, Any]:
        return self.get_task(task_id)

    @http("GET", "/meetings/cells/<cell_id>/open-tasks", expected_exceptions=ChiboError)
    def open_tasks_http(self, request: Any, cell_id: str) -> list[dict[str, Any]]:
        return self.open_tasks(cell_id)
