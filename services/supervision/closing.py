"""Closing periods: what the clock decides, one day at a time.

Closing a day records `period_closed` with the source watermarks, then takes
every time-driven decision on facts at or below them: escalations cleared
(resolved), unacknowledged ones moved up, overdue tasks raised, and — when the
day is the last of a month or quarter plus the grace period — that period's
rules. The live service and `replay` both call `decide`, so the same closes over
the same logs give the same escalations.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.orm import Session

from chibo.eventstore.store import NewEvent, StreamAppend
from services.supervision import read_model, replica, rules
from services.supervision.rules import Settings, month_bounds, month_of, quarter_bounds

ANY = None


def escalation_stream(escalation_id: str) -> str:
    return f"escalation-{escalation_id}"


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
           settings: Settings) -> list[StreamAppend]:
    """Every decision of the close of `day`, on facts as they stood at `watermarks`
    and visits recorded before the close (`close_position`): the facts the close
    needs are loaded first, then the rules decide on them."""
    open_now = read_model.unresolved(session)
    periods = periods_closing_on(day, settings)[1:]
    known_facts = replica.for_close(session, watermarks, close_position,
                                  rules.needs(periods, open_now, settings))
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
