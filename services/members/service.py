"""The members service: entrypoints only; rules live in domain.py."""

from __future__ import annotations

from typing import Any

from nameko.rpc import rpc

from chibo.contracts import load_command
from chibo.errors import ChiboError
from chibo.nameko.providers import ClockProvider, Database, EventSource, EventSourcing, OutboxRelay
from chibo.nameko.web import http, read_json
from services.members import domain
from services.members.commands import AdmitMember, EstablishUnit
from services.members.events import catalogue


class MembersService(EventSource):
    name = "members"

    db = Database()
    events = EventSourcing(catalogue)
    clock = ClockProvider()
    relay = OutboxRelay()

    @rpc(expected_exceptions=ChiboError)
    def establish_unit(self, payload: dict[str, Any]) -> dict[str, Any]:
        command = load_command(EstablishUnit(), payload)
        parent = (domain.unit_state(self.events.read_stream(
            domain.unit_stream(command["parent_id"]))) if command.get("parent_id") else None)
        recorded = self.events.execute(
            domain.unit_stream(command["unit_id"]),
            lambda history: domain.establish_unit(history, command, parent))
        return {"unit_id": command["unit_id"], "events": [e.event_id for e in recorded]}

    @rpc(expected_exceptions=ChiboError)
    def admit_member(self, payload: dict[str, Any]) -> dict[str, Any]:
        command = load_command(AdmitMember(), payload)
        cell = domain.unit_state(self.events.read_stream(domain.unit_stream(command["cell_id"])))
        today = self.clock.now().date()
        recorded = self.events.execute(
            domain.member_stream(command["member_id"]),
            lambda history: domain.admit_member(history, command, cell, today))
        return {"member_id": command["member_id"], "events": [e.event_id for e in recorded]}

    @http("POST", "/members/units", expected_exceptions=ChiboError)
    def establish_unit_http(self, request: Any) -> tuple[int, dict[str, Any]]:
        return 201, self.establish_unit(read_json(request))

    @http("POST", "/members/members", expected_exceptions=ChiboError)
    def admit_member_http(self, request: Any) -> tuple[int, dict[str, Any]]:
        return 201, self.admit_member(read_json(request))
