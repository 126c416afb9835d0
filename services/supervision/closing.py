"""Closing periods: what the clock decides, one day at a time.

Closing a day records `period_closed` with the source watermarks, then takes
every time-driven decision on facts at or below them: escalations cleared
(resolved), unacknowledged ones moved up, overdue tasks raised, and — when the
day is the last of a month or quarter plus the grace period — that period's
rules. The live service (`close_day`) and `replay` both call `decide`, so the same
closes over the same logs give the same escalations.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from chibo.eventstore.store import EventStore, NewEvent, RecordedEvent, StreamAppend
from services.shared.tree import UnitKinds
from services.supervision import read_model, replica, rules
from services.supervision.domain import escalation_stream
from services.supervision.notify import outbox
from services.supervision.notify.channels import channels_for
from services.supervision.rules import Settings, month_bounds, month_of, quarter_bounds

ANY = None
#: Decisions that tell a committee something it must act on.
NOTIFIED = ("escalation_raised", "escalation_reescalated")


def periods_closing_on(day: date, settings: Settings) -> list[tuple[str, str]]:
    """(kind, period) closed on `day`: the day itself, and a month or quarter whose
    grace period ends then."""
    out = [("day", day.isoformat())]
    ended = day - timedelta(days=settings.grace_days)
    started = settings.start_date or date.min
    if month_bounds(month_of(ended))[1] == ended:
        if month_bounds(month_of(ended))[0] >= started:
            out.append(("month", month_of(ended)))
        quarter = f"{ended.year}-Q{(ended.month + 2) // 3}"
        if ended.month % 3 == 0 and quarter_bounds(quarter)[0] >= started:
            out.append(("quarter", quarter))
    return out


def close_events(day: date, watermarks: dict[str, int], settings: Settings
                 ) -> list[StreamAppend]:
    return [StreamAppend("periods", ANY, [NewEvent("period_closed", {
        "period": period, "kind": kind, "closed_on": day, "watermarks": watermarks})
        for kind, period in periods_closing_on(day, settings)])]


def decide(session: Session, day: date, watermarks: dict[str, int], close_position: int,
           settings: Settings, kinds: UnitKinds | None = None) -> list[StreamAppend]:
    """Every decision of the close of `day`, on facts as they stood at `watermarks`
    and visits recorded before the close (`close_position`): the facts the close
    needs are loaded first (the tree of `kinds`, the service's configured unit kinds),
    then the rules decide on them."""
    open_now = read_model.unresolved(session)
    periods = periods_closing_on(day, settings)[1:]
    known_facts = replica.for_close(session, watermarks, close_position,
                                  rules.needs(periods, open_now, settings), kinds)
    appends: list[StreamAppend] = []

    def emit(escalation_id: str, event: NewEvent) -> None:
        appends.append(StreamAppend(escalation_stream(escalation_id), ANY, [event]))

    for resolved in rules.resolutions(open_now, known_facts, day):
        emit(resolved["escalation_id"], NewEvent("escalation_resolved", resolved))
    resolved_streams = {a.stream_id for a in appends}
    for move in rules.reescalations(
            [e for e in open_now
             if escalation_stream(e["escalation_id"]) not in resolved_streams],
            known_facts, day, settings):
        emit(move["escalation_id"], NewEvent("escalation_reescalated", move))

    candidates = rules.day_rules(known_facts, day, settings)
    for kind, period in periods:
        if kind == "month":
            candidates += rules.month_rules(known_facts, period, day, settings)
        else:
            candidates += rules.quarter_rules(known_facts, period, day)
    known = read_model.known_ids(session, [c["escalation_id"] for c in candidates])
    for candidate in candidates:
        if candidate["escalation_id"] in known:
            continue  # raising is idempotent per (rule, subject, period)
        known.add(candidate["escalation_id"])
        appends.append(StreamAppend(escalation_stream(candidate["escalation_id"]), 0, [
            NewEvent("escalation_raised", {**candidate, "closed_period": day.isoformat()})]))
    return appends


def close_day(store: EventStore, day: date, watermarks: dict[str, int], settings: Settings,
              kinds: UnitKinds | None, channels: dict[str, Any]) -> list[RecordedEvent]:
    """Close `day` in the store's transaction: record the close, append (and index)
    every decision it takes, and queue their notifications on `channels`; the
    decisions as recorded."""
    marks = _append_indexed(store, close_events(day, watermarks, settings))
    decided = _append_indexed(store, decide(store.session, day, watermarks,
                                            marks[0].position, settings, kinds))
    queue_notifications(store.session, decided, channels)
    return decided


def queue_notifications(session: Session, decided: Sequence[RecordedEvent],
                        channels: dict[str, Any]) -> None:
    """Queue the notifications of escalations raised or moved up, in the transaction
    that records them, so none is without its notifications and none is notified twice."""
    wanted = [e.data["escalation_id"] for e in decided
              if e.type in NOTIFIED and channels_for(channels, e.data["target_unit_id"])]
    for escalation in read_model.escalation_views(session, wanted):
        outbox.enqueue(session, escalation, channels_for(channels, escalation["target_unit_id"]))


def _append_indexed(store: EventStore, appends: list[StreamAppend]) -> list[RecordedEvent]:
    recorded = store.append_many(appends)
    read_model.index(store.session, recorded)
    return recorded
