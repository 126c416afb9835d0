"""The supervision service: entrypoints only; rules live in rules.py, closing.py
and domain.py."""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from nameko.dependency_providers import Config
from nameko.events import event_handler
from nameko.exceptions import RemoteError
from nameko.rpc import RpcProxy, rpc
from nameko.timer import timer
from sqlalchemy import select

from chibo import inputs
from chibo.contracts import Command, load_command
from chibo.errors import ChiboError, ValidationFailed
from chibo.eventstore.store import EventStore, StreamAppend
from chibo.nameko.providers import (
    ClockProvider,
    Database,
    EventSource,
    EventSourcing,
    Feed,
    OutboxRelay,
)
from chibo.nameko.web import command_answer, http, read_json, run_command
from services.shared.events.meetings import catalogue as meetings_catalogue
from services.shared.events.members import catalogue as members_catalogue
from services.shared.events.supervision import catalogue
from services.shared.score_sheet import sheet_for
from services.supervision import api, closing, commands, domain, notify, read_model, replica
from services.supervision.api import COMMANDS
from services.supervision.rules import Settings, climbing_from, quarter_bounds

SOURCES = ("members", "meetings")
_feed_catalogue = members_catalogue.__class__()
_feed_catalogue.include(members_catalogue)
_feed_catalogue.include(meetings_catalogue)


@functools.lru_cache(maxsize=4)
def _channels_config(path: str | None) -> dict[str, Any]:
    """Channels per committee, read once per process (a restart picks up changes)."""
    return notify.load_channels_config(path)


def settings_from(config: dict[str, Any]) -> Settings:
    raw = dict(config.get("SUPERVISION") or {})
    start = raw.pop("start_date", None)
    climbing = climbing_from(raw.pop("rules", None))
    numbers = {k: int(v) for k, v in raw.items()
               if k in Settings.__annotations__ and k != "climbing"}
    return Settings(**numbers, climbing=climbing,
                    start_date=date.fromisoformat(str(start)) if start else None)


