"""Supervision's own indexes over its log (escalations' current state, visits,
follow-up assignments, closes), written with the events they index."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from services.shared import escalation_rules
from services.supervision.quality import Assignment

metadata = MetaData()

escalations = Table(
    "escalations", metadata,
    Column("escalation_id", String(36), primary_key=True),
    Column("rule", String(40), nullable=False, index=True),
    Column("level", Integer, nullable=False),
    Column("raised_level", Integer, nullable=False),
    Column("target_unit_id", String(100), nullable=False, index=True),
    Column("target_name", String(200), nullable=False),
    Column("subject_id", String(100), nullable=False),
    Column("subject_name", Text, nullable=False),
    Column("cell_id", String(100), nullable=False, index=True),
    Column("period", String(100), nullable=False),
    # In Vietnamese, read from `details` (supervision's API and e-mails speak it).
    Column("reason", Text, nullable=False),
    #: The escalation's structured facts as JSON (see escalation_rules).
    Column("details", Text, nullable=True),
    Column("state", String(20), nullable=False, index=True),
    Column("raised_on", Date, nullable=False),
    Column("level_since", Date, nullable=False),
    Column("acknowledged_by", String(200), nullable=True),
    Column("resolved_how", String(300), nullable=True),
)

visits = Table(
    "visits_index", metadata,
    Column("visit_id", String(100), primary_key=True),
    Column("cell_id", String(100), nullable=False, index=True),
    Column("visitor", String(200), nullable=False),
    Column("visited_on", Date, nullable=False, index=True),
    Column("meeting_id", String(100), nullable=False),
    Column("confirmed_level", String(20), nullable=True),
    Column("position", BigInteger, nullable=False),
)

followers = Table(
    "followers", metadata,
    Column("assignment_id", String(100), primary_key=True),
    Column("follower", String(200), nullable=False, index=True),
    Column("cell_id", String(100), primary_key=True),
    Column("from_date", Date, nullable=False),
    Column("until_date", Date, nullable=True),
)

closes = Table(
    "closes", metadata,
    Column("period", String(20), primary_key=True),
    Column("kind", String(10), nullable=False),
    Column("closed_on", Date, nullable=False),
    Column("position", BigInteger, nullable=False),
)


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


_RAISED_FIELDS = ("escalation_id", "rule", "level", "target_unit_id", "target_name",
                  "subject_id", "subject_name", "cell_id", "period")


def _raised_row(d: dict[str, Any]) -> dict[str, Any]:
    details = dict(d.get("details") or {})
    return {**{k: d[k] for k in _RAISED_FIELDS}, "raised_level": d["level"], "state": "raised",
            "reason": escalation_rules.reason({**d, "details": details}, "vi"),
            "details": json.dumps(details, ensure_ascii=False, sort_keys=True, default=str),
            "raised_on": _day(d["raised_on"]), "level_since": _day(d["raised_on"])}


def index(session: Session, recorded: Iterable[Any]) -> None:
    recorded = list(recorded)
    # A quarter's close raises thousands at once: one statement for all of them.
    raised = [e.data for e in recorded if e.type == "escalation_raised"]
    if raised:
        session.execute(insert(escalations), [_raised_row(d) for d in raised])
    for event in recorded:
        d, kind = event.data, event.type
        if kind == "escalation_acknowledged":
            _set(session, d["escalation_id"], state="acknowledged", acknowledged_by=d["by"])
        elif kind == "escalation_reescalated":
            _set(session, d["escalation_id"], level=d["level"],
                 target_unit_id=d["target_unit_id"], target_name=d["target_name"],
                 level_since=_day(d["on"]))
        elif kind == "escalation_resolved":
            _set(session, d["escalation_id"], state="resolved", resolved_how=d["how"])
        elif kind == "visit_logged":
            session.execute(insert(visits).values(
                visit_id=d["visit_id"], cell_id=d["cell_id"], visitor=d["visitor"],
                visited_on=_day(d["visited_on"]), meeting_id=d["meeting_id"],
                confirmed_level=d.get("confirmed_level"), position=event.position))
        elif kind == "follower_assigned":
            session.execute(insert(followers), [
                {"assignment_id": d["assignment_id"], "follower": d["follower"],
                 "cell_id": cell_id, "from_date": _day(d["from_date"]),
                 "until_date": _day(d["until_date"]) if d.get("until_date") else None}
                for cell_id in d["cell_ids"]])
        elif kind == "period_closed":
            session.execute(insert(closes).values(
                period=d["period"], kind=d["kind"], closed_on=_day(d["closed_on"]),
                position=event.position))


def _set(session: Session, escalation_id: str, **values: Any) -> None:
    session.execute(update(escalations).where(escalations.c.escalation_id == escalation_id)
                    .values(**values))


def known_ids(session: Session, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    found: set[str] = set()
    for start in range(0, len(ids), 1000):
        found |= set(session.execute(select(escalations.c.escalation_id).where(
            escalations.c.escalation_id.in_(ids[start:start + 1000]))).scalars())
    return found


def escalation_view(row: Any) -> dict[str, Any]:
    """An escalation's row as JSON-ready data: dates as ISO text, `details` as a dict."""
    out = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in row._mapping.items()}
    out["details"] = json.loads(out["details"]) if out.get("details") else {}
    return out


