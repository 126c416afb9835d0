"""The meetings service: entrypoints only; rules live in domain.py."""

from __future__ import annotations

from typing import Any

from nameko.events import event_handler
from nameko.rpc import rpc

from chibo.contracts import load_command
from chibo.errors import ChiboError, NotFound
from chibo.nameko.providers import (
    ClockProvider,
    Database,
    EventSource,
    EventSourcing,
    Feed,
    OutboxRelay,
)
from chibo.nameko.web import http, read_json
from services.meetings import domain, replica
from services.meetings.commands import RecordMeetingHeld
from services.meetings.events import catalogue
from services.members.events import catalogue as members_catalogue


class MeetingsService(EventSource):
    name = "meetings"

    db = Database(replica.metadata)
    events = EventSourcing(catalogue)
    clock = ClockProvider()
    relay = OutboxRelay()
    roster_feed = Feed(["members"], replica.apply_member_event, members_catalogue)

    @event_handler("members", "#")
    def on_members_event(self, envelope: dict[str, Any]) -> None:
        self.roster_feed.offer(envelope)

    @rpc(expected_exceptions=ChiboError)
    def record_meeting_held(self, payload: dict[str, Any]) -> dict[str, Any]:
        command = load_command(RecordMeetingHeld(), payload)
        cell, roll, known = self._cell_and_roll(command)
        if cell is None or not known:
            # The replica may lag behind members: bring it up to date before refusing.
            self.roster_feed.sync("members")
            cell, roll, known = self._cell_and_roll(command)
        today = self.clock.now().date()
        recorded = self.events.execute(
            domain.meeting_stream(command["meeting_id"]),
            lambda history: domain.record_held(history, command, cell, roll, today))
        return {"meeting_id": command["meeting_id"], "events": [e.event_id for e in recorded]}

    def _cell_and_roll(self, command: dict[str, Any]) -> tuple[Any, dict[str, Any], bool]:
        with self.db.transaction() as session:
            day = command["held_on"]
            listed = [line["member_id"] for line in command["attendance"]]
            return (replica.cell(session, command["cell_id"], day),
                    replica.attendance_roll(session, command["cell_id"], day),
                    replica.knows_members(session, listed))

    @rpc(expected_exceptions=ChiboError)
    def get_meeting(self, meeting_id: str) -> dict[str, Any]:
        state = domain.meeting_state(self.events.read_stream(domain.meeting_stream(meeting_id)))
        if state is None:
            raise NotFound(f"Meeting {meeting_id} was not recorded as held.",
                           field="meeting_id")
        return state

    @http("POST", "/meetings/meetings", expected_exceptions=ChiboError)
    def record_meeting_held_http(self, request: Any) -> tuple[int, dict[str, Any]]:
        return 201, self.record_meeting_held(read_json(request))

    @http("GET", "/meetings/meetings/<meeting_id>", expected_exceptions=ChiboError)
    def get_meeting_http(self, request: Any, meeting_id: str) -> dict[str, Any]:
        return self.get_meeting(meeting_id)
