"""Replay supervision's decisions from empty: the sources' logs and supervision's
own log (its period closes and people's actions) in; the system's decisions out,
in order. Equal to what the live service decided, or the rules are not replayable."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from types import SimpleNamespace
from typing import Any

from chibo.db import create_schema, make_engine, session_factory
from chibo.eventstore.feed import Fetch, OrderedFeed
from services.shared.tree import UnitKinds
from services.supervision import closing, read_model, replica
from services.supervision.rules import Settings

#: Decisions the service takes by itself; everything else in its log is an input.
SYSTEM_DECISIONS = ("escalation_raised", "escalation_reescalated", "escalation_resolved")


def is_system_decision(event_type: str, data: dict[str, Any]) -> bool:
    if event_type == "escalation_resolved":
        return data.get("by") is None
    return event_type in SYSTEM_DECISIONS


def normalised(event_type: str, data: dict[str, Any]) -> tuple[str, str]:
    """A comparable form of a decision (dates as ISO text, keys sorted)."""
    return event_type, json.dumps(data, sort_keys=True, default=lambda v: v.isoformat())


def replay(fetch: Fetch, own_log: Iterable[Any], settings: Settings,
           catalogue: Any, kinds: UnitKinds | None = None) -> list[tuple[str, str]]:
    """The system's decisions re-derived from the logs, with the unit kinds the live
    service was configured with (`kinds`; the packaged ones when None)."""
    engine = make_engine("sqlite://")
    create_schema(engine, replica.metadata, read_model.metadata)
    factory = session_factory(engine)
    feed = OrderedFeed("supervision-replay", ["members", "meetings"], factory, catalogue,
                       replica.apply, fetch, batch_size=2000,
                       project_run=replica.apply_run)
    for source in feed.sources:
        feed.catch_up(source)

    from services.shared.events.supervision import catalogue as own

    own_log = list(own_log)
    if settings.start_date is None:  # as the service does: judged from its first close
        first = next((e for e in own_log if e.type == "period_closed"), None)
        if first is not None:
            settings = replace(settings, start_date=date.fromisoformat(
                str(first.data["closed_on"])))
    decisions: list[tuple[str, str]] = []
    with factory() as session, session.begin():
        for event in own_log:
            if is_system_decision(event.type, event.data):
                continue  # re-derived below, from the closes
            read_model.index(session, [event])
            if event.type == "period_closed" and event.data["kind"] == "day":
                day = date.fromisoformat(str(event.data["closed_on"]))
                appends = closing.decide(session, day, event.data["watermarks"],
                                         event.position, settings, kinds)
                derived = [SimpleNamespace(type=e.type, data=e.data, position=event.position)
                           for a in appends for e in a.events]
                read_model.index(session, derived)
                decisions += [normalised(e.type, own.validate(e.type, e.data))
                              for e in derived]
    engine.dispose()
    return decisions
