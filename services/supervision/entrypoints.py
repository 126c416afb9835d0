"""The supervision service: entrypoints only. Commands are registered in handlers.py
(their RPC methods and `POST /supervision/commands/<name>` come from `ServesCommands`);
rules live in domain.py, rules.py and quality.py; a day's close in closing.py.

Every RPC and HTTP method declares what it needs (`@access`), and each command its
`access` rule in handlers.py; where a call's target sits in the tree is answered from
supervision's own data (scope.py)."""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from nameko.dependency_providers import Config
from nameko.exceptions import RemoteError
from nameko.timer import timer

from chibo import inputs
from chibo.access import AUTHENTICATED, Access, Scope
from chibo.errors import ChiboError
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
from chibo.nameko.resilience import RpcProxy, feed_handler, rpc
from chibo.nameko.web import http, read_json
from services.shared import settings as shared_settings
from services.shared.access_roles import OPERATE, ROLES, SUPERVISE, VIEW_REPORTS
from services.shared.events.meetings import catalogue as meetings_catalogue
from services.shared.events.members import catalogue as members_catalogue
from services.shared.events.supervision import catalogue
from services.supervision import api, closing, handlers, quality, read_model, replica, scope
from services.supervision.notify import outbox
from services.supervision.notify.channels import load_channels_config
from services.supervision.rules import settings_from

SOURCES = ("members", "meetings")
_feed_catalogue = members_catalogue.__class__()
_feed_catalogue.include(members_catalogue)
_feed_catalogue.include(meetings_catalogue)

#: The service's own running: closes and deliveries asked for over RPC.
OPERATING = Access(OPERATE)
#: Figures of a subtree (`unit`; none: the whole tree), and of one cell.
REPORTS_OF_UNIT = Access(VIEW_REPORTS, Scope("unit", "unit"))
REPORTS_OF_CELL = Access(VIEW_REPORTS, Scope("cell_id", "cell"))
SUPERVISE_CELL = Access(SUPERVISE, Scope("cell_id", "cell"))


@functools.lru_cache(maxsize=4)
def _channels_config(path: str | None) -> dict[str, Any]:
    """Channels per committee, read once per process (a restart picks up changes)."""
    return load_channels_config(path)


