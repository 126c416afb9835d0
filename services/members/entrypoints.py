"""The members service: entrypoints only. Commands are registered in handlers.py (their
RPC methods and `POST /members/commands/<name>` come from `ServesCommands`); rules live
in domain.py, roster.py and services/shared; answers are shaped in views.py."""

from __future__ import annotations

from datetime import date
from typing import Any

from nameko.rpc import rpc
from nameko.timer import timer

from chibo.errors import ChiboError
from chibo.nameko.access import Caller
from chibo.nameko.commands import Commands, ServesCommands
from chibo.nameko.providers import (
    ClockProvider,
    Database,
    EventSource,
    EventSourcing,
    LoadedSettings,
    OutboxRelay,
)
from chibo.nameko.web import http, read_json
from services.members import api, domain, handlers, read_model, state, views
from services.members import commands as command_schemas
from services.shared.access_roles import ROLES
from services.shared.events.members import catalogue
from services.shared.membership import add_months, roll


class MembersService(EventSource, ServesCommands, openapi=api.openapi):
    name = "members"

    db = Database(read_model.metadata)
    events = EventSourcing(catalogue)
    commands = Commands(handlers.registry, index=read_model.index)
    clock = ClockProvider()
    caller = Caller(ROLES)  # who calls, and what their roles let them do
    relay = OutboxRelay()
    shared = LoadedSettings(command_schemas.configured)  # unit kinds, score sheets

    def command_deps(self) -> handlers.Deps:
        return handlers.Deps(today=self._today(), kinds=self.shared.kinds)

    def _today(self) -> date:
        return self.clock.now().date()

    # -- the clock --------------------------------------------------------------------

    @timer(interval=3600, eager=True)
    @rpc
    def issue_confirmation_reminders(self) -> int:
        """Probationary members whose 12 months are up get a reminder event, once."""
        today = self._today()
        with self.events.unit_of_work() as store:
            ids = read_model.unconfirmed_member_ids(store.session, add_months(today, -12))
            recorded = store.append_many(domain.confirmation_reminders(
                state.members(store, ids), today))
            read_model.index(store.session, recorded)
        return len(recorded)

    # -- questions ------------------------------------------------------------------

    @rpc(expected_exceptions=ChiboError)
    def tree(self, on: str | None = None) -> dict[str, Any]:
        day = views.day_asked(on, self._today())
        with self.events.unit_of_work() as store:
            tree = state.tree(store, self.shared.kinds)
        return views.tree_view(tree, day)

    @rpc(expected_exceptions=ChiboError)
    def unit(self, unit_id: str, on: str | None = None) -> dict[str, Any]:
        today = self._today()
        day = views.day_asked(on, today)
        with self.events.unit_of_work() as store:
            tree = state.tree(store, self.shared.kinds)
        return views.unit_view(tree, unit_id, day, today)

    @rpc(expected_exceptions=ChiboError)
    def attendance_roll(self, cell_id: str, on: str | None = None) -> dict[str, Any]:
        day = views.day_asked(on, self._today())
        with self.events.unit_of_work() as store:
            members = [m for _, m in state.members_of(store, [cell_id]).values()]
        return {"cell_id": cell_id, "on": day.isoformat(), **roll(members, cell_id, day)}

    @rpc(expected_exceptions=ChiboError)
    def cell_roles(self, cell_id: str, on: str | None = None) -> dict[str, Any]:
        day = views.day_asked(on, self._today())
        with self.events.unit_of_work() as store:
            history = store.read_stream(domain.roles_stream(cell_id))
            members = [m for _, m in state.members_of(store, [cell_id]).values()]
        return {"roles": domain.active_roles(history, day),
                **domain.committee_flag(members, history, cell_id, day)}

    @rpc(expected_exceptions=ChiboError)
    def member(self, member_id: str) -> dict[str, Any]:
        with self.events.unit_of_work() as store:
            version, member = state.member(store, member_id)
        return views.member_view(member_id, member, version, self._today())

    # -- HTTP -----------------------------------------------------------------------

    @http("POST", "/members/import-batches", expected_exceptions=ChiboError)
    def import_http(self, request: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
        return self.commands.respond("import_rows", read_json(request), self.command_deps())

    @http("GET", "/members/tree", expected_exceptions=ChiboError)
    def tree_http(self, request: Any) -> dict[str, Any]:
        return self.tree(request.args.get("on"))

    @http("GET", "/members/units/<unit_id>", expected_exceptions=ChiboError)
    def unit_http(self, request: Any, unit_id: str) -> dict[str, Any]:
        return self.unit(unit_id, request.args.get("on"))

    @http("GET", "/members/cells/<cell_id>/roll", expected_exceptions=ChiboError)
    def roll_http(self, request: Any, cell_id: str) -> dict[str, Any]:
        return self.attendance_roll(cell_id, request.args.get("on"))

    @http("GET", "/members/cells/<cell_id>/roles", expected_exceptions=ChiboError)
    def roles_http(self, request: Any, cell_id: str) -> dict[str, Any]:
        return self.cell_roles(cell_id, request.args.get("on"))

    @http("GET", "/members/members/<member_id>", expected_exceptions=ChiboError)
    def member_http(self, request: Any, member_id: str) -> dict[str, Any]:
        return self.member(member_id)