def unresolved(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(select(escalations).where(escalations.c.state != "resolved")
                           .order_by(escalations.c.raised_on, escalations.c.escalation_id))
    return [dict(r._mapping) for r in rows]


def visited_cells(session: Session, first: date, last: date, before_position: int
                  ) -> set[str]:
    return set(session.execute(select(visits.c.cell_id).where(
        visits.c.visited_on >= first, visits.c.visited_on <= last,
        visits.c.position < before_position)).scalars())


def last_closed_day(session: Session) -> date | None:
    rows = session.execute(select(closes.c.closed_on).where(closes.c.kind == "day")
                           .order_by(closes.c.closed_on.desc()).limit(1)).scalars().all()
    return rows[0] if rows else None


def first_closed_day(session: Session) -> date | None:
    rows = session.execute(select(closes.c.closed_on).where(closes.c.kind == "day")
                           .order_by(closes.c.closed_on).limit(1)).scalars().all()
    return rows[0] if rows else None


def escalation_list(session: Session, state: str | None = None,
                    target_unit_id: str | None = None) -> list[dict[str, Any]]:
    """Escalations, highest level first then oldest first: in a state ("open": any but
    resolved; None: all), of one target committee when given."""
    query = select(escalations).order_by(escalations.c.level.desc(), escalations.c.raised_on)
    if state == "open":
        query = query.where(escalations.c.state != "resolved")
    elif state:
        query = query.where(escalations.c.state == state)
    if target_unit_id:
        query = query.where(escalations.c.target_unit_id == target_unit_id)
    return [escalation_view(r) for r in session.execute(query)]


def escalation_views(session: Session, ids: list[str]) -> list[dict[str, Any]]:
    """The named escalations as `escalation_view`s (ids unknown are left out)."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(ids), 1000):
        rows = session.execute(select(escalations).where(
            escalations.c.escalation_id.in_(ids[start:start + 1000])))
        found += [escalation_view(row) for row in rows]
    return found


def follower_assignments(session: Session) -> list[Assignment]:
    """Every cell every follower was assigned."""
    rows = session.execute(select(followers.c.follower, followers.c.cell_id,
                                  followers.c.from_date, followers.c.until_date))
    return [Assignment._make(row) for row in rows]


def confirmed_levels(session: Session, cell_id: str) -> dict[str, str]:
    """The level a visitor confirmed or set, by meeting id, for the cell's visited meetings."""
    rows = session.execute(select(visits.c.meeting_id, visits.c.confirmed_level)
                           .where(visits.c.cell_id == cell_id))
    return {meeting_id: level for meeting_id, level in rows if level}
