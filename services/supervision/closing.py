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
from typing import Any

from sqlalchemy.orm import Session

from chibo.eventstore.store import NewEvent, StreamAppend
from services.supervision import book, rules
from services.supervision.escalation_rules import Resolution, Rule
from services.supervision.facts import Facts
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
    and visits recorded before the close (`close_position`)."""
    facts = Facts(session, watermarks)
    open_now = book.unresolved(session)
    appends: list[StreamAppend] = []

    def emit(escalation_id: str, event: NewEvent) -> None:
        appends.append(StreamAppend(escalation_stream(escalation_id), ANY, [event]))

    evidence = _Evidence(session, facts, close_position)
    for esc in open_now:
        cleared = evidence.cleared(esc)
        if cleared is not None:
            emit(esc["escalation_id"], NewEvent("escalation_resolved", {
                "escalation_id": esc["escalation_id"], "how": cleared[0], "by": None,
                "on": day, "evidence": cleared[1]}))
    resolved = {a.stream_id for a in appends}
    for move in rules.reescalations(
            [e for e in open_now if escalation_stream(e["escalation_id"]) not in resolved],
            facts, day, settings):
        emit(move["escalation_id"], NewEvent("escalation_reescalated", move))

    candidates = rules.day_rules(facts, day, settings)
    for kind, period in periods_closing_on(day, settings)[1:]:
        if kind == "month":
            candidates += rules.month_rules(facts, period, day, settings)
        else:
            first, last = quarter_bounds(period)
            candidates += rules.quarter_rules(
                facts, period, day, book.visited_cells(session, first, last, close_position))
    known = book.known_ids(session, [c["escalation_id"] for c in candidates])
    for candidate in candidates:
        if candidate["escalation_id"] in known:
            continue  # raising is idempotent per (rule, subject, period)
        known.add(candidate["escalation_id"])
        appends.append(StreamAppend(escalation_stream(candidate["escalation_id"]), 0, [
            NewEvent("escalation_raised", {**candidate, "closed_period": day.isoformat()})]))
    return appends


class _Evidence:
    """What has put escalations right, read once per period rather than once per
    escalation: a close may review thousands."""

    def __init__(self, session: Session, facts: Facts, close_position: int) -> None:
        self.session, self.facts, self.close_position = session, facts, close_position
        self._meetings: dict[tuple[date, date], dict[tuple[str, str], str]] = {}
        self._regular: dict[str, dict[str, tuple[Resolution, str]]] = {}
        self._visited: dict[tuple[date, date], set[str]] = {}
        self._open_tasks: set[str] | None = None

    def _meeting(self, bounds: tuple[date, date], cell: str, kinds: tuple[str, ...]
                 ) -> str | None:
        if bounds not in self._meetings:
            found: dict[tuple[str, str], str] = {}
            for m in self.facts.meetings_between(*bounds):
                found.setdefault((m.cell_id, m.kind), m.event_id)
            self._meetings[bounds] = found
        return next((self._meetings[bounds][(cell, k)] for k in kinds
                     if (cell, k) in self._meetings[bounds]), None)

    def _regular_meeting(self, month: str, cell: str) -> tuple[Resolution, str] | None:
        """The meeting that now counts for the cell's month, and how: one dated in the
        month (recorded late) before a make-up meeting of it."""
        if month not in self._regular:
            found: dict[str, tuple[Resolution, str]] = {}
            for m in self.facts.regular_meetings_for(month, month):
                how = Resolution.MADE_UP if m.made_up else Resolution.MEETING_RECORDED_LATE
                current = found.get(m.cell_id)
                if current is None or (current[0] is Resolution.MADE_UP
                                       and how is not Resolution.MADE_UP):
                    found[m.cell_id] = (how, m.event_id)
            self._regular[month] = found
        return self._regular[month].get(cell)

    def cleared(self, esc: dict[str, Any]) -> tuple[str, list[str]] | None:
        """Whether what an escalation is about has since been put right, and by what."""
        rule, period, cell = esc["rule"], esc["period"], esc["cell_id"]
        if rule == Rule.MISSED_REGULAR_MEETING:
            held = self._regular_meeting(period, cell)
            return (held[0].value, [held[1]]) if held else None
        if rule == Rule.NO_THEMATIC_MEETING:
            late = self._meeting(quarter_bounds(period), cell, ("thematic", "combined"))
            return (Resolution.THEMATIC_MEETING_RECORDED.value, [late]) if late else None
        if rule == Rule.NOT_VISITED:
            bounds = quarter_bounds(period)
            if bounds not in self._visited:
                self._visited[bounds] = book.visited_cells(self.session, *bounds,
                                                           self.close_position)
            return (Resolution.VISIT_RECORDED.value, []) if cell in self._visited[bounds] \
                else None
        if rule == Rule.TASK_OVERDUE:
            if self._open_tasks is None:
                self._open_tasks = {t.task_id for t in self.facts.open_tasks_due_by(date.max)}
            return (Resolution.TASK_CLOSED.value, []) \
                if esc["subject_id"] not in self._open_tasks else None
        return None
