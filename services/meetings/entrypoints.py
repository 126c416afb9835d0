"""The meetings service: entrypoints only. Commands are registered in handlers.py (their
RPC methods and `POST /meetings/commands/<name>` come from `ServesCommands`); rules live
in domain.py."""

from __future__ import annotations

from datetime import date
from typing import Any

from nameko.events import event_handler
from nameko.rpc import rpc
from nameko.timer import timer

from chibo.errors import ChiboError, NotFound
from chibo.eventstore.store import StreamAppend
from chibo.nameko.access import Caller
from chibo.nameko.commands import Commands, ServesCommands
from chibo.nameko.providers import (
    ClockProvider,
    Database,
    EventSource,
    EventSourcing,
    Feed,
    LoadedSettings,
    OutboxRelay,
)
from chibo.nameko.web import http
from services.meetings import api, domain, handlers, read_model, replica
from services.shared import settings
from services.shared.access_roles import ROLES
from services.shared.events.meetings import catalogue
from services.shared.events.members import catalogue as members_catalogue


class MeetingsService(EventSource, ServesCommands, openapi=api.openapi):
    name = "meetings"

    db = Database(replica.metadata, read_model.metadata)
    events = EventSourcing(catalogue)
    commands = Commands(handlers.registry, index=read_model.index)
    clock = ClockProvider()
    caller = Caller(ROLES)  # who calls, and what their roles let them do
    relay = OutboxRelay()
    roster_feed = Feed(["members"], replica.apply_member_event, members_catalogue)
    shared = LoadedSettings(settings.from_config)  # unit kinds, score sheets

    @event_handler("members", "#")
    def on_members_event(self, envelope: dict[str, Any]) -> None:
        self.roster_feed.offer(envelope)

    def command_deps(self) -> handlers.Deps:
        return handlers.Deps(today=self._today(), kinds=self.shared.kinds,
                             sheets=self.shared.sheets, read_roster=self._read_roster,
                             sync_roster=lambda: self.roster_feed.sync("members"),
                             read_stream=self.events.read_stream)

    def _read_roster(self, cell_id: str, day: date, listed: list[str]
                     ) -> tuple[handlers.Cell | None, handlers.Roll, bool]:
        """The cell on `day`, its roll that day, and whether the replica knows every
        listed member, read together."""
        with self.db.transaction() as session:
            return (replica.cell(session, cell_id, day, self.shared.kinds),
                    replica.attendance_roll(session, cell_id, day),
                    replica.knows_members(session, listed))

    def _today(self) -> date:
        return self.clock.now().date()

    # -- the clock --------------------------------------------------------------------

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

    @http("GET", "/meetings/meetings/<meeting_id>", expected_exceptions=ChiboError)
    def get_meeting_http(self, request: Any, meeting_id: str) -> dict[str, Any]:
        return self.get_meeting(meeting_id)

    @http("GET", "/meetings/tasks/<task_id>", expected_exceptions=ChiboError)
    def get_task_http(self, request: Any, task_id: str) -> dict[str, Any]:
        return self.get_task(task_id)

    @http("GET", "/meetings/cells/<cell_id>/open-tasks", expected_exceptions=ChiboError)
    def open_tasks_http(self, request: Any, cell_id: str) -> list[dict[str, Any]]:
        return self.open_tasks(cell_id)