class SupervisionService(EventSource, ServesCommands, openapi=api.openapi):
    name = "supervision"

    db = Database(replica.metadata, read_model.metadata, outbox.metadata)
    events = EventSourcing(catalogue)
    commands = Commands(handlers.registry, index=read_model.index)
    clock = ClockProvider()
    caller = Caller(ROLES, locate=scope.locate)  # who calls, and what they may do where
    relay = OutboxRelay()
    facts_feed = Feed(SOURCES, replica.apply, _feed_catalogue, project_run=replica.apply_run)
    meetings = RpcProxy("meetings")
    config = Config()
    shared = LoadedSettings(shared_settings.from_config)  # unit kinds, score sheets

    def command_deps(self) -> handlers.Deps:
        return handlers.Deps(today=self._today(), kinds=self.shared.kinds,
                             sheets=self.shared.sheets, meeting=self._meeting,
                             sync_members=functools.partial(self.facts_feed.sync, "members"),
                             identity=self.caller.identity)

    def _today(self) -> date:
        return self.clock.now().date()

    def _meeting(self, meeting_id: str) -> dict[str, Any] | None:
        """The meeting as the meetings service recorded it; None when it has none."""
        try:
            found: dict[str, Any] = self.meetings.get_meeting(meeting_id)
        except RemoteError as exc:
            if exc.exc_type != "NotFound":
                raise
            return None
        return found

    def _channels(self) -> dict[str, Any]:
        return _channels_config(self.config.get("NOTIFICATION_CHANNELS"))

    # -- the sources' events ------------------------------------------------------------

    @feed_handler("members", "#")
    def on_members_event(self, envelope: dict[str, Any]) -> None:
        self.facts_feed.offer(envelope)

    @feed_handler("meetings", "#")
    def on_meetings_event(self, envelope: dict[str, Any]) -> None:
        self.facts_feed.offer(envelope)

    # -- the clock --------------------------------------------------------------------

    @timer(interval=600, eager=True)
    @rpc
    @access(OPERATING)
    def close_periods(self, since: str | None = None) -> int:
        """Close every day that has ended since the last close (and the months and
        quarters whose grace period ends with it); returns how many days were closed.
        On a first run, `since` (or the configured start date) says where to begin."""
        settings = settings_from(self.config)
        today = self._today()
        for source in SOURCES:
            self.facts_feed.sync(source)  # decide on everything the sources have now
        watermarks = {s: self.facts_feed.feed.watermark(s) for s in SOURCES}
        with self.db.transaction() as session:
            last = read_model.last_closed_day(session)
            began = read_model.first_closed_day(session)
        first = date.fromisoformat(since) if since else settings.start_date
        day = last + timedelta(days=1) if last else first or today
        # Periods that began before supervision did are never judged.
        settings = replace(settings, start_date=settings.start_date or began or day)
        closed = 0
        while day < today:
            with self.events.unit_of_work() as store:
                closing.close_day(store, day, watermarks, settings, self.shared.kinds,
                                  self._channels())
            closed += 1
            day += timedelta(days=1)
        return closed

    @timer(interval=15)
    @rpc
    @access(OPERATING)
    def deliver_notifications(self) -> dict[str, int]:
        """Send what is due; failures are retried with backoff and recorded."""
        return outbox.deliver_due(self.db.factory, self.clock.now(), self._channels())

    # -- questions ------------------------------------------------------------------

    @rpc
    @access(REPORTS_OF_UNIT)
    def escalations(self, state: str | None = None, target_unit_id: str | None = None,
                    unit: str | None = None) -> list[dict[str, Any]]:
        """Escalations in a state ("open": any but resolved), of one target committee
        when given, of the cells in the subtree of `unit` today (None: every cell)."""
        with self.db.transaction() as session:
            found = read_model.escalation_list(session, state, target_unit_id)
            if unit:
                inside = scope.within(scope.current_tree(session), unit, self._today())
                found = [e for e in found if inside(e["cell_id"])]
        return found

    @rpc(expected_exceptions=ChiboError)
    @access(REPORTS_OF_UNIT)
    def coverage(self, quarter: str, unit: str | None = None) -> dict[str, Any]:
        """Share of cells visited at least once in the quarter, by committee and by
        follower; of the subtree of `unit` today when given."""
        first, last = quality.quarter_asked(quarter)
        with self.db.transaction() as session:
            tree = replica.load_tree(session, replica.EVERYTHING, self.shared.kinds)
            visited = read_model.visited_cells(session, first, last, replica.EVERYTHING)
            assignments = read_model.follower_assignments(session)
        inside = scope.within(tree, unit, self._today()) if unit else None
        return quality.coverage(quarter, tree, visited, assignments, inside)

    @rpc(expected_exceptions=ChiboError)
    @access(AUTHENTICATED)  # answers the caller's own assignments only
    def followed_cells(self, quarter: str) -> dict[str, Any]:
        """The cells the caller follows in `quarter` (assignments that name them, by
        their name or their account), each with whether it was visited in it: a
        supervisor's own worklist on the dashboard."""
        first, last = quality.quarter_asked(quarter)
        identity = self.caller.identity
        names = {identity.name, identity.account_id}
        with self.db.transaction() as session:
            assignments = read_model.follower_assignments(session)
            visited = read_model.visited_cells(session, first, last, replica.EVERYTHING)
        named = {a.cell_id for a in assignments if a.follower in names
                 and a.from_date <= last and (a.until_date is None or a.until_date >= first)}
        # An assignment names its follower as text: only the cells this account may
        # supervise are theirs, whoever else bears the same name.
        cells = sorted(c for c in named if self.caller.allows(SUPERVISE_CELL, {"cell_id": c}))
        return {"quarter": quarter, "follower": identity.name,
                "cells": [{"cell_id": c, "visited": c in visited} for c in cells]}

    @rpc(expected_exceptions=ChiboError)
    @access(REPORTS_OF_CELL)
    def annual_quality(self, cell_id: str, year: int) -> dict[str, Any]:
        """Whether the cell's year was good (see quality.annual_quality)."""
        year = int(inputs.year(year, required=True))
        with self.db.transaction() as session:
            # By the month each meeting counts for: a make-up in January of last
            # December counts in last year.
            meetings = replica.regular_meetings_for(session, replica.EVERYTHING,
                                                    f"{year}-01", f"{year}-12", cell_id)
            confirmed = read_model.confirmed_levels(session, cell_id)
        return quality.annual_quality(cell_id, year, meetings, confirmed)

    # -- HTTP -----------------------------------------------------------------------

    @http("POST", "/supervision/visits", expected_exceptions=ChiboError)
    # The command's own rule; the pipeline checks it again on the checked body.
    @access(SUPERVISE_CELL)
    def log_visit_http(self, request: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
        return self.commands.respond("log_visit", read_json(request), self.command_deps())

    @http("GET", "/supervision/escalations", expected_exceptions=ChiboError)
    @access(REPORTS_OF_UNIT)
    def escalations_http(self, request: Any) -> list[dict[str, Any]]:
        return self.escalations(request.args.get("state"), request.args.get("target"),
                                request.args.get("unit"))

    @http("GET", "/supervision/coverage", expected_exceptions=ChiboError)
    @access(REPORTS_OF_UNIT)
    def coverage_http(self, request: Any) -> dict[str, Any]:
        return self.coverage(request.args.get("quarter", ""), request.args.get("unit"))

    @http("GET", "/supervision/cells/<cell_id>/quality/<year>",
          expected_exceptions=ChiboError)
    @access(REPORTS_OF_CELL)
    def annual_quality_http(self, request: Any, cell_id: str, year: str) -> dict[str, Any]:
        return self.annual_quality(cell_id, year)
