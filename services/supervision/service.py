"""The supervision service: entrypoints only; rules live in domain.py."""

from __future__ import annotations

from typing import Any

from nameko.exceptions import RemoteError
from nameko.rpc import RpcProxy, rpc

from chibo.contracts import load_command
from chibo.errors import ChiboError
from chibo.nameko.providers import ClockProvider, Database, EventSource, EventSourcing, OutboxRelay
from chibo.nameko.web import http, read_json
from services.supervision import domain
from services.supervision.commands import LogVisit
from services.supervision.events import catalogue


class SupervisionService(EventSource):
    name = "supervision"

    db = Database()
    events = EventSourcing(catalogue)
    clock = ClockProvider()
    relay = OutboxRelay()
    meetings = RpcProxy("meetings")

    @rpc(expected_exceptions=ChiboError)
    def log_visit(self, payload: dict[str, Any]) -> dict[str, Any]:
        command = load_command(LogVisit(), payload)
        try:
            meeting = self.meetings.get_meeting(command["meeting_id"])
        except RemoteError as exc:
            if exc.exc_type != "NotFound":
                raise
            meeting = None
        recorded = self.events.execute(
            domain.visit_stream(command["visit_id"]),
            lambda history: domain.log_visit(history, command, meeting))
        return {"visit_id": command["visit_id"], "events": [e.event_id for e in recorded]}

    @http("POST", "/supervision/visits", expected_exceptions=ChiboError)
    def log_visit_http(self, request: Any) -> tuple[int, dict[str, Any]]:
        return 201, self.log_visit(read_json(request))