class SupervisionService(EventSource):
    name = "supervision"

    db = Database(replica.metadata, read_model.metadata, notify.metadata)
    events = EventSourcing(catalogue)
    clock = ClockProvider()
    relay = OutboxRelay()
    facts_feed = Feed(SOURCES, replica.apply, _feed_catalogue)
    meetings = RpcProxy("meetings")
    config = Config()

    @event_handler("members", "#")
    def on_members_event(self, envelope: dict[str, Any]) -> None:
        self.facts_feed.offer(envelope)

    @event_handler("meetings", "#")
    def on_meetings_event(self, envelope: dict[str, Any]) -> None:
        self.facts_feed.offer(envelope)

    def _today(self) -> date:
        return self.clock.now().date()

    def _append(self, store: EventStore, appends: list[StreamAppend]) -> list[Any]:
        recorded = store.append_many(appends)
        read_model.index(store.session, recorded)
        return recorded

    def _on_stream(self, stream: str, command: Command, rule: Any, answer: str
                   ) -> dict[str, Any]:
        """Decide on one stream and append, in one transaction; the answer names
        `command[answer]` and the events. A command id sent again answers what this
        command answered the first time."""
        def work(store: EventStore) -> dict[str, Any]:
            history = store.read_stream(stream)
            recorded = self._append(store, [StreamAppend(stream, len(history),
                                                         rule(history, command))])
            return {answer: command[answer], "events": [e.event_id for e in recorded]}
        return self.events.run(command, work)

    # -- commands -------------------------------------------------------------------

    @rpc(expected_exceptions=ChiboError)
    def log_visit(self, payload: dict[str, Any]) -> dict[str, Any]:
        command = load_command(commands.LogVisit(), payload)
        try:
            meeting = self.meetings.get_meeting(command["meeting_id"])
        except RemoteError as exc:
            if exc.exc_type != "NotFound":
                raise
            meeting = None
        sheet = sheet_for(command["visited_on"]) if command.get("changed_scores") else None
        return self._on_stream(domain.visit_stream(command["visit_id"]), command,
                               lambda h, c: domain.log_visit(h, c, meeting, sheet), "visit_id")

    @rpc(expected_exceptions=ChiboError)
    def assign_follower(self, payload: dict[str, Any]) -> dict[str, Any]:
        command = load_command(commands.AssignFollower(), payload)
        self.facts_feed.sync("members")
        with self.db.transaction() as session:
            tree = replica.load_tree(session, replica.EVERYTHING)
        unknown = [c for c in command["cell_ids"] if not tree.exists(c)
                   or not tree.kinds[tree.latest(c).kind].meets]
        return self._on_stream(f"follow-{command['assignment_id']}", command,
                               lambda h, c: domain.assign_follower(h, c, unknown),
                               "assignment_id")

    @rpc(expected_exceptions=ChiboError)
    def acknowledge_escalation(self, payload: dict[str, Any]) -> dict[str, Any]:
        command = load_command(commands.AcknowledgeEscalation(), payload)
        today = self._today()
        return self._on_stream(closing.escalation_stream(command["escalation_id"]), command,
                               lambda h, c: domain.acknowledge(h, c, today), "escalation_id")

    @rpc(expected_exceptions=ChiboError)
    def resolve_escalation(self, payload: dict[str, Any]) -> dict[str, Any]:
        command = load_command(commands.ResolveEscalation(), payload)
        today = self._today()
        return self._on_stream(closing.escalation_stream(command["escalation_id"]), command,
                               lambda h, c: domain.resolve(h, c, today), "escalation_id")

    # -- the clock --------------------------------------------------------------------

    @timer(interval=600, eager=True)
    @rpc
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
                marks = self._append(store, closing.close_events(day, watermarks, settings))
                decided = self._append(store, closing.decide(store.session, day, watermarks,
                                                             marks[0].position, settings))
                self._notify(store.session, decided)
            closed += 1
            day += timedelta(days=1)
        return closed

    def _notify(self, session: Any, decided: list[Any]) -> None:
        """Queue notifications in the transaction that records the escalations, so
        none is without its notifications and none is notified twice."""
        channels = self._channels()
        wanted = [e.data["escalation_id"] for e in decided
                  if e.type in ("escalation_raised", "escalation_reescalated")
                  and notify.channels_for(channels, e.data["target_unit_id"])]
        for start in range(0, len(wanted), 1000):
            rows = session.execute(select(read_model.escalations).where(
                read_model.escalations.c.escalation_id.in_(wanted[start:start + 1000])))
            for row in rows:
                escalation = read_model.escalation_view(row)
                notify.enqueue(session, escalation,
                               notify.channels_for(channels, escalation["target_unit_id"]))

    def _channels(self) -> dict[str, Any]:
        return _channels_config(self.config.get("NOTIFICATION_CHANNELS"))

    @timer(interval=15)
    @rpc
    def deliver_notifications(self) -> dict[str, int]:
        """Send what is due; failures are retried with backoff and recorded."""
        return notify.deliver_due(self.db.factory, self.clock.now(), self._channels())

    # -- questions ------------------------------------------------------------------

    @rpc
    def escalations(self, state: str | None = None, target_unit_id: str | None = None
                    ) -> list[dict[str, Any]]:
        with self.db.transaction() as session:
            query = select(read_model.escalations).order_by(read_model.escalations.c.level.desc(),
                                                      read_model.escalations.c.raised_on)
            if state == "open":
                query = query.where(read_model.escalations.c.state != "resolved")
            elif state:
                query = query.where(read_model.escalations.c.state == state)
            if target_unit_id:
                query = query.where(read_model.escalations.c.target_unit_id == target_unit_id)
            return [read_model.escalation_view(r) for r in session.execute(query)]

    @rpc(expected_exceptions=ChiboError)
    def coverage(self, quarter: str) -> dict[str, Any]:
        """Share of cells visited at least once in the quarter, by committee and by follower."""
        try:
            first, last = quarter_bounds(quarter)
        except (ValueError, IndexError):
            raise ValidationFailed({"quarter": ["Expected a quarter as YYYY-Qn."]}) from None
        with self.db.transaction() as session:
            tree = replica.load_tree(session, replica.EVERYTHING)
            visited = read_model.visited_cells(session, first, last, 2**62)
            assignments = session.execute(select(read_model.followers)).all()
        by_committee = []
        for unit in sorted(tree.as_of(last).values(), key=lambda v: v.name):
            if tree.kinds[unit.kind].meets:
                continue
            cells = tree.cells_covered(unit.unit_id, last)
            if cells:
                seen = sum(1 for c in cells if c in visited)
                by_committee.append({"unit_id": unit.unit_id, "name": unit.name,
                                     "cells": len(cells), "visited": seen,
                                     "share": round(seen / len(cells), 4)})
        followed: dict[str, set[str]] = {}
        for row in assignments:
            if row.from_date <= last and (row.until_date is None or row.until_date >= first):
                followed.setdefault(row.follower, set()).add(row.cell_id)
        by_follower = [{"follower": name, "cells": len(cells),
                        "visited": sum(1 for c in cells if c in visited),
                        "share": round(sum(1 for c in cells if c in visited) / len(cells), 4)}
                       for name, cells in sorted(followed.items())]
        return {"quarter": quarter, "by_committee": by_committee, "by_follower": by_follower}

    @rpc(expected_exceptions=ChiboError)
    def annual_quality(self, cell_id: str, year: int) -> dict[str, Any]:
        """A cell's year is good when every regular meeting was fair or better and at
        least 7 were good (a visitor's confirmed level counts over the cell's own)."""
        year = inputs.year(year, required=True)
        with self.db.transaction() as session:
            # By the month each meeting counts for: a make-up in January of last
            # December counts in last year.
            meetings = replica.regular_meetings_for(session, replica.EVERYTHING,
                                                  f"{int(year)}-01", f"{int(year)}-12",
                                                  cell_id)
            confirmed = {r.meeting_id: r.confirmed_level for r in session.execute(
                select(read_model.visits).where(read_model.visits.c.cell_id == cell_id)) if
                r.confirmed_level}
        levels = [confirmed.get(m.meeting_id) or m.level for m in meetings]
        good = sum(1 for lv in levels if lv == "good")
        fair_or_better = all(lv in ("good", "fair") for lv in levels) and bool(levels)
        return {"cell_id": cell_id, "year": int(year), "regular_meetings": len(levels),
                "good": good, "unscored": sum(1 for lv in levels if lv is None),
                "good_year": fair_or_better and good >= 7}

    # -- HTTP -----------------------------------------------------------------------

    @http("POST", "/supervision/commands/<name>", expected_exceptions=ChiboError)
    def command_http(self, request: Any, name: str) -> tuple[int, dict[str, str], Any]:
        return run_command(self, COMMANDS, name, request)

    @http("GET", "/supervision/openapi.json")
    def openapi_http(self, request: Any) -> dict[str, Any]:
        return api.openapi()

    @http("POST", "/supervision/visits", expected_exceptions=ChiboError)
    def log_visit_http(self, request: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
        return command_answer(self, 201, self.log_visit(read_json(request)))

    @http("GET", "/supervision/escalations", expected_exceptions=ChiboError)
    def escalations_http(self, request: Any) -> list[dict[str, Any]]:
        return self.escalations(request.args.get("state"), request.args.get("target"))

    @http("GET", "/supervision/coverage", expected_exceptions=ChiboError)
    def coverage_http(self, request: Any) -> dict[str, Any]:
        return self.coverage(request.args.get("quarter", ""))

    @http("GET", "/supervision/cells/<cell_id>/quality/<year>",
          expected_exceptions=ChiboError)
    def annual_quality_http(self, request: Any, cell_id: str, year: str) -> dict[str, Any]:
        return self.annual_quality(cell_id, year)
