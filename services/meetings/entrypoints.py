"""The meetings service: entrypoints only. Commands are registered in handlers.py (their
RPC methods and `POST /meetings/commands/<name>` come from `ServesCommands`); rules live
in domain.py."""

from __future__ import annotations

import base64
from datetime import date
from typing import Any

from nameko.timer import timer
from sqlalchemy.orm import Session

from chibo.access import Access, Scope
from chibo.blobs import BlobNotFound, BlobSettings
from chibo.errors import ChiboError, NotFound
from chibo.eventstore.store import StreamAppend
from chibo.nameko.access import Caller, access
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
from chibo.nameko.resilience import feed_handler, rpc
from chibo.nameko.web import http
from services.meetings import api, domain, handlers, read_model, replica
from services.shared import settings
from services.shared.access_roles import OPERATE, ROLES, VIEW_PERSONAL
from services.shared.events.meetings import catalogue
from services.shared.events.members import catalogue as members_catalogue

#: A meeting's page and its record list members by name, with their attendance.
MEETING_RECORD = Access(VIEW_PERSONAL, Scope("meeting_id", "meeting"))
#: A task names its assignee.
TASK_RECORD = Access(VIEW_PERSONAL, Scope("task_id", "task"))
CELL_TASKS = Access(VIEW_PERSONAL, Scope("cell_id", "cell"))
#: A meeting's materials: documents such as a member's self-criticism or a report
#: naming members, so personal data of the cell, read as its members' records are.
MEETING_MATERIAL = Access(VIEW_PERSONAL, Scope("meeting_id", "meeting"))
#: Running the service: its timers called over RPC.
OPERATIONS = Access(OPERATE)


def locate(session: Session, kind: str, value: str | None, today: date) -> list[str] | None:
    """Where a unit, cell, meeting or task sits in the tree as it stands `today`, from
    meetings' own data: the roster replica's tree, and the cell each meeting and task
    belongs to (`chibo.nameko.access.Caller`)."""
    if kind in ("unit", "cell"):
        unit_id = value
    elif kind == "meeting" and value is not None:
        unit_id = read_model.meeting_cell(session, value)
    elif kind == "task" and value is not None:
        unit_id = read_model.task_cell(session, value)
    else:
        return None
    if unit_id is None and value is not None:
        return None
    return replica.unit_path(session, unit_id, today)


class MeetingsService(EventSource, ServesCommands, openapi=api.openapi):
    name = "meetings"

    db = Database(replica.metadata, read_model.metadata)
    events = EventSourcing(catalogue)
    commands = Commands(handlers.registry, index=read_model.index)
    clock = ClockProvider()
    caller = Caller(ROLES, locate=locate)  # who calls, and what their roles let them do
    relay = OutboxRelay()
    roster_feed = Feed(["members"], replica.apply_member_event, members_catalogue,
                       project_run=replica.apply_member_run)
    shared = LoadedSettings(settings.from_config)  # unit kinds, score sheets
    # meeting materials: the file store (MATERIALS.dir) and the largest file taken
    materials = LoadedSettings(lambda config: BlobSettings.from_config(config, "MATERIALS"))

    @feed_handler("members", "#")
    def on_members_event(self, envelope: dict[str, Any]) -> None:
        self.roster_feed.offer(envelope)

    def command_deps(self) -> handlers.Deps:
        return handlers.Deps(today=self._today(), kinds=self.shared.kinds,
                             sheets=self.shared.sheets, read_roster=self._read_roster,
                             sync_roster=lambda: self.roster_feed.sync("members"),
                             read_stream=self.events.read_stream,
                             materials=self.materials.store,
                             max_material_bytes=self.materials.max_bytes)

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
    @rpc(expected_exceptions=ChiboError)
    @access(OPERATIONS)
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
    @access(MEETING_RECORD)
    def get_meeting(self, meeting_id: str) -> dict[str, Any]:
        return self._meeting(meeting_id)

    @rpc(expected_exceptions=ChiboError)
    @access(TASK_RECORD)
    def get_task(self, task_id: str) -> dict[str, Any]:
        return self._task(task_id)

    @rpc(expected_exceptions=ChiboError)
    @access(CELL_TASKS)
    def open_tasks(self, cell_id: str) -> list[dict[str, Any]]:
        return self._open_tasks(cell_id)

    @rpc(expected_exceptions=ChiboError)
    @access(MEETING_MATERIAL)
    def material(self, meeting_id: str, sha256: str) -> dict[str, Any]:
        """A document attached to the meeting: its name, type, size and bytes (base64)."""
        return self._material(meeting_id, sha256)

    def _material(self, meeting_id: str, sha256: str) -> dict[str, Any]:
        state = self._meeting(meeting_id)
        found = next((m for m in state.get("materials", []) if m["sha256"] == sha256), None)
        if found is None:
            raise NotFound(f"Buổi sinh hoạt {meeting_id} không có tài liệu {sha256} (no such "
                           "material for this meeting).", field="sha256")
        try:
            content = self.materials.store.read(sha256)
        except BlobNotFound:
            raise NotFound(f"Tệp {sha256} không còn trong kho tài liệu (the file is missing "
                           "from the materials folder; restore it from a backup).",
                           field="sha256") from None
        return {**found, "meeting_id": meeting_id,
                "content": base64.b64encode(content).decode("ascii")}

    def _open_tasks(self, cell_id: str) -> list[dict[str, Any]]:
        with self.db.transaction() as session:
            ids = read_model.open_task_ids(session, cell_id)
        return [self._task(task_id) for task_id in ids]

    def _meeting(self, meeting_id: str) -> dict[str, Any]:
        state = domain.meeting_state(self.events.read_stream(domain.meeting_stream(meeting_id)))
        if state is None:
            raise NotFound(f"Meeting {meeting_id} was not recorded.", field="meeting_id")
        return state

    def _task(self, task_id: str) -> dict[str, Any]:
        state = domain.task_state(self.events.read_stream(domain.task_stream(task_id)))
        if state is None:
            raise NotFound(f"Task {task_id} does not exist.", field="task_id")
        return state

    # -- HTTP -----------------------------------------------------------------------

    @http("GET", "/meetings/meetings/<meeting_id>", expected_exceptions=ChiboError)
    @access(MEETING_RECORD)
    def get_meeting_http(self, request: Any, meeting_id: str) -> dict[str, Any]:
        return self._meeting(meeting_id)

    @http("GET", "/meetings/tasks/<task_id>", expected_exceptions=ChiboError)
    @access(TASK_RECORD)
    def get_task_http(self, request: Any, task_id: str) -> dict[str, Any]:
        return self._task(task_id)

    @http("GET", "/meetings/meetings/<meeting_id>/materials/<sha256>",
          expected_exceptions=ChiboError)
    @access(MEETING_MATERIAL)
    def material_http(self, request: Any, meeting_id: str, sha256: str) -> dict[str, Any]:
        return self._material(meeting_id, sha256)

    @http("GET", "/meetings/cells/<cell_id>/open-tasks", expected_exceptions=ChiboError)
    @access(CELL_TASKS)
    def open_tasks_http(self, request: Any, cell_id: str) -> list[dict[str, Any]]:
        return self._open_tasks(cell_id)
